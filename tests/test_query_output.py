"""Issue 13, item 8 (query): one line and no traceback. Statement types the
Python API does not name are refused as such; CSV and TSV write nested values
(lists, structs) as JSON text; an output file is complete or not there."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine

from .cli_helpers import jobforge
from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
# dim: the 10 broad categories (level 1) of noc_structure_en.csv, each with its
# one source record: 0 is record 1, 1 is record 36, ... (counted with the csv module)
DIM_SQL = (
    'SELECT "Code - NOC 2021 V1.0" AS code, "Class title" AS title, _lineage '
    "FROM noc WHERE \"Level\" = '1'"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("output") / "data"
    engine = PipelineEngine(PipelineConfig(root, entry_points=False))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    engine.promote_to_gold(GoldSpec(name="dim", inputs=["noc"], sql=DIM_SQL))
    return root


def _query(root: Path, *args: str) -> tuple[int, str, str]:
    done = jobforge("--data-root", str(root), "query", *args, cwd=root)
    return done.code, done.out, done.err


def _noc_records() -> list[dict[str, str]]:
    with NOC.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    "sql", ["UPDATE EXTENSIONS", "UPDATE EXTENSIONS (httpfs)", "update   extensions"]
)
def test_an_unknown_statement_type_is_refused_as_such(root: Path, sql: str) -> None:
    code, out, err = _query(root, sql)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: read-only query interface: unknown (DuckDB statement type 29) statements "
        "are not allowed (only SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run here)"
    ]


def test_gold_lineage_is_json_text_in_csv_and_tsv(root: Path, tmp_path: Path) -> None:
    records = _noc_records()
    level1 = [(i, r) for i, r in enumerate(records, start=1) if r["Level"] == "1"]
    assert len(level1) == 10
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        batch = engine.query("SELECT DISTINCT _batch_id FROM silver.noc").item()
    expected = {
        r["Code - NOC 2021 V1.0"]: (r["Class title"], [f"noc:{batch}:{i}"]) for i, r in level1
    }
    sql = "SELECT code, title, _lineage FROM gold.dim ORDER BY code"
    code, out, err = _query(root, sql, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["code"]: (r["title"], json.loads(r["_lineage"])) for r in rows} == expected
    tsv = tmp_path / "x.tsv"
    code, out, err = _query(root, sql, "-o", str(tsv))
    assert code == 0 and err == f"10 rows written to {tsv}\n"
    with tsv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert {r["code"]: (r["title"], json.loads(r["_lineage"])) for r in rows} == expected
    # JSON output keeps the list a list
    code, out, _ = _query(root, sql, "--format", "json")
    assert {r["code"]: (r["title"], r["_lineage"]) for r in json.loads(out)} == expected


def test_the_readme_catalog_query_writes_csv(root: Path) -> None:
    """``jobforge query "SELECT * FROM catalog.tables" --format csv`` (README):
    list columns as JSON text; structs nested in lists too."""
    code, out, err = _query(
        root, "SELECT * FROM catalog.tables ORDER BY layer, table_name", "--format", "csv"
    )
    assert code == 0, err
    rows = {(r["layer"], r["table_name"]): r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {("staged", "noc"), ("bronze", "noc"), ("silver", "noc"), ("gold", "dim")}
    assert json.loads(rows[("silver", "noc")]["upstream_tables"]) == ["bronze.noc"]
    assert json.loads(rows[("silver", "noc")]["downstream_tables"]) == ["gold.dim"]
    assert json.loads(rows[("staged", "noc")]["upstream_tables"]) == []
    assert rows[("gold", "dim")]["row_count"] == "10"
    code, out, err = _query(
        root,
        "SELECT columns FROM catalog.schema_versions WHERE layer = 'gold'",
        "--format",
        "csv",
    )
    assert code == 0, err
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert [c["name"] for c in json.loads(row["columns"])] == [
        "code",
        "title",
        "_lineage",
        "_layer",
        "_processed_at",
    ]


def test_nested_values_of_every_kind(root: Path) -> None:
    code, out, err = _query(
        root,
        "SELECT [1, 2] AS l, {'k': 'v', 'n': NULL} AS s, MAP {'a': 1} AS m, "
        "[[1], []] AS ll, NULL::INTEGER[] AS empty, [1, 2]::INTEGER[2] AS arr, "
        "'plain, \"text\"' AS t",
        "--format",
        "csv",
    )
    assert code == 0, err
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row == {
        "l": "[1,2]",
        "s": '{"k":"v","n":null}',
        "m": '{"a":1}',
        "ll": "[[1],[]]",
        "empty": "",
        "arr": "[1,2]",
        "t": 'plain, "text"',
    }


def test_a_failed_export_leaves_the_previous_file_and_no_temporary(
    root: Path, tmp_path: Path
) -> None:
    """A query that fails after some batches were written (here: the row
    300 001 raises) leaves no half-written file: the previous one is intact."""
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    for fmt in ("csv", "json", "parquet"):
        code, _, err = _query(
            root,
            "SELECT CASE WHEN range < 300000 THEN range ELSE error('boom') END AS n "
            "FROM range(400000)",
            "--format",
            fmt,
            "-o",
            str(out),
        )
        assert code == 1
        assert err.splitlines() == ["error: Invalid Input Error: boom"]
        assert out.read_text() == "previous\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_parquet_and_json_outputs_hold_the_result(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dim.parquet"
    code, _, err = _query(
        root, "SELECT code, _lineage FROM gold.dim", "--format", "parquet", "-o", str(out)
    )
    assert code == 0 and err == f"10 rows written to {out}\n"
    frame = pl.read_parquet(out).sort("code")
    assert frame["code"].to_list() == [str(i) for i in range(10)]
    assert frame.schema["_lineage"] == pl.List(pl.String)
    code, out_text, _ = _query(root, "SELECT 1 AS x WHERE false", "--format", "json")
    assert (code, out_text) == (0, "[]\n")
    code, out_text, _ = _query(root, "SELECT 1 AS x WHERE false", "--format", "csv")
    assert (code, out_text) == (0, "x\n")
    code, out_text, _ = _query(root, "SELECT 1 AS a, 2 AS a", "--format", "json")
    assert json.loads(out_text) == [{"a": 1, "a_1": 2}]
    missing = tmp_path / "no" / "such" / "folder.csv"
    code, _, err = _query(root, "SELECT 1", "-o", str(missing))
    assert code == 2
    assert err.splitlines() == [
        f"error: cannot write {missing}: the folder {missing.parent} does not exist"
    ]
