"""Time travel with the Delta store: after three runs with changed sources,
``jobforge query --as-of`` reads each version's rows (by version number and
by instant) and ``jobforge history`` lists the versions with their ledgers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"

[project]
name = "time-travel"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.silver]
dedupe = ["code"]
"""

SOURCES = [
    "code,label\n1,one\n2,two\n",
    "code,label\n1,one\n2,deux\n3,three\n",
    "code,label\n4,four\n4,four again\n",
]
"""Three deliveries of the same file; the third has a duplicate key (silver keeps one)."""

SILVER = [
    [("1", "one"), ("2", "two")],
    [("1", "one"), ("2", "deux"), ("3", "three")],
    [("4", "four")],
]
"""silver.codes after each run (by hand from the sources: replace mode, first of a key kept)."""


def _query(project: Path, sql: str, *args: str) -> list[dict]:
    result = jobforge("query", "--format", "json", *args, sql, cwd=project)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("time-travel")
    (folder / "sources").mkdir()
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for text in SOURCES:
        (folder / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        result = jobforge("run", "--json", cwd=folder)
        assert result.code == 0, result.err
    return folder


def test_as_of_each_version_reads_its_rows(project: Path) -> None:
    sql = "SELECT CAST(code AS VARCHAR) AS code, label FROM silver.codes ORDER BY code"
    for number, expected in enumerate(SILVER, start=1):
        rows = _query(project, sql, "--as-of", str(number))
        assert [(r["code"], r["label"]) for r in rows] == expected, number
    assert [(r["code"], r["label"]) for r in _query(project, sql)] == SILVER[-1]


def test_as_of_an_instant_reads_the_version_current_then(project: Path) -> None:
    result = jobforge("history", "codes", "--layer", "silver", "--json", cwd=project)
    assert result.code == 0, result.err
    versions = json.loads(result.out)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["delta_version"] for v in versions] == [0, 1, 2]
    assert [v["rows"] for v in versions] == [2, 3, 1]
    assert versions[2]["ledger"]["rows_in"] == 2
    assert versions[2]["ledger"]["rows_deduplicated"] == 1
    sql = "SELECT count(*) AS n FROM silver.codes"
    for version, expected in zip(versions, SILVER, strict=True):
        instant = datetime.fromisoformat(version["updated_at"]).isoformat()
        assert _query(project, sql, "--as-of", instant) == [{"n": len(expected)}]
    staged = jobforge("history", "codes", "--layer", "staged", "--json", cwd=project)
    # staged appends each delivery as a batch: 2, 2 + 3, 2 + 3 + 2 rows
    assert [(v["rows"], len(v["batches"])) for v in json.loads(staged.out)] == [
        (2, 1),
        (5, 2),
        (7, 3),
    ]


def test_as_of_needs_a_store_with_history(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "jobforge.toml").write_text(PROJECT.replace('"delta"', '"parquet"'))
    (tmp_path / "sources" / "codes.csv").write_text(SOURCES[0], encoding="utf-8")
    assert jobforge("run", cwd=tmp_path).code == 0
    result = jobforge("query", "--as-of", "1", "SELECT 1", cwd=tmp_path)
    assert result.code != 0
    assert result.err.strip().splitlines() == [
        "error: the parquet store keeps only the current version of each table; "
        'history and --as-of need [storage] format = "delta"'
    ]
