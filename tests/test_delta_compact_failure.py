"""A compaction that fails (an error, not a kill) leaves a truthful record.

Real failures, no mocks. Before the commit: one of the staged files the
current version lists is moved away before ``jobforge maintain`` runs, so
reading it fails. Checked: exit code 1 with one line naming the table and the
missing file (no traceback), the staged version unchanged, a ``failed``
compaction record chained with that error, no journal and no compacted file
left; with the file back, the next maintain compacts and ``verify`` holds.
After the commit: the table's lineage folder replaced by a file, so the record
cannot be written: the line says the version was committed, the journal keeps
the record, and the next maintain writes it (chained, ``verify`` holds).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobforge.catalog.manager import CatalogManager
from jobforge.pipeline.models import TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config
from jobforge.storage.journal import read_journal

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"

[project]
name = "compact-failure"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
"""

DELIVERIES = [f"code,label\n{n},label {n}\n" for n in range(1, 4)]
"""Three deliveries of one row each: staged.codes holds three batches in three files."""


@pytest.fixture
def delivered(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for text in DELIVERIES:
        (folder / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        result = jobforge("run", "--to", "bronze", cwd=folder)
        assert result.code == 0, result.err
    return folder


def _history(project: Path) -> list[dict]:
    result = jobforge("history", "codes", "--layer", "staged", "--json", cwd=project)
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert isinstance(found, list)
    return found


def test_a_failed_compaction_is_recorded_and_changes_nothing(
    delivered: Path, tmp_path: Path
) -> None:
    folder = delivered / "data" / "staged" / "codes"
    batches = _history(delivered)[-1]["batches"]
    assert len(batches) == 3
    second = folder / f"batch={batches[1]}.parquet"
    away = tmp_path / second.name
    shutil.move(second, away)

    result = jobforge("maintain", "codes", "--layer", "staged", cwd=delivered)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    (line,) = lines
    assert line.startswith("error: maintain: compaction of staged.codes failed: ")
    assert second.name in line and "version 3 unchanged" in line, line

    history = _history(delivered)
    assert [v["version"] for v in history] == [1, 2, 3]
    assert not list(folder.glob("compact=*.parquet"))
    assert not list((delivered / "data" / ".locks").glob("*.journal"))
    assert not list((delivered / "data").rglob(".jobforge-tmp-*"))
    config = project_config(load_project(delivered / "jobforge.toml"))
    records = CatalogManager(config).lineage_records("codes")
    last = records[-1]
    assert isinstance(last, TransitionRecord)
    assert (last.source_layer, last.target_layer, last.transforms_applied, last.status) == (
        "staged",
        "staged",
        ["compact"],
        "failed",
    )
    ((error),) = last.errors
    assert second.name in error and error in line
    assert (last.ledger.rows_in, last.ledger.rows_out) == (3, 0)
    # chained after the three ingestions and the three promotions to bronze
    assert last.chain_position == len(records) == 7

    shutil.move(away, second)
    again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=delivered)
    assert again.code == 0, again.err
    ((merged,),) = [r["compacted"] for r in json.loads(again.out)]
    assert (merged["batches"], merged["rows"]) == (3, 3)
    assert [v["version"] for v in _history(delivered)] == [1, 2, 3, 4]
    verified = jobforge("verify", cwd=delivered)
    assert verified.code == 0, verified.out + verified.err


def test_a_failure_after_the_commit_says_so_and_the_next_run_records_it(
    delivered: Path, tmp_path: Path
) -> None:
    # real failure after the Delta commit: the table's lineage folder is a file, so
    # the compaction's record cannot be written
    lineage = delivered / "data" / "catalog" / "lineage" / "codes"
    away = tmp_path / "lineage"
    shutil.move(lineage, away)
    lineage.write_text("not a folder", encoding="utf-8")
    result = jobforge("maintain", "codes", "--layer", "staged", cwd=delivered)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: maintain: compaction of staged.codes committed version 4 ")
    assert "NotADirectoryError" in line
    assert line.endswith("the next maintain or run on 'codes' writes its record"), line
    # the journal holds the record for the next run
    (journal,) = (delivered / "data" / ".locks").glob("codes.journal")
    kept = read_journal(journal.parent, "codes")
    assert kept is not None and kept.phase == "switching" and kept.record is not None

    lineage.unlink()
    shutil.move(away, lineage)
    again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=delivered)
    assert again.code == 0, again.err
    ((report,),) = [json.loads(again.out)]
    assert report["compaction"] == "staged.codes: nothing to compact: no two small files in a row"
    history = _history(delivered)
    assert [v["version"] for v in history] == [1, 2, 3, 4] and history[-1]["rows"] == 3
    assert not list((delivered / "data" / ".locks").glob("*.journal"))
    config = project_config(load_project(delivered / "jobforge.toml"))
    last = CatalogManager(config).lineage_records("codes")[-1]
    assert isinstance(last, TransitionRecord)
    done = (last.transforms_applied, last.status, last.chain_position)
    assert done == (["compact"], "success", 7)
    assert last.transition_id == history[-1]["record_id"]
    verified = jobforge("verify", cwd=delivered)
    assert verified.code == 0, verified.out + verified.err
