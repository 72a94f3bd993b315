"""The executor conformance suite: what every executor must do, checked on one
small source whose expected outputs were worked out by hand (below, row by row).

An executor package runs it against its own executor with one fixture::

    # tests/test_conformance.py of the package
    import pytest
    from jobforge.testing.executor import *  # noqa: F403  (the tests)

    @pytest.fixture
    def jobforge_executor_name() -> str:
        return "myengine"   # [engine] executor: the name its plugin answers to

and, where the executor takes settings (``[engine.<name>]``, its plugin's
settings), a second one::

    @pytest.fixture
    def jobforge_executor_settings() -> dict[str, dict[str, object]]:
        return {"myengine": {"remote": "sc://127.0.0.1:15002"}}

The executor's plugin must be installed (an entry point) or bundled. Each test
runs the steps through :class:`~jobforge.engine.pipeline.PipelineEngine` with
``PipelineConfig(executor=...)`` and reads what was published.

The source, ``t.csv`` (records 1-8; the header is not a record)::

    1 A1,5,2020-01-02,yes,first       kept
    2 B2,x,2020-01-03,no,bad int      bronze: 'x' is not an int
    3 A1,5,2020-01-02,yes,first       silver: a duplicate of record 1
    4 C3, 12 ,,Y,spaces               kept: ' 12 ' is 12, '' is null, 'Y' is true; warned
    5 D4,-7,2021-02-03,n,negative     silver: rule n > 0 fails (error)
    6 E5,6,2021-13-01,true,bad date   bronze: month 13
    7 F6,8.5,2022-03-04,maybe,two     bronze: '8.5' is not an int, 'maybe' not a bool
    8 G7,9,2020-01-01,yes,x,extra     staged: one field too many
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, Rule, SilverSpec
from jobforge.errors import TransitionError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal

__all__ = [
    "jobforge_executor_name",
    "jobforge_executor_settings",
    "test_bronze_casts_and_their_failures",
    "test_executor_is_the_one_named",
    "test_failure_leaves_the_version_and_records_it",
    "test_gold_sql_with_lineage",
    "test_silver_rules_and_exact_duplicates",
    "test_staged_fidelity_and_reader_rejects",
]

SOURCE = (
    "code,n,when,flag,note\n"
    "A1,5,2020-01-02,yes,first\n"
    "B2,x,2020-01-03,no,bad int\n"
    "A1,5,2020-01-02,yes,first\n"
    "C3, 12 ,,Y,spaces\n"
    "D4,-7,2021-02-03,n,negative\n"
    "E5,6,2021-13-01,true,bad date\n"
    "F6,8.5,2022-03-04,maybe,two\n"
    "G7,9,2020-01-01,yes,x,extra\n"
)
BRONZE = BronzeSchema(
    cast={"n": CastSpec(type="int"), "when": CastSpec(type="date"), "flag": CastSpec(type="bool")}
)
SILVER = SilverSpec(
    rules=[
        Rule(id="positive", expression="n > 0", message="n must be positive"),
        Rule(id="no_spaces", expression="note <> 'spaces'", severity="warn"),
    ]
)
GOLD = GoldSpec(
    name="by_flag",
    inputs=["t"],
    sql="SELECT flag, count(*) AS k, sum(n) AS total, flatten(list(_lineage)) AS _lineage "
    "FROM t GROUP BY flag",
)
STAGED_ORDER = ["code", "n", "when", "flag", "note", "_source_file", "_ingested_at"]
STAGED_ORDER += ["_batch_id", "_layer", "_source_row"]
Settings = dict[str, dict[str, Any]]
"""Plugin settings by plugin name (``PipelineConfig(plugin_settings=...)``)."""


@pytest.fixture
def jobforge_executor_name() -> str:
    """The executor under test (override it in an executor package)."""
    return "polars"


@pytest.fixture
def jobforge_executor_settings() -> Settings:
    """Plugin settings of the runs (``PipelineConfig(plugin_settings=...)``):
    none unless an executor package overrides it."""
    return {}


def _engine(tmp_path: Path, executor: str, settings: Settings) -> tuple[PipelineEngine, Path]:
    source = tmp_path / "t.csv"
    source.write_text(SOURCE, encoding="utf-8")
    config = PipelineConfig(tmp_path / "data", executor=executor, plugin_settings=settings)
    return PipelineEngine(config), source


def _read(path: Path | None) -> pl.DataFrame:
    assert path is not None and path.exists(), path
    return literal.scan_parquet(path).collect().sort("_source_row")


def _set_apart(engine: PipelineEngine, area: str) -> pl.DataFrame:
    files = engine.config.store.set_apart_files("t", area)
    assert len(files) == 1, files
    return _read(files[0])


def test_executor_is_the_one_named(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, _ = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    assert engine.executor.name == jobforge_executor_name


def test_staged_fidelity_and_reader_rejects(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    result = engine.ingest(source, "t")
    assert (result.rows, result.rows_quarantined) == (7, 1)
    staged = _read(result.path)
    assert staged.columns == STAGED_ORDER
    assert staged.get_column("_source_row").to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert staged.get_column("n").to_list() == ["5", "x", "5", " 12 ", "-7", "6", "8.5"]
    assert staged.get_column("when").to_list()[3] == ""  # an empty field is empty text
    assert set(staged.get_column("_layer")) == {"staged"}
    assert set(staged.get_column("_batch_id")) == {result.batch_id}
    assert staged.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert staged.schema["_source_row"] == pl.Int64
    rejected = _set_apart(engine, "staged")
    assert rejected.get_column("_source_row").to_list() == [8]
    assert rejected.get_column("layer").to_list() == ["staged"]
    assert rejected.get_column("severity").to_list() == ["error"]
    assert rejected.get_column("column").to_list() == [None]
    assert json.loads(rejected["row"][0]) == ["G7", "9", "2020-01-01", "yes", "x", "extra"]
    record = result.record
    assert record is not None
    assert (record.row_count_in, record.row_count_out, record.rows_quarantined) == (8, 7, 1)


def test_bronze_casts_and_their_failures(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    result = engine.promote_to_bronze("t", BRONZE)
    ledger = result.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (7, 4, 3)
    assert ledger.balanced
    bronze = _read(result.path)
    assert bronze.get_column("_source_row").to_list() == [1, 3, 4, 5]
    assert bronze.get_column("n").to_list() == [5, 5, 12, -7]
    assert bronze.schema["n"] == pl.Int64
    assert bronze.schema["when"] == pl.Date
    assert [str(d) if d else None for d in bronze["when"]] == [
        "2020-01-02",
        "2020-01-02",
        None,
        "2021-02-03",
    ]
    assert bronze.get_column("flag").to_list() == [True, True, True, False]
    assert set(bronze.get_column("_layer")) == {"bronze"}
    assert bronze.columns[-1] == "_processed_at"
    bad = _read(result.quarantine_path)
    assert bad.get_column("_source_row").to_list() == [2, 6, 7]
    assert bad.get_column("rule_id").to_list() == ["cast:n", "cast:when", "cast:n"]
    assert bad.get_column("column").to_list() == ["n", "when", "n, flag"]
    assert bad.get_column("message").to_list() == [
        "n: cannot cast 'x' to int",
        "when: cannot cast '2021-13-01' to date",
        "n: cannot cast '8.5' to int; flag: cannot cast 'maybe' to bool",
    ]
    assert json.loads(bad["row"][2]) == {
        "code": "F6",
        "n": "8.5",
        "when": "2022-03-04",
        "flag": "maybe",
        "note": "two",
    }
    assert set(bad.get_column("layer")) == {"bronze"}


def test_silver_rules_and_exact_duplicates(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    engine.promote_to_bronze("t", BRONZE)
    result = engine.promote_to_silver("t", SILVER)
    record = result.record
    ledger = record.ledger
    assert (ledger.rows_in, ledger.rows_out) == (4, 2)
    assert (ledger.rows_quarantined, ledger.rows_deduplicated, ledger.rows_warned) == (1, 1, 1)
    assert ledger.balanced
    assert record.rule_counts == {"positive": 1, "no_spaces": 1}
    silver = _read(result.path)
    assert silver.get_column("_source_row").to_list() == [1, 4]
    assert set(silver.get_column("_layer")) == {"silver"}
    bad = _read(result.quarantine_path)
    assert bad.select("_source_row", "rule_id", "column", "message").rows() == [
        (5, "positive", "n", "n must be positive")
    ]
    assert json.loads(bad["row"][0]) == {
        "code": "D4",
        "n": -7,
        "when": "2021-02-03",
        "flag": False,
        "note": "negative",
    }
    dups = _read(result.duplicates_path)
    assert dups.select("_source_row", "duplicate_of", "table_name").rows() == [(3, 1, "t")]
    assert json.loads(dups["row"][0]) == {
        "code": "A1",
        "n": 5,
        "when": "2020-01-02",
        "flag": True,
        "note": "first",
    }


def test_gold_sql_with_lineage(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    batch = engine.ingest(source, "t").batch_id
    engine.promote_to_bronze("t", BRONZE)
    engine.promote_to_silver("t", SILVER)
    result = engine.promote_to_gold(GOLD)
    gold = literal.scan_parquet(result.path).collect()
    assert gold.get_column("flag").to_list() == [True]
    assert gold.get_column("k").to_list() == [2]
    assert gold.get_column("total").to_list() == [17]
    assert sorted(gold["_lineage"][0]) == [f"t:{batch}:1", f"t:{batch}:4"]
    assert set(gold.get_column("_layer")) == {"gold"}
    assert result.record.ledger.rows_in == 2


def test_failure_leaves_the_version_and_records_it(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    with pytest.raises(TransitionError) as caught:
        engine.promote_to_bronze("t", BronzeSchema(required=["missing"]))
    assert "bronze t: missing source column(s) 'missing'" in str(caught.value)
    assert engine.current("bronze", "t") is None
    records = sorted((engine.config.catalog_lineage_path() / "t").glob("*.json"))
    statuses = [json.loads(p.read_text(encoding="utf-8"))["status"] for p in records]
    assert statuses[-1] == "failed"
