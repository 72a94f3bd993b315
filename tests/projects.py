"""Projects the tests run: the project over every real file of ``tests/data/real``.

``tests/data/real_project/jobforge.toml`` declares a table per real file (renames,
casts, rules, de-duplication) and four gold tables (joins and aggregates). A
test copies it with the real files into a temporary folder and runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import REAL_DATA

REAL_PROJECT = Path(__file__).resolve().parent / "data" / "real_project" / "jobforge.toml"
REAL_SOURCE_TABLES = (
    "noc_structure",
    "employment",
    "main_duties",
    "skills",
    "abilities",
    "noc_onet",
    "og_subgroups",
    "collective_agreements",
    "caf_job_families",
)
REAL_GOLD_TABLES = ("unit_groups", "duties_per_group", "agreements_by_group", "outlook")


def real_project(tmp_path: Path, name: str = "project") -> Path:
    """A copy of the real project in ``tmp_path/name`` (sources in ``sources/``)."""
    project = tmp_path / name
    (project / "sources").mkdir(parents=True)
    shutil.copyfile(REAL_PROJECT, project / "jobforge.toml")
    for path in REAL_DATA.iterdir():
        if path.suffix in (".csv", ".json"):
            shutil.copyfile(path, project / "sources" / path.name)
    return project


def data_files(root: Path) -> dict[Path, bytes]:
    """Every file of a data root with its bytes, lock files aside (a listing to
    compare before and after a run)."""
    return {
        p.relative_to(root): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".locks" not in p.relative_to(root).parts
    }
