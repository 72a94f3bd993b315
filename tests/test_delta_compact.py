"""``jobforge maintain`` compacts: six small deliveries appended to staged, then
maintain merges the six staged files into one, on a real project with real
Delta tables. No ``retention_days``: every version stays readable, so
``--as-of`` an old version still reads its own files.

Checked: fewer files, the same rows (each with its batch), the compaction's
chained record (which files replaced which, the new file's sha256), a Delta
commit that changes no row, ``verify`` holding and then catching a flipped
byte in the compacted file, ``--as-of`` old versions, row lineage from gold to
the source row, a later append, and an old batch promoted alone from the
compacted file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobforge.catalog.manager import CatalogManager
from jobforge.pipeline.models import TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"

[project]
name = "compacted"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.silver]
dedupe = ["code"]

[gold.code_list]
inputs = ["codes"]
sql = "SELECT code, label, _lineage FROM codes"
"""

DELIVERIES = [f"code,label\n{n},label {n}\n{n}{n},other {n}\n" for n in range(1, 7)]
"""Six deliveries of two rows each: staged appends them (12 rows in six files)."""

ROWS = "SELECT CAST(code AS VARCHAR) AS code, label, _batch_id, _source_row FROM {} ORDER BY code"


def _json(project: Path, *args: str) -> object:
    result = jobforge(*args, cwd=project)
    assert result.code == 0, result.err
    return json.loads(result.out)


def _rows(project: Path, table: str, *args: str) -> list[tuple[str, str, str, int]]:
    found = _json(project, "query", "--format", "json", *args, ROWS.format(table))
    assert isinstance(found, list)
    return [(r["code"], r["label"], r["_batch_id"], r["_source_row"]) for r in found]


def _staged_folder(project: Path) -> Path:
    return project / "data" / "staged" / "codes"


class Compacted:
    def __init__(self, project: Path, before: list, batches: list[str], report: list) -> None:
        self.project, self.before, self.batches, self.report = project, before, batches, report


