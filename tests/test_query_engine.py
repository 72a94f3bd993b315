"""Issue 5: the query engine — read-only guarantees, quoting of odd names,
refresh, parameters and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from jobforge_catalog_json.paths import table_file_for

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.errors import CatalogError, QueryError
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine

from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"


@pytest.fixture(params=["parquet", "delta"])
def pipeline(tmp_path: Path, request: pytest.FixtureRequest) -> PipelineEngine:
    """noc_structure_en.csv as table ``odd-name`` with a column ``"Class title "``
    (trailing space), and a gold table ``odd-gold`` of its 516 unit groups; in
    parquet files and in Delta tables (whose views read delta-rs' Arrow datasets)."""
    config = PipelineConfig(tmp_path / "data", entry_points=False, storage_format=request.param)
    engine = PipelineEngine(config)
    engine.run_full_pipeline(
        NOC,
        "odd-name",
        "noc",
        bronze_schema=BronzeSchema(rename={"Class title": "Class title "}),
        silver=SilverSpec(dedupe="none"),
    )
    engine.promote_to_gold(
        GoldSpec(
            name="odd-gold",
            inputs=["odd-name"],
            sql='SELECT "Code - NOC 2021 V1.0" AS "code", "Class title ", _lineage '
            'FROM "odd-name" WHERE "Level" = \'5\'',
        )
    )
    return engine


@pytest.fixture
def engine(pipeline: PipelineEngine) -> Iterator[QueryEngine]:
    with QueryEngine(pipeline.config) as engine:
        yield engine


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- odd names ---------------------------------------------------------------------------------
def test_odd_table_and_column_names_are_quoted(engine: QueryEngine) -> None:
    assert {r.key for r in engine.relations()} >= {
        "staged.odd-name",
        "bronze.odd-name",
        "silver.odd-name",
        "gold.odd-gold",
    }
    # the first record of the file: Level 1, "Legislative and senior management occupations"
    first = engine.query(
        'SELECT "Class title " FROM silver."odd-name" WHERE _source_row = 1'
    ).item()
    assert first == "Legislative and senior management occupations"
    assert engine.query('SELECT count(*) FROM silver."odd-name" WHERE "Level" = \'1\'').item() == 10
    assert engine.query('SELECT count(*) FROM gold."odd-gold"').item() == 516
    rows = engine.query_with_provenance(
        "odd-name", layer="silver", columns=["Class title "], where="_source_row <= 2"
    )
    assert rows.columns[:2] == ["Class title ", "_source_file"]
    assert len(rows) == 2
    lineage = engine.get_lineage("odd-gold")
    assert lineage.select("input_table", "rows", "first_source_row").rows() == [
        ("odd-name", 516, 5)
    ]
    columns = engine.query(
        "SELECT name FROM catalog.columns WHERE layer = 'gold' AND table_name = 'odd-gold' "
        "ORDER BY position"
    )
    assert columns["name"].to_list()[:2] == ["code", "Class title "]


# -- read-only ---------------------------------------------------------------------------------
def test_settings_are_locked_down(engine: QueryEngine, pipeline: PipelineEngine) -> None:
    settings = engine.query(
        "SELECT current_setting('enable_external_access') AS external, "
        "current_setting('lock_configuration') AS locked, "
        "current_setting('autoinstall_known_extensions') AS autoinstall, "
        "current_setting('autoload_known_extensions') AS autoload, "
        "current_setting('allowed_directories') AS directories, "
        "current_setting('temp_directory') AS temp, "
        "current_setting('allowed_paths') AS paths"
    ).row(0, named=True)
    assert settings["external"] is False
    assert settings["locked"] is True
    assert (settings["autoinstall"], settings["autoload"]) == (False, False)
    assert (settings["directories"], settings["temp"]) == ([], "")
    # exactly the files behind the views: 4 tables, one batch each
    assert len(settings["paths"]) == 4
    assert all(p.endswith(".parquet") for p in settings["paths"])


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("CREATE TABLE t AS SELECT 1 AS x", "CREATE"),
        ("CREATE VIEW v AS SELECT 1 AS x", "CREATE"),
        ("INSERT INTO catalog.tables SELECT * FROM catalog.tables", "INSERT"),
        ("DELETE FROM catalog.tables", "DELETE"),
        ("UPDATE catalog.tables SET row_count = 0", "UPDATE"),
        ('DROP VIEW gold."odd-gold"', "DROP"),
        ("ATTACH ':memory:' AS scratch", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD httpfs", "LOAD"),
        ("LOAD json", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("CHECKPOINT", "CALL"),
        ("BEGIN TRANSACTION", "TRANSACTION"),
    ],
)
def test_statements_that_are_not_select_are_refused(
    engine: QueryEngine, sql: str, statement: str
) -> None:
    with pytest.raises(QueryError) as error:
        engine.query(sql)
    assert str(error.value) == (
        f"read-only query interface: {statement} statements are not allowed "
        "(only SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run here)"
    )
    # nothing changed
    assert engine.query('SELECT count(*) FROM gold."odd-gold"').item() == 516
    assert engine.query("SELECT count(*) FROM catalog.tables").item() == 4


def test_a_query_cannot_write_or_copy_files(
    engine: QueryEngine, pipeline: PipelineEngine, tmp_path: Path
) -> None:
    data_root = pipeline.config.data_root
    before = _tree(data_root)
    current = pipeline.config.store.current("gold", "odd-gold")
    assert current is not None
    data_file = pipeline.config.store.file_of("gold", "odd-gold", current.batches[0]).resolve()
    attempts = [
        f"COPY (SELECT 1 AS x) TO '{tmp_path}/out.csv'",
        f"COPY (SELECT 1 AS x) TO '{data_root}/gold/out.parquet'",
        f"COPY (SELECT 1 AS x) TO '{data_file}' (FORMAT parquet, USE_TMP_FILE false)",
        f"COPY gold.\"odd-gold\" TO '{tmp_path}/copy.parquet'",
        f"EXPORT DATABASE '{tmp_path}/export'",
        f"ATTACH '{tmp_path}/other.duckdb' AS other",
        f"ATTACH '{data_root}/gold/file.duckdb' AS other",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp_path}/explained.csv'",
        f"SELECT 1; COPY (SELECT 1) TO '{tmp_path}/second.csv'",
    ]
    for sql in attempts:
        with pytest.raises(QueryError):
            engine.query(sql)
    assert _tree(data_root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_query_cannot_read_files_outside_the_current_versions(
    engine: QueryEngine, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.parquet"
    pl.DataFrame({"secret": [1]}).write_parquet(outside)
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM read_parquet('{outside}')",
        f"SELECT * FROM '{outside}'",
    ]:
        with pytest.raises(QueryError, match="disabled by configuration"):
            engine.query(sql)


def test_explain_of_a_select_is_allowed(engine: QueryEngine) -> None:
    plan = engine.query('EXPLAIN SELECT count(*) FROM gold."odd-gold"')
    assert plan.columns == ["explain_key", "explain_value"]
    assert engine.query('DESCRIBE gold."odd-gold"')["column_name"].to_list()[:2] == [
        "code",
        "Class title ",
    ]


# -- errors, parameters, refresh ------------------------------------------------------------------
def test_bad_sql_is_one_line_of_duckdb_message_without_traceback(engine: QueryEngine) -> None:
    with pytest.raises(QueryError) as error:
        engine.query("SELEC 1")
    assert str(error.value) == 'Parser Error: syntax error at or near "SELEC"'
    assert error.value.__cause__ is None and error.value.__suppress_context__
    with pytest.raises(QueryError) as error:
        engine.query("SELECT * FROM gold.nope")
    assert str(error.value) == "Catalog Error: Table with name nope does not exist!"
    with pytest.raises(QueryError) as error:
        engine.query('SELECT missing FROM gold."odd-gold"')
    assert "\n" not in str(error.value)
    assert str(error.value).startswith('Binder Error: Referenced column "missing" not found')
    with pytest.raises(QueryError, match="empty query"):
        engine.query("  ")
    with pytest.raises(QueryError, match=r"^no table gold\.nope; gold has: gold\.odd-gold$"):
        engine.query_with_provenance("nope")
    with pytest.raises(QueryError, match="has no column"):
        engine.query_with_provenance("odd-gold", columns=["Class title"])  # no trailing space


def test_parameters_are_bound(engine: QueryEngine) -> None:
    query = 'SELECT count(*) FROM silver."odd-name" WHERE "Level" = ?'
    assert engine.query(query, ["2"]).item() == 45
    named = 'SELECT count(*) FROM silver."odd-name" WHERE "Level" = $level'
    assert engine.query(named, {"level": "3"}).item() == 89


def test_refresh_sees_new_tables_and_a_closed_engine_refuses(
    pipeline: PipelineEngine, engine: QueryEngine
) -> None:
    pipeline.promote_to_gold(
        GoldSpec(name="later", inputs=["odd-name"], sql='SELECT * FROM "odd-name"')
    )
    with pytest.raises(QueryError, match="Table with name later does not exist"):
        engine.query("SELECT count(*) FROM gold.later")
    engine.refresh()
    assert engine.query("SELECT count(*) FROM gold.later").item() == 822
    assert engine.query("SELECT count(*) FROM catalog.tables").item() == 5
    engine.close()
    assert engine.closed
    with pytest.raises(QueryError, match="the query engine is closed"):
        engine.query("SELECT 1")


def test_an_invalid_catalog_file_stops_the_engine_with_its_path(
    pipeline: PipelineEngine,
) -> None:
    path = table_file_for(pipeline.config, "gold", "odd-gold")
    entry = json.loads(path.read_text("utf-8"))
    entry["layer"] = "platinum"
    path.write_text(json.dumps(entry), encoding="utf-8")
    with pytest.raises(CatalogError, match=f"^{path}: not a valid table metadata entry: layer"):
        QueryEngine(pipeline.config)


def test_an_empty_data_root_has_the_schemas_and_empty_catalog_tables(tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "empty", entry_points=False)
    config.ensure_layout()
    with QueryEngine(config) as engine:
        assert engine.query("SELECT count(*) FROM catalog.lineage").item() == 0
        schemas = engine.query(
            "SELECT schema_name FROM information_schema.schemata "
            "WHERE catalog_name = 'memory' ORDER BY 1"
        )["schema_name"].to_list()
        assert schemas == [
            "bronze", "catalog", "duplicates", "gold", "main", "quarantine", "silver", "staged",
        ]  # fmt: skip
        assert engine.relations("gold") == []
