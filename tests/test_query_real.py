"""Issue 5: SQL over the layers, the quarantine and the catalog after a full run
over the nine real source files (counts verified by hand from the files)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from jobforge.catalog.manager import CatalogManager
from jobforge.query import QueryEngine

from .conftest import REAL_DATA
from .test_catalog_real import EMPLOYMENT, GOLD_SOURCES, NOC, TABLES, RealRun, build_real_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    return build_real_run(tmp_path_factory.mktemp("real-query") / "data")


@pytest.fixture(scope="module")
def engine(run: RealRun) -> Iterator[QueryEngine]:
    with QueryEngine(run.config) as engine:
        yield engine


def _scalar(engine: QueryEngine, sql: str) -> object:
    return engine.query(sql).item()


def _sha256(name: str) -> str:
    return hashlib.sha256((REAL_DATA / name).read_bytes()).hexdigest()


def test_every_table_of_every_layer_is_a_view(engine: QueryEngine) -> None:
    keys = {r.key for r in engine.relations()}
    for table in TABLES.values():
        for layer in ("staged", "bronze", "silver"):
            assert f"{layer}.{table}" in keys
    assert {r.name for r in engine.relations("gold")} == set(GOLD_SOURCES)
    # only employment had rows rejected, only the crosswalk had duplicates
    assert [r.key for r in engine.relations("quarantine")] == ["quarantine.employment"]
    assert [r.key for r in engine.relations("duplicates")] == ["duplicates.noc_onet"]
    assert [r.name for r in engine.relations("catalog")] == [
        "column_lineage",
        "columns",
        "glossary",
        "lineage",
        "schema_versions",
        "tables",
    ]


def test_gold_views_answer_with_the_counts_of_the_source_files(engine: QueryEngine) -> None:
    assert _scalar(engine, "SELECT count(*) FROM gold.dim_noc") == 516
    assert _scalar(engine, "SELECT count(*) FROM gold.employment_by_noc") == 485
    assert _scalar(engine, "SELECT count(*) FROM gold.og_agreements") == 124
    assert _scalar(engine, "SELECT sum(duties) FROM gold.duties_per_profile") == 4991
    # unit groups per broad category: the first digit of the 516 level-5 codes
    summary = engine.query(
        "SELECT broad_category, unit_groups FROM gold.noc_broad_summary ORDER BY 1"
    )
    assert summary.rows() == [
        ("0", 6), ("1", 60), ("2", 66), ("3", 43), ("4", 52),
        ("5", 37), ("6", 61), ("7", 94), ("8", 29), ("9", 68),
    ]  # fmt: skip
    # unqualified names resolve in gold first, then silver...
    assert _scalar(engine, "SELECT count(*) FROM dim_noc") == 516
    assert _scalar(engine, "SELECT count(*) FROM employment") == 486
    # staged keeps the text exactly as in the file
    assert _scalar(engine, "SELECT \"2023\" FROM staged.employment WHERE Code = '00013'") == "N/A"


def test_quarantine_and_duplicates_views(engine: QueryEngine) -> None:
    by_layer = engine.query(
        "SELECT layer, rule_id, count(*) AS n FROM quarantine.employment GROUP BY ALL ORDER BY 1"
    )
    # 31 records have N/A in every year column (the first cast named is 2023);
    # 10 NOC1_* and 6 TEER_* codes are not 5 characters long
    assert by_layer.rows() == [("bronze", "cast:2023", 31), ("silver", "unit", 16)]
    na = "SELECT count(*) FROM quarantine.employment WHERE json_extract_string(row, '$.\"2033\"')"
    assert _scalar(engine, na + " = 'N/A'") == 31
    teer = "SELECT count(*) FROM quarantine.employment WHERE json_extract_string(row, '$.code')"
    assert _scalar(engine, teer + " LIKE 'TEER_%'") == 6
    first = engine.query(
        "SELECT _source_row, _source_file FROM quarantine.employment "
        "WHERE layer = 'bronze' ORDER BY _source_row LIMIT 1"
    )
    assert first.rows() == [(21, (REAL_DATA / EMPLOYMENT).as_posix())]  # record 21 is 00013
    # 1467 crosswalk records, 515 distinct NOC codes kept
    assert _scalar(engine, "SELECT count(*) FROM duplicates.noc_onet") == 1467 - 515


def test_catalog_tables(run: RealRun, engine: QueryEngine) -> None:
    assert _scalar(engine, "SELECT count(*) FROM catalog.tables") == 35
    assert _scalar(engine, "SELECT count(*) FROM catalog.tables WHERE layer = 'gold'") == 8
    entry = CatalogManager(run.config).get("silver", "employment")
    columns = engine.query(
        "SELECT name, data_type, is_provenance FROM catalog.columns "
        "WHERE layer = 'silver' AND table_name = 'employment' ORDER BY position"
    )
    assert columns.rows() == [(c.name, c.data_type, c.name.startswith("_")) for c in entry.columns]
    # 3 text columns and 11 years, plus 6 provenance columns
    assert len(columns) == 20
    kinds = engine.query(
        "SELECT record_type, target_layer, count(*) FROM catalog.lineage GROUP BY ALL ORDER BY ALL"
    )
    assert kinds.rows() == [
        ("ingestion", "staged", 9),
        ("transition", "bronze", 9),
        ("transition", "gold", 8),
        ("transition", "silver", 9),
    ]
    assert _scalar(
        engine,
        "SELECT source_sha256 FROM catalog.lineage "
        "WHERE record_type = 'ingestion' AND table_name = 'noc_structure'",
    ) == _sha256(NOC)
    assert engine.query("SELECT id, name FROM catalog.glossary").rows() == [
        ("noc_code", "NOC code")
    ]
    assert _scalar(engine, "SELECT count(*) FROM catalog.schema_versions") == 35


def test_get_lineage_summarises_a_gold_table_by_source_file_and_batch(
    run: RealRun, engine: QueryEngine
) -> None:
    lineage = engine.get_lineage("employment_by_noc")
    ingestions = {
        r.table_name: r
        for r in CatalogManager(run.config).lineage_records()
        if r.record_type == "ingestion"
    }
    rows = lineage.select(
        "input_table", "source_sha256", "batch_id", "rows", "source_rows",
        "first_source_row", "last_source_row",
    ).rows()  # fmt: skip
    # 485 employment records (record 18 is the first unit group with figures,
    # 533 the last) each joined to one NOC unit group (records 5 to 822)
    assert rows == [
        ("employment", _sha256(EMPLOYMENT), ingestions["employment"].batch_id, 485, 485, 18, 533),
        ("noc_structure", _sha256(NOC), ingestions["noc_structure"].batch_id, 485, 485, 5, 822),
    ]
    assert lineage["source_file"].to_list() == [
        (REAL_DATA / EMPLOYMENT).as_posix(),
        (REAL_DATA / NOC).as_posix(),
    ]
    assert lineage["ingested_at"].to_list() == [
        ingestions["employment"].started_at,
        ingestions["noc_structure"].started_at,
    ]
    assert lineage["first_ingested_at"].to_list() == lineage["last_ingested_at"].to_list()

    # gold built on gold: ten summary rows made of all 516 unit groups
    summary = engine.get_lineage("noc_broad_summary")
    assert summary.select("input_table", "rows", "source_rows").rows() == [
        ("noc_structure", 10, 516)
    ]
    # a silver table is traced through its own provenance columns: record 1
    # ("00000", all occupations) to 533
    silver = engine.get_lineage("employment", layer="silver")
    assert silver.select("rows", "first_source_row", "last_source_row").rows() == [(486, 1, 533)]


def test_query_with_provenance_keeps_the_provenance_columns(engine: QueryEngine) -> None:
    gold = engine.query_with_provenance("dim_noc", columns=["code"], where="code = '00010'")
    assert gold.columns == ["code", "_lineage", "_layer", "_processed_at"]
    (keys,) = gold["_lineage"].to_list()
    assert len(keys) == 1 and keys[0].startswith("noc_structure:") and keys[0].endswith(":5")
    silver = engine.query_with_provenance(
        "employment", layer="silver", columns=["code", "2033"], order_by="code", limit=1
    )
    assert silver.columns == [
        "code", "2033", "_source_file", "_ingested_at", "_batch_id", "_layer",
        "_source_row", "_processed_at",
    ]  # fmt: skip
    # record 1: "00000", All Occupations, 22,760,800 in 2033
    assert silver.row(0)[:2] == ("00000", 22760800)
    assert silver["_source_row"].item() == 1
    # the plain query returns what the SQL selects, nothing more
    assert engine.query("SELECT code FROM gold.dim_noc LIMIT 1").columns == ["code"]
