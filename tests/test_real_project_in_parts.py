"""The real project (tests/data/real_project) whose bronze, silver and gold
versions are each two part files, on both bundled stores: everything that reads
a version reads every part. The executor is the polars one with its outputs cut
in two (tests/test_version_parts.py), run in this process; the readers are the
real ``jobforge`` command: query views (row counts per layer), ``jobforge
evidence`` and the pack's own ``reproduce.py``, ``jobforge lineage --where``
from a gold row back to its source file and row, catalog profiles (row counts
from the footers of every part). The oracle is the same project run by the
plain polars executor (one file per batch) and the source files themselves."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jobforge.pipeline.config import PipelineConfig
from jobforge.project.loader import load_project
from jobforge.project.runner import plugin_settings, run_project

from .cli_helpers import jobforge
from .conftest import REAL_DATA
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, real_project
from .test_version_parts import Gives

TABLES = [
    *(("bronze", t) for t in REAL_SOURCE_TABLES),
    *(("silver", t) for t in REAL_SOURCE_TABLES),
    *(("gold", t) for t in REAL_GOLD_TABLES),
]
WHERE = "noc_code = '21211'"


def _project(base: Path, name: str, storage_format: str) -> Path:
    project = real_project(base, name)
    if storage_format == "delta":
        toml = project / "jobforge.toml"
        text = toml.read_text(encoding="utf-8")
        toml.write_text(
            text.replace("[project]\n", '[storage]\nformat = "delta"\n\n[project]\n', 1)
        )
    return project


def _run_in_parts(project: Path, storage_format: str) -> PipelineConfig:
    loaded = load_project(project / "jobforge.toml")
    config = PipelineConfig(
        project / "data",
        entry_points=False,
        plugins=[Gives()],
        executor="in-parts",
        storage_format=storage_format,
        plugin_settings=plugin_settings(loaded),
    )
    report = run_project(loaded, config=config)
    assert {s.status for s in report.steps} <= {"success", "partial"}, report.steps
    return config


def _count(project: Path, layer: str, table: str) -> int:
    sql = f"SELECT count(*) AS n FROM {layer}.{table}"
    result = jobforge("query", "--format", "json", sql, cwd=project)
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    return int(row["n"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], int]:
    """Rows per layer table of the project run by the plain polars executor."""
    project = _project(tmp_path_factory.mktemp("reference"), "reference", "parquet")
    result = jobforge("run", "--quiet", cwd=project, timeout=600)
    assert result.code == 0, result.err
    return {(layer, t): _count(project, layer, t) for layer, t in TABLES}


@pytest.fixture(scope="module", params=["parquet", "delta"])
def in_parts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage_format = str(request.param)
    project = _project(tmp_path_factory.mktemp(f"parts-{storage_format}"), "p", storage_format)
    config = _run_in_parts(project, storage_format)
    for layer, table in TABLES:
        current = config.store.current(layer, table)
        assert current is not None, (layer, table)
        assert all(len(b.parts) == 2 for b in current.batches), (layer, table)
    return project


def test_query_views_count_every_part(
    in_parts: Path, reference: dict[tuple[str, str], int]
) -> None:
    counts = {(layer, t): _count(in_parts, layer, t) for layer, t in TABLES}
    assert counts == reference
    assert counts[("gold", "outlook")] == 485
    assert min(counts.values()) > 0


def test_catalog_profiles_count_the_rows_of_every_part(
    in_parts: Path, reference: dict[tuple[str, str], int]
) -> None:
    for layer, table in TABLES:
        result = jobforge("catalog", "show", table, "--layer", layer, "--json", cwd=in_parts)
        assert result.code == 0, result.err
        assert json.loads(result.out)["row_count"] == reference[(layer, table)], (layer, table)


def _source_row(name: str, column: str, value: str) -> tuple[int, dict[str, str]]:
    """The 1-based data row of the real source file ``name`` whose ``column`` is
    ``value``, and the record, read with Python's csv module."""
    with (REAL_DATA / name).open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=1):
            if record[column] == value:
                return number, record
    raise AssertionError(f"{value} not in {name}")


def test_lineage_traces_a_gold_row_to_its_source_rows(in_parts: Path) -> None:
    result = jobforge("lineage", "outlook", "--where", WHERE, "--json", cwd=in_parts)
    assert result.code == 0, result.err
    (traced,) = json.loads(result.out)
    origins = {Path(o["source_file"]).name: o for o in traced["origins"]}
    employment, employment_record = _source_row(
        "employment_emploi_2024_2033_noc2021.csv", "Code", "21211"
    )
    structure, _ = _source_row("noc_structure_en.csv", "Code - NOC 2021 V1.0", "21211")
    found = origins["employment_emploi_2024_2033_noc2021.csv"]
    assert found["source_row"] == employment
    assert found["raw"]["2033"] == employment_record["2033"] == "42700"
    assert origins["noc_structure_en.csv"]["source_row"] == structure


def test_an_evidence_pack_over_parts_reproduces(in_parts: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack.zip"
    result = jobforge("evidence", "outlook", "--where", WHERE, "-o", str(pack), cwd=in_parts)
    assert result.code == 0, result.err
    folder = tmp_path / "pack"
    with zipfile.ZipFile(pack) as archive:
        archive.extractall(folder)
    done = subprocess.run(
        [sys.executable, "reproduce.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    sources = {s["file_name"] for s in evidence["sources"]}
    assert sources == {"employment_emploi_2024_2033_noc2021.csv", "noc_structure_en.csv"}
