"""``jobforge maintain``: Delta's vacuum with the retention the lineage and the
catalog give, on a real project with real Delta tables.

Four deliveries of ``codes.csv``; the fourth is run to silver only, so the
current gold version was built from silver version 3 while silver is at
version 4. ``retention_days = 0``: only the current versions and what the
current lineage read stay readable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobforge.engine.maintain import versions_to_keep
from jobforge.storage.versions import BatchEntry, CurrentVersion

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"

[project]
name = "maintained"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.metadata]
retention_days = 0
[tables.codes.silver]
dedupe = ["code"]

[gold.code_list]
inputs = ["codes"]
sql = "SELECT code, label, _lineage FROM codes"
"""

SOURCES = [
    "code,label\n1,one\n2,two\n",
    "code,label\n1,one\n2,deux\n3,three\n",
    "code,label\n4,four\n4,four again\n",
    "code,label\n5,five\n",
]
SILVER = [
    [("1", "one"), ("2", "two")],
    [("1", "one"), ("2", "deux"), ("3", "three")],
    [("4", "four")],
    [("5", "five")],
]
"""silver.codes at each version (by hand: replace mode, the first row of a key kept)."""

ROWS = "SELECT CAST(code AS VARCHAR) AS code, label FROM {} ORDER BY code"


def _json(project: Path, *args: str) -> object:
    result = jobforge(*args, cwd=project)
    assert result.code == 0, result.err
    return json.loads(result.out)


def _rows(project: Path, table: str, *args: str) -> list[tuple[str, str]]:
    found = _json(project, "query", "--format", "json", *args, ROWS.format(table))
    assert isinstance(found, list)
    return [(r["code"], r["label"]) for r in found]


