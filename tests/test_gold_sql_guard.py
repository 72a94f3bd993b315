"""Issue 13, item 2: gold SQL gets the protection of ``jobforge query``.

Exactly one SELECT, over the declared inputs only; no file can be read or
written by the connection (it is a locked sandbox); the result is written to
parquet from Python. Each attack below is refused with one line naming the gold
table, before or without touching a file outside the data root; valid gold SQL
keeps its rows, types, ``_layer``, ``_processed_at`` and ``_lineage``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.errors import TransitionError
from jobforge.pipeline.config import PipelineConfig

from .cli_helpers import jobforge
from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
LINEAGE = ", ['x'] AS _lineage"  # so that only the attack itself can fail


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineEngine, Path]:
    """noc_structure_en.csv through silver as ``noc``, and an outside folder
    holding a parquet file of secrets."""
    base = tmp_path_factory.mktemp("gold-guard")
    engine = PipelineEngine(PipelineConfig(base / "data", entry_points=False))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    outside = base / "outside"
    outside.mkdir()
    pl.DataFrame({"secret": ["s3cr3t"], "_lineage": [["x"]]}).write_parquet(
        outside / "secret.parquet"
    )
    return engine, outside


def _outside_tree(outside: Path) -> list[str]:
    return sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))


def _attacks(outside: Path, silver_file: Path) -> list[tuple[str, str]]:
    """(gold SQL, what the one-line error says after ``gold g: ``)."""
    written = outside / "written.csv"
    secret = outside / "secret.parquet"
    disabled = "SQL error: Permission Error: File system LocalFileSystem has been disabled"
    return [
        (
            f"SELECT * FROM noc; COPY (SELECT 'pwned' AS x) TO '{written}'",
            "the SQL holds 2 statements: expected exactly one SELECT",
        ),
        (f"COPY (SELECT 'pwned' AS x) TO '{written}'", "COPY statements are not allowed"),
        (
            f"SELECT *{LINEAGE} FROM noc WHERE 0 = (SELECT count(*) FROM "
            f"(COPY (SELECT 1) TO '{written}'))",
            "SQL error: Parser Error",
        ),
        (f"SELECT *{LINEAGE} FROM read_csv('/etc/passwd')", disabled),
        (f"SELECT *{LINEAGE} FROM read_text('/etc/hostname')", disabled),
        (f"SELECT *{LINEAGE} FROM glob('/etc/*')", disabled),
        (f"SELECT * FROM read_parquet('{secret}')", disabled),
        (f"SELECT * FROM read_parquet('{silver_file}')", disabled),  # even an input's file
        (
            f"SELECT *{LINEAGE} FROM '/etc/passwd'",
            "SQL error: Catalog Error: Table with name /etc/passwd does not exist",
        ),
        (f"SELECT * FROM '{secret}'", disabled),
        ("SET enable_external_access = true", "SET statements are not allowed"),
        ("RESET lock_configuration", "SET statements are not allowed"),
        (f"ATTACH '{outside}/db.duckdb' AS x", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "LOAD statements are not allowed"),
        ("PRAGMA version", "PRAGMA statements are not allowed"),
        ("CALL pragma_version()", "CALL statements are not allowed"),
        (f"EXPORT DATABASE '{outside}/export'", "EXPORT statements are not allowed"),
        ("EXPLAIN SELECT * FROM noc", "EXPLAIN statements are not allowed"),
        ("UPDATE EXTENSIONS", "unknown (DuckDB statement type 29) statements are not allowed"),
        ("CREATE TABLE t AS SELECT * FROM noc", "CREATE statements are not allowed"),
        ("", "the SQL is empty: expected one SELECT statement"),
    ]


def test_every_attack_is_refused_with_one_line_naming_the_gold_table(
    warehouse: tuple[PipelineEngine, Path],
) -> None:
    engine, outside = warehouse
    silver = engine.current("silver", "noc")
    assert silver is not None
    silver_file = silver.files(engine.config.silver_path() / "noc")[0]
    before = _outside_tree(outside)
    gold_dir = engine.config.gold_path() / "g"
    for sql, expected in _attacks(outside, silver_file):
        with pytest.raises(TransitionError) as caught:
            engine.promote_to_gold(GoldSpec(name="g", inputs=["noc"], sql=sql))
        message = str(caught.value)
        assert "\n" not in message, sql
        assert message.startswith(f"silver -> gold of 'g' failed: gold g: {expected}"), (
            sql,
            message,
        )
        assert "s3cr3t" not in message and "root:" not in message
        assert _outside_tree(outside) == before, sql
        assert engine.current("gold", "g") is None
        assert not gold_dir.exists() or not list(gold_dir.glob("*.parquet"))
    assert not os.path.exists("written.csv")


def test_valid_gold_sql_keeps_its_rows_types_and_provenance(
    warehouse: tuple[PipelineEngine, Path],
) -> None:
    """Types as DuckDB's parquet writer wrote them (SUM of BIGINTs, a HUGEINT,
    as a double), zstd level 1 row groups, ``_layer``, ``_processed_at`` (UTC)
    and ``_lineage`` (added from ``_batch_id``/``_source_row``, kept through GROUP BY)."""
    engine, _ = warehouse
    sql = """
        SELECT "Level" AS level, count(*) AS groups, sum(_source_row) AS row_sum,
               flatten(list(_lineage)) AS _lineage
        FROM noc GROUP BY "Level"
    """
    gold = engine.promote_to_gold(GoldSpec(name="levels", inputs=["noc"], sql=sql))
    frame = pl.read_parquet(gold.path).sort("level")
    # records per level of noc_structure_en.csv (counted with the csv module)
    assert frame.select("level", "groups").rows() == [
        ("1", 10),
        ("2", 45),
        ("3", 89),
        ("4", 162),
        ("5", 516),
    ]
    assert frame["row_sum"].sum() == 822 * 823 / 2  # every record once
    assert frame.schema["row_sum"] == pl.Float64
    assert frame.schema["_processed_at"] == pl.Datetime("us", "UTC")
    assert frame["_layer"].unique().to_list() == ["gold"]
    assert frame["_processed_at"].unique().to_list() == [gold.record.started_at]
    assert frame["_lineage"].list.len().sum() == 822
    assert frame.columns == ["level", "groups", "row_sum", "_lineage", "_layer", "_processed_at"]
    silver = engine.current("silver", "noc")
    assert silver is not None
    batch = silver.batches[0].batch_id
    with NOC.open(encoding="utf-8-sig", newline="") as handle:
        level1 = [i for i, r in enumerate(csv.DictReader(handle), start=1) if r["Level"] == "1"]
    first = frame.filter(pl.col("level") == "1")["_lineage"][0].to_list()
    assert sorted(first) == sorted(f"noc:{batch}:{i}" for i in level1)
    metadata = pq.read_metadata(gold.path)
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_the_command_line_refuses_a_gold_attack_in_one_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "noc.csv").write_bytes(NOC.read_bytes())
    (project / "jobforge.toml").write_text(
        '[tables.noc]\nsource = "noc.csv"\n\n'
        '[gold.evil]\ninputs = ["noc"]\n'
        f"sql = \"SELECT * FROM noc; COPY (SELECT 'pwned' AS x) TO '{outside}/written.csv'\"\n"
    )
    done = jobforge("run", cwd=project)
    # found by the checks before a run: nothing runs at all (exit 2), nothing is written
    assert done.code == 2
    assert "Traceback" not in done.err
    assert ("gold.evil.sql: the SQL holds 2 statements: expected exactly one SELECT") in [
        line.strip() for line in done.err.splitlines()
    ]
    assert list(outside.iterdir()) == []
    assert not (project / "data").exists()


def test_types_keep_their_parquet_form_and_unwritable_ones_are_named(
    warehouse: tuple[PipelineEngine, Path],
) -> None:
    """What DuckDB's parquet writer wrote before: fixed arrays as lists,
    HUGEINT as double, BIT and ENUM-like values as text; an INTERVAL, which
    parquet written from Arrow cannot hold, is refused naming the column."""
    engine, _ = warehouse
    sql = (
        "SELECT _lineage, [1, 2]::INTEGER[2] AS arr, 7::HUGEINT AS h, 12::BIT AS b, "
        "'{\"a\": 1}'::JSON AS j FROM noc WHERE _source_row = 1"
    )
    gold = engine.promote_to_gold(GoldSpec(name="typed", inputs=["noc"], sql=sql))
    frame = pl.read_parquet(gold.path)
    assert {c: frame.schema[c] for c in ("arr", "h", "b", "j")} == {
        "arr": pl.List(pl.Int32),
        "h": pl.Float64,
        "b": pl.String,
        "j": pl.String,
    }
    assert frame.select("arr", "h", "b", "j").row(0) == (
        [1, 2],
        7.0,
        "00000000000000000000000000001100",
        '{"a": 1}',
    )
    with pytest.raises(TransitionError) as caught:
        engine.promote_to_gold(
            GoldSpec(name="waits", inputs=["noc"], sql="SELECT *, INTERVAL 1 DAY AS wait FROM noc")
        )
    assert str(caught.value) == (
        "silver -> gold of 'waits' failed: gold waits: column 'wait' has type "
        "month_day_nano_interval, which parquet cannot hold (CAST it)"
    )