@pytest.fixture(scope="module")
def compacted(tmp_path_factory: pytest.TempPathFactory) -> Compacted:
    folder = tmp_path_factory.mktemp("compacted")
    (folder / "sources").mkdir()
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for text in DELIVERIES:
        (folder / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        result = jobforge("run", "--json", cwd=folder)
        assert result.code == 0, result.err
    before = _rows(folder, "staged.codes")
    history = _json(folder, "history", "codes", "--layer", "staged", "--json")
    assert isinstance(history, list) and len(history) == 6
    report = _json(folder, "maintain", "codes", "--json")
    assert isinstance(report, list)
    return Compacted(folder, before, history[-1]["batches"], report)


def test_six_small_files_become_one_with_the_same_rows(compacted: Compacted) -> None:
    project = compacted.project
    # by hand: delivery n is batch n, rows "n" (record 1) and "nn" (record 2)
    expected = sorted(
        [(str(n), f"label {n}", compacted.batches[n - 1], 1) for n in range(1, 7)]
        + [(f"{n}{n}", f"other {n}", compacted.batches[n - 1], 2) for n in range(1, 7)]
    )
    assert compacted.before == expected
    assert _rows(project, "staged.codes") == expected
    staged = next(r for r in compacted.report if r["layer"] == "staged")
    ((merged),) = staged["compacted"]
    folder = _staged_folder(project)
    originals = [str(folder / f"batch={b}.parquet") for b in compacted.batches]
    assert (merged["replaced"], merged["batches"], merged["rows"]) == (originals, 6, 12)
    into = Path(merged["into"])
    assert into.parent == folder and into.name.startswith("compact=")
    assert merged["sha256"] == hashlib.sha256(into.read_bytes()).hexdigest()
    # the Delta snapshot lists one file; no retention_days: the six stay for old versions
    table = DeltaTable(str(folder))
    assert [Path(u).name for u in table.file_uris()] == [into.name]
    assert table.count() == 12
    assert staged["files"] == [] and all(Path(f).is_file() for f in originals)
    # bronze and silver replace: one file per version, nothing to merge
    for layer in ("bronze", "silver"):
        report = next(r for r in compacted.report if r["layer"] == layer)
        assert report["compacted"] == [] and "not compacted" in report["compaction"]


def test_the_version_and_the_delta_commit(compacted: Compacted) -> None:
    project = compacted.project
    history = _json(project, "history", "codes", "--layer", "staged", "--json")
    assert isinstance(history, list)
    assert [v["version"] for v in history] == [1, 2, 3, 4, 5, 6, 7]
    assert [v["rows"] for v in history] == [2, 4, 6, 8, 10, 12, 12]
    assert history[6]["batches"] == history[5]["batches"] == compacted.batches
    assert history[6]["delta_version"] == 6 and all(v["readable"] for v in history)
    # the commit changes no row: every action has dataChange false (as OPTIMIZE)
    log = _staged_folder(project) / "_delta_log" / f"{6:020d}.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    changes = [a[k]["dataChange"] for a in actions for k in ("add", "remove") if k in a]
    assert changes == [False] * 7  # one add, six removes
    (info,) = [a["commitInfo"] for a in actions if "commitInfo" in a]
    assert json.loads(info["jobforge.version"])["version"] == 7


def test_the_compaction_record_is_chained_and_names_the_files(compacted: Compacted) -> None:
    project = compacted.project
    config = project_config(load_project(project / "jobforge.toml"))
    records = CatalogManager(config).lineage_records("codes")
    staged_records = [r for r in records if r.target_layer == "staged"]
    assert len(staged_records) == 7  # six ingestions and the compaction
    record = staged_records[-1]
    assert isinstance(record, TransitionRecord)
    current = config.store.current("staged", "codes")
    assert current is not None and current.record_id == record.transition_id
    assert (record.source_layer, record.transforms_applied, record.status) == (
        "staged",
        ["compact"],
        "success",
    )
    assert (record.ledger.rows_in, record.ledger.rows_out) == (12, 12)
    assert [i.batch_id for i in record.inputs] == compacted.batches
    ingestions = {r.batch_id: r.ingestion_id for r in staged_records[:-1]}  # type: ignore[union-attr]
    assert [i.record_id for i in record.inputs] == [ingestions[b] for b in compacted.batches]
    assert record.source_files == [f"staged/codes/batch={b}.parquet" for b in compacted.batches]
    (digest,) = record.files
    into = _staged_folder(project) / Path(digest.path).name
    assert digest.sha256 == hashlib.sha256(into.read_bytes()).hexdigest()
    # the last of the table's chain: after its six ingestions and its twelve promotions
    assert record.chain_position == len(records) == 19


def test_verify_holds_then_catches_a_flipped_byte(compacted: Compacted) -> None:
    project = compacted.project
    verified = jobforge("verify", cwd=project)
    assert verified.code == 0, verified.out + verified.err
    assert verified.out.strip().endswith("all holds")
    (into,) = _staged_folder(project).glob("compact=*.parquet")
    original = into.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    try:
        into.write_bytes(bytes(flipped))
        caught = jobforge("verify", cwd=project)
        assert caught.code != 0
        assert f"changed: codes: staged/codes/{into.name}: sha256" in caught.out
    finally:
        into.write_bytes(original)
    assert jobforge("verify", cwd=project).code == 0


def test_as_of_old_versions_and_lineage_to_the_source_row(compacted: Compacted) -> None:
    project = compacted.project
    # version 3 of staged held the first three deliveries, read from their own files
    three = sorted(r for r in compacted.before if r[2] in compacted.batches[:3])
    assert len(three) == 6 and _rows(project, "staged.codes", "--as-of", "3") == three
    assert _rows(project, "staged.codes", "--as-of", "6") == compacted.before
    traced = _json(project, "lineage", "code_list", "--where", "code = '6'", "--json")
    assert isinstance(traced, list) and len(traced) == 1
    (origin,) = traced[0]["origins"]
    assert (origin["source_row"], origin["raw"]) == (1, {"code": "6", "label": "label 6"})
    assert origin["batch_id"] == compacted.batches[5]


def test_an_old_batch_is_promoted_alone_and_appends_go_on(
    compacted: Compacted, tmp_path: Path
) -> None:
    project = tmp_path / "copy"
    shutil.copytree(compacted.project, project)
    second = compacted.batches[1]
    result = jobforge("promote", "codes", "--to", "bronze", "--batch", second, cwd=project)
    assert result.code == 0, result.err
    # only the rows of delivery 2, out of the compacted file holding all six
    assert _rows(project, "bronze.codes") == [
        ("2", "label 2", second, 1),
        ("22", "other 2", second, 2),
    ]
    (project / "sources" / "codes.csv").write_text("code,label\n7,label 7\n", encoding="utf-8")
    assert jobforge("run", cwd=project).code == 0
    rows = _rows(project, "staged.codes")
    assert rows[:-1] == compacted.before
    ((code, label, batch, source_row),) = rows[-1:]
    assert (code, label, source_row) == ("7", "label 7", 1) and batch not in compacted.batches
    verified = jobforge("verify", cwd=project)
    assert verified.code == 0, verified.out + verified.err


def test_a_small_compacted_file_is_merged_again_with_later_appends(
    compacted: Compacted, tmp_path: Path
) -> None:
    project = tmp_path / "again"
    shutil.copytree(compacted.project, project)
    folder = _staged_folder(project)
    (first,) = folder.glob("compact=*.parquet")
    for n in (7, 8):
        text = f"code,label\n{n},label {n}\n"
        (project / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        assert jobforge("run", cwd=project).code == 0
    history = _json(project, "history", "codes", "--layer", "staged", "--json")
    assert isinstance(history, list) and len(history) == 9
    batches = history[-1]["batches"]
    assert batches[:6] == compacted.batches and len(batches) == 8
    report = _json(project, "maintain", "codes", "--layer", "staged", "--json")
    assert isinstance(report, list)
    ((merged,),) = [r["compacted"] for r in report]
    # the earlier compacted file (six batches) and the two new files: one file
    news = [str(folder / f"batch={b}.parquet") for b in batches[6:]]
    assert merged["replaced"] == [str(first), *news]
    assert (merged["batches"], merged["rows"]) == (8, 14)
    assert report[0]["version_files"] == [3, 1]
    into = Path(merged["into"])
    assert into != first and DeltaTable(str(folder)).file_uris() == [str(into)]
    added = [(str(n), f"label {n}", batches[n - 1], 1) for n in (7, 8)]
    assert _rows(project, "staged.codes") == sorted(compacted.before + added)
    # the first compacted version still reads its own file, as it did
    assert _rows(project, "staged.codes", "--as-of", "7") == compacted.before
    # the new record names what it read: the six batches in the first compacted file
    config = project_config(load_project(project / "jobforge.toml"))
    record = CatalogManager(config).lineage_records("codes")[-1]
    assert isinstance(record, TransitionRecord) and record.transforms_applied == ["compact"]
    assert [Path(i.file) for i in record.inputs] == [first] * 6 + [Path(p) for p in news]
    assert record.source_files == [f"staged/codes/{first.name}"] + [
        f"staged/codes/{Path(p).name}" for p in news
    ]
    verified = jobforge("verify", cwd=project)
    assert verified.code == 0, verified.out + verified.err
    # a batch of the first file is still promoted alone, from the new file
    second = batches[1]
    result = jobforge("promote", "codes", "--to", "bronze", "--batch", second, cwd=project)
    assert result.code == 0, result.err
    assert _rows(project, "bronze.codes") == [
        ("2", "label 2", second, 1),
        ("22", "other 2", second, 2),
    ]