def _history(project: Path, layer: str) -> list[dict]:
    found = _json(project, "history", "codes", "--layer", layer, "--json")
    assert isinstance(found, list)
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("maintained")
    (folder / "sources").mkdir()
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for number, text in enumerate(SOURCES, start=1):
        (folder / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        to = ["--to", "silver"] if number == len(SOURCES) else []
        result = jobforge("run", "--json", *to, cwd=folder)
        assert result.code == 0, result.err
    return folder


@pytest.fixture(scope="module")
def maintained(project: Path) -> tuple[Path, list[dict], list[dict]]:
    """The project after ``maintain --dry-run`` then ``maintain``; both reports."""
    dry = _json(project, "maintain", "codes", "--dry-run", "--json")
    done = _json(project, "maintain", "codes", "--json")
    assert isinstance(dry, list) and isinstance(done, list)
    return project, dry, done


def _batch_file(version: dict) -> str:
    (batch,) = version["batches"]
    return f"batch={batch}.parquet"


def test_keeps_the_current_versions_and_what_the_current_lineage_read(
    maintained: tuple[Path, list[dict], list[dict]],
) -> None:
    project, dry, done = maintained
    silver = _history(project, "silver")
    assert [v["rows"] for v in silver] == [2, 3, 1, 1]
    by_layer = {r["layer"]: r for r in done}
    assert sorted(by_layer) == ["bronze", "silver", "staged"]
    for layer in ("bronze", "silver"):
        report = by_layer[layer]
        assert report["retention_days"] == 0
        assert sorted(report["kept"]) == ["3", "4"]
        assert "current" in report["kept"]["4"]
        assert "read by the current lineage" in report["kept"]["3"]  # gold v3 read silver v3
        assert report["removed_versions"] == [1, 2]
        history = _history(project, layer)
        folder = project / "data" / layer / "codes"
        assert report["files"] == sorted(str(folder / _batch_file(v)) for v in history[:2])
        assert report["bytes_removed"] > 0
    # staged appends: its four batch files are merged into one (version 5: the same
    # 2 + 3 + 2 + 1 rows), then vacuumed: only the compacted version stays readable
    staged = by_layer["staged"]
    folder = project / "data" / "staged" / "codes"
    batch_files = [
        str(folder / f"batch={b}.parquet") for b in _history(project, "staged")[3]["batches"]
    ]
    ((merged),) = staged["compacted"]
    assert (merged["replaced"], merged["batches"], merged["rows"]) == (batch_files, 4, 8)
    assert Path(merged["into"]).parent == folder and Path(merged["into"]).is_file()
    assert staged["kept"].keys() == {"5"} and staged["removed_versions"] == [1, 2, 3, 4]
    assert staged["files"] == sorted(batch_files)
    # the dry run named the same files and removed none (the real run did); its
    # vacuum is planned after the compaction it would make: the four merged staged
    # files go too, and versions 1 to 4 with them
    assert [(r["layer"], r["files"], r["removed_versions"], r["bytes_removed"]) for r in dry] == [
        (r["layer"], r["files"], r["removed_versions"], r["bytes_removed"]) for r in done
    ]
    ((would),) = next(r for r in dry if r["layer"] == "staged")["compacted"]
    assert (would["into"], would["replaced"], would["rows"]) == (None, batch_files, 8)
    assert would["bytes"] == merged["bytes"] == staged["bytes_removed"]
    assert next(r for r in dry if r["layer"] == "staged")["version_files"] == [4, 1]
    assert all(r["dry_run"] for r in dry) and not any(r["dry_run"] for r in done)
    assert not any(Path(f).exists() for r in done for f in r["files"])


def test_history_marks_the_removed_versions(
    maintained: tuple[Path, list[dict], list[dict]],
) -> None:
    project, _, _ = maintained
    assert [v["readable"] for v in _history(project, "silver")] == [False, False, True, True]
    text = jobforge("history", "codes", "--layer", "silver", cwd=project)
    assert text.code == 0 and "no: removed by maintain" in text.out


def test_views_lineage_and_verify_still_hold(
    maintained: tuple[Path, list[dict], list[dict]],
) -> None:
    project, _, _ = maintained
    assert _rows(project, "silver.codes") == SILVER[3]
    assert _rows(project, "gold.code_list") == SILVER[2]
    verified = jobforge("verify", cwd=project)
    assert verified.code == 0, verified.out + verified.err
    assert verified.out.strip().endswith("all holds")
    traced = _json(project, "lineage", "code_list", "--where", "code = '4'", "--json")
    assert isinstance(traced, list) and len(traced) == 1
    (origin,) = traced[0]["origins"]
    assert (origin["source_row"], origin["raw"]) == (1, {"code": "4", "label": "four"})
    assert origin["batch_id"] == _history(project, "silver")[2]["batches"][0]


def test_as_of_a_kept_version_reads_it_and_a_removed_one_says_so(
    maintained: tuple[Path, list[dict], list[dict]],
) -> None:
    project, _, _ = maintained
    assert _rows(project, "silver.codes", "--as-of", "3") == SILVER[2]
    assert _rows(project, "silver.codes", "--as-of", "4") == SILVER[3]
    # bronze keeps both rows of the third delivery: silver dropped the duplicate
    assert _rows(project, "bronze.codes", "--as-of", "3") == [("4", "four"), ("4", "four again")]
    gone = jobforge("query", "--as-of", "2", ROWS.format("silver.codes"), cwd=project)
    assert gone.code != 0
    assert "silver.codes: skipped: its version 2 is no longer readable" in gone.err


def test_delta_records_the_vacuum_and_a_second_maintain_removes_nothing(
    maintained: tuple[Path, list[dict], list[dict]],
) -> None:
    project, _, _ = maintained
    commits = DeltaTable(str(project / "data" / "silver" / "codes")).history()
    vacuums = [c for c in commits if str(c.get("operation", "")).startswith("VACUUM")]
    assert {c["operation"] for c in vacuums} == {"VACUUM START", "VACUUM END"}
    kept = {json.loads(c["jobforge.maintain"])["kept"][0] for c in vacuums}
    assert kept == {3}
    again = _json(project, "maintain", "codes", "--json")
    assert isinstance(again, list) and all(r["files"] == [] for r in again)


def test_without_retention_days_every_version_stays(project: Path) -> None:
    report = _json(project, "maintain", "code_list", "--dry-run", "--json")
    assert isinstance(report, list)
    ((gold),) = report
    assert (gold["layer"], gold["retention_days"], gold["files"]) == ("gold", None, [])
    assert sorted(gold["kept"]) == ["1", "2", "3"]


def test_lineage_names_the_delta_version_of_each_version(project: Path) -> None:
    """gold.code_list version 3 was built from silver, bronze and staged version 3
    (the third delivery), each the third commit of its Delta table (Delta version 2)."""
    chain = _json(project, "lineage", "code_list", "--json")
    assert isinstance(chain, dict)
    found = {
        n["table"]: [(v["version"], v["delta_version"]) for v in n["versions"]]
        for n in chain["nodes"]
    }
    assert found == {
        "gold.code_list": [(3, 2)],
        "silver.codes": [(3, 2)],
        "bronze.codes": [(3, 2)],
        "staged.codes": [(3, 2)],
    }
    tree = jobforge("lineage", "code_list", cwd=project)
    assert tree.code == 0, tree.err
    assert "gold.code_list  version 3 (delta version 2)" in tree.out
    assert "staged.codes  version 3 (delta version 2)" in tree.out


def test_the_parquet_store_has_nothing_to_maintain(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "jobforge.toml").write_text(PROJECT.replace('"delta"', '"parquet"'))
    (tmp_path / "sources" / "codes.csv").write_text(SOURCES[0], encoding="utf-8")
    assert jobforge("run", cwd=tmp_path).code == 0
    chain = _json(tmp_path, "lineage", "code_list", "--json")
    assert isinstance(chain, dict)  # the parquet store names jobforge's version only
    assert {n["table"]: n["versions"][0]["delta_version"] for n in chain["nodes"]} == {
        "gold.code_list": None,
        "silver.codes": None,
        "bronze.codes": None,
        "staged.codes": None,
    }
    result = jobforge("maintain", "codes", cwd=tmp_path)
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: the parquet store keeps only the current version of each table: nothing to "
        'compact or vacuum; jobforge maintain needs [storage] format = "delta"'
    ]


def _version(number: int, at: datetime) -> CurrentVersion:
    batch = BatchEntry(batch_id=f"b{number}", file=f"batch=b{number}.parquet", rows=1)
    return CurrentVersion(
        table="t", layer="silver", version=number, updated_at=at, mode="replace", batches=[batch]
    )


def test_retention_days_keeps_every_version_current_in_the_window() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    ages = [30, 20, 9, 5, 1]  # days before now
    history = [_version(i, now - timedelta(days=d)) for i, d in enumerate(ages, start=1)]
    kept = versions_to_keep(history, 7, [], now)
    # v3 (9 days old) was current when the 7-day window began; v4 and v5 are in it
    assert sorted(kept) == [3, 4, 5]
    assert kept[3] == ["current 7 days ago"]
    assert kept[5] == ["current", "published in the last 7 days"]
    read = [frozenset({("b1", None)})]
    assert sorted(versions_to_keep(history, 7, read, now)) == [1, 3, 4, 5]
    assert sorted(versions_to_keep(history, None, [], now)) == [1, 2, 3, 4, 5]
    assert sorted(versions_to_keep(history, 0, [], now)) == [5]
