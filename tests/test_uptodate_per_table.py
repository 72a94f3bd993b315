"""The up-to-date index answers table by table (issue 21: a run after one
source changed costs about that table's work).

A project of two source tables, each with a gold table built from it. After one
source changes, the index still answers for the other source table and its gold
table (their kept reads hold), and only the changed table and the gold table
built from it are checked and run; the report is the one the full check gives
(a twin project without an index, changed the same way). A table built from a
table that runs is never answered from the index, even though its own reads
still hold when the run starts.

In process (``run_project``), with the runner's up-to-date check wrapped to
note which tables it was asked about (the real check runs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobforge.project import runner
from jobforge.project.loader import load_project
from jobforge.project.runner import run_project

from .conftest import REAL_DATA
from .test_nochange_run import PROJECT as NOCHANGE_PROJECT

PROJECT = (
    NOCHANGE_PROJECT  # structure, and the gold table levels built from it
    + """
[tables.onet]
source = "sources/noc2021_onet26.csv"

[gold.onet_rows]
inputs = ["onet"]
sql = "SELECT count(*) AS n, flatten(list(_lineage)) AS _lineage FROM onet"
"""
)

INDEX = Path("data") / ".locks" / "up-to-date.json"
OLD = b"1,Broad Category,0,Legislative"
NEW = b"1,Broad Category,0,legislative"


def _build(folder: Path) -> Path:
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT)
    for name in ("noc_structure_en.csv", "noc2021_onet26.csv"):
        shutil.copyfile(REAL_DATA / name, folder / "sources" / name)
    return folder


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict], list[str]]:
    """One whole run: its steps, and each table the up-to-date check was asked about."""
    asked: list[str] = []
    real = runner._up_to_date

    def noting(engine, project, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(name)
        return real(engine, project, name, *args, **kwargs)

    monkeypatch.setattr(runner, "_up_to_date", noting)
    report = run_project(load_project(folder / "jobforge.toml"), jobs=1)
    monkeypatch.setattr(runner, "_up_to_date", real)
    return report.as_dicts(), asked


def _outcome(steps: list[dict]) -> list[tuple[object, ...]]:
    keys = ("table", "layer", "status", "rows_in", "rows_out", "rows_quarantined", "error")
    return [tuple(s[k] for k in keys) for s in steps]


def _change(folder: Path) -> None:
    source = folder / "sources" / "noc_structure_en.csv"
    data = source.read_bytes()
    assert data.count(OLD) == 1
    source.write_bytes(data.replace(OLD, NEW))


def test_after_one_source_changed_only_it_and_what_is_built_from_it_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _build(tmp_path / "project")
    steps, _ = _run(project, monkeypatch)
    assert {s["status"] for s in steps} <= {"success", "partial"}
    assert (project / INDEX).is_file()
    # nothing changed: every table answered by the index, none checked
    steps, asked = _run(project, monkeypatch)
    assert asked == [] and {s["status"] for s in steps} == {"up to date"}

    _change(project)
    steps, asked = _run(project, monkeypatch)
    # checked (and run), then checked again to keep the index: the changed table and
    # the gold table built from it; onet and onet_rows answered by the index
    assert asked == ["structure", "levels", "structure", "levels"]
    by = {(s["table"], s["layer"]): s for s in steps}
    assert by[("structure", "staged")]["status"] == "success"
    assert by[("structure", "staged")]["rows_out"] == 822
    assert by[("structure", "silver")]["rows_out"] == 822
    assert by[("levels", "gold")]["status"] == "success"  # rebuilt from the new silver
    assert by[("levels", "gold")]["rows_out"] == 5
    for layer in ("staged", "bronze", "silver"):
        assert by[("onet", layer)]["status"] == "up to date"
    assert by[("onet_rows", "gold")]["status"] == "up to date"
    assert [(s["table"], s["layer"]) for s in steps] == [
        ("structure", "staged"),
        ("structure", "bronze"),
        ("structure", "silver"),
        ("onet", "staged"),
        ("onet", "bronze"),
        ("onet", "silver"),
        ("levels", "gold"),
        ("onet_rows", "gold"),
    ]

    # the full check's answer to the same change: a twin without an index
    twin = _build(tmp_path / "twin")
    _run(twin, monkeypatch)
    (twin / INDEX).unlink()
    _change(twin)
    full, asked = _run(twin, monkeypatch)
    assert asked[:4] == ["structure", "onet", "levels", "onet_rows"]  # every table checked
    assert _outcome(steps) == _outcome(full)

    # the next run: every table answered again, the untouched ones from their kept reads
    steps, asked = _run(project, monkeypatch)
    assert asked == [] and {s["status"] for s in steps} == {"up to date"}
    kept = json.loads((project / INDEX).read_text())
    assert sorted(kept["entries"]) == ["levels", "onet", "onet_rows", "structure"]


def test_a_journal_left_for_one_table_has_only_that_table_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _build(tmp_path / "project")
    _run(project, monkeypatch)
    _run(project, monkeypatch)
    from jobforge.project.uptodate import journal_names

    journal = project / "data" / ".locks" / journal_names(["onet"])[0]
    journal.write_text("{}")  # a journal no transition wrote: the table's run says so
    steps, asked = _run(project, monkeypatch)
    assert asked == ["onet"]  # structure and levels answered by the index
    by = {(s["table"], s["layer"]): s for s in steps}
    assert by[("structure", "silver")]["status"] == "up to date"
    assert by[("levels", "gold")]["status"] == "up to date"
    failed = by[("onet", "staged")]
    assert failed["status"] == "failed"
    assert failed["error"].startswith(
        f"{journal}: not a journal jobforge wrote (table: Field required); "
    ), failed["error"]
    assert "\n" not in failed["error"]
    assert by[("onet_rows", "gold")]["status"] == "skipped"
    assert not (project / INDEX).exists()  # a run with a failure keeps none
