"""Issue 5: the catalog after a full run over the nine real source files.

Every figure asserted here was counted by hand from the source files (with the
``csv``/``json`` modules, independently of jobforge); the comments say how.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from jobforge.catalog.declarations import ColumnDeclaration, TableDeclaration
from jobforge.catalog.glossary import GlossaryTerm, save_term
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import versions

from .conftest import REAL_DATA

YEARS = [str(year) for year in range(2023, 2034)]

EMPLOYMENT = "employment_emploi_2024_2033_noc2021.csv"
NOC = "noc_structure_en.csv"
DUTIES = "main-duties_oasis-2023_v1.0.csv"
SKILLS = "skills_oasis_2023_v1.0.csv"
ABILITIES = "abilities_oasis_2023_v1.0.csv"
ONET = "noc2021_onet26.csv"
OG = "og_subgroups_en.json"
AGREEMENTS = "collective_agreements.json"
CAF = "caf_job_families.json"

# source file -> table it is ingested into
TABLES = {
    NOC: "noc_structure",
    EMPLOYMENT: "employment",
    DUTIES: "main_duties",
    SKILLS: "skills",
    ABILITIES: "abilities",
    ONET: "noc_onet",
    OG: "og_subgroups",
    AGREEMENTS: "agreements",
    CAF: "caf_job_families",
}

# gold table -> the source files its lineage must reach
GOLD_SOURCES = {
    "dim_noc": {NOC},
    "noc_broad_summary": {NOC},  # built on gold.dim_noc
    "employment_by_noc": {EMPLOYMENT, NOC},
    "oasis_profile": {SKILLS, ABILITIES},
    "duties_per_profile": {DUTIES},
    "noc_onet_map": {NOC, ONET},  # gold.dim_noc joined with silver.noc_onet
    "og_agreements": {OG, AGREEMENTS},
    "caf_families": {CAF},
}


@dataclass
class RealRun:
    config: PipelineConfig
    engine: PipelineEngine


def build_real_run(data_root: Path) -> RealRun:
    """Run all nine real files through staged, bronze and silver and build eight
    gold tables (shared with ``test_query_real``)."""
    config = PipelineConfig(data_root, entry_points=False)
    engine = PipelineEngine(config)
    save_term(
        config,
        GlossaryTerm(
            id="noc_code",
            name="NOC code",
            definition="Code of an occupation in the National Occupational Classification 2021.",
            owner="Statistics Canada",
        ),
    )
    noc_declaration = TableDeclaration(
        description="The NOC 2021 hierarchy, one row per classification unit.",
        owner="workforce-analytics",
        classification="public",
        columns={"code": ColumnDeclaration(description="NOC code", glossary_term="noc_code")},
    )

    def run(name: str, domain: str, **kwargs: object) -> None:
        engine.run_full_pipeline(REAL_DATA / name, TABLES[name], domain, **kwargs)  # type: ignore[arg-type]

    run(
        NOC,
        "noc",
        bronze_schema=BronzeSchema(
            rename={
                "Code - NOC 2021 V1.0": "code",
                "Level": "level",
                "Hierarchical structure": "hierarchy",
                "Class title": "class_title",
                "Class definition": "class_definition",
            },
            cast={"level": "int"},
        ),
        silver=SilverSpec(
            dedupe=["code"], rules=[Rule(id="level", expression="level BETWEEN 1 AND 5")]
        ),
        declaration=noc_declaration,
    )
    # Years cast to int without null_values: the 31 rows with "N/A" go to quarantine
    # in bronze; codes that are not 5 characters (NOC1_*, TEER_*: 16 rows) in silver.
    run(
        EMPLOYMENT,
        "labour",
        bronze_schema=BronzeSchema(
            rename={"Code": "code", "Occupation Name": "occupation"},
            cast={year: "int" for year in YEARS},
        ),
        silver=SilverSpec(dedupe=["code"], rules=[Rule(id="unit", expression="LENGTH(code) = 5")]),
    )
    run(
        DUTIES,
        "oasis",
        bronze_schema=BronzeSchema(
            rename={"OaSIS profile code": "oasis_code", "Main duties": "duty"}
        ),
    )
    run(SKILLS, "oasis", bronze_schema=BronzeSchema(snake_case=True))
    run(ABILITIES, "oasis", bronze_schema=BronzeSchema(snake_case=True))
    run(ONET, "noc", silver=SilverSpec(dedupe=["noc"]))
    run(OG, "public_service")
    run(AGREEMENTS, "public_service")
    run(CAF, "defence")

    golds = [
        GoldSpec(
            name="dim_noc",
            inputs=["noc_structure"],
            domain="noc",
            sql="SELECT code, class_title, class_definition, _lineage "
            "FROM noc_structure WHERE level = 5",
        ),
        GoldSpec(
            name="noc_broad_summary",
            inputs=["dim_noc"],
            domain="noc",
            sql="SELECT substr(code, 1, 1) AS broad_category, count(*) AS unit_groups, "
            "flatten(list(_lineage)) AS _lineage FROM dim_noc GROUP BY 1",
        ),
        GoldSpec(
            name="employment_by_noc",
            inputs=["employment", "noc_structure"],
            domain="labour",
            sql='SELECT e.code, n.class_title, e."2023", e."2033", '
            "list_concat(e._lineage, n._lineage) AS _lineage "
            "FROM employment e JOIN noc_structure n ON e.code = n.code",
        ),
        GoldSpec(
            name="oasis_profile",
            inputs=["skills", "abilities"],
            domain="oasis",
            sql="SELECT s.oa_sis_code_final AS oasis_code, s.reading_comprehension, "
            "a.deductive_reasoning, list_concat(s._lineage, a._lineage) AS _lineage "
            "FROM skills s JOIN abilities a ON s.oa_sis_code_final = a.oa_sis_code_final",
        ),
        GoldSpec(
            name="duties_per_profile",
            inputs=["main_duties"],
            domain="oasis",
            sql="SELECT oasis_code, count(*) AS duties, flatten(list(_lineage)) AS _lineage "
            "FROM main_duties GROUP BY oasis_code",
        ),
        GoldSpec(
            name="noc_onet_map",
            inputs=["dim_noc", "noc_onet"],
            domain="noc",
            sql="SELECT d.code, o.onet, o.onet_title, list_concat(d._lineage, o._lineage) "
            "AS _lineage FROM dim_noc d JOIN noc_onet o ON lpad(o.noc, 5, '0') = d.code",
        ),
        GoldSpec(
            name="og_agreements",
            inputs=["og_subgroups", "agreements"],
            domain="public_service",
            sql="SELECT s.subgroup_code, a.agreement_name, "
            "list_concat(s._lineage, a._lineage) AS _lineage "
            "FROM og_subgroups s JOIN agreements a ON s.og_code = a.og_code",
        ),
        GoldSpec(
            name="caf_families",
            inputs=["caf_job_families"],
            domain="defence",
            sql="SELECT family_id, family_name, _lineage FROM caf_job_families",
        ),
    ]
    for spec in golds:
        engine.promote_to_gold(spec)
    return RealRun(config, engine)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    return build_real_run(tmp_path_factory.mktemp("real") / "data")


def _current_files(config: PipelineConfig, layer: Layer, table: str) -> list[Path]:
    layer_dir = config.layer_path(layer)
    current = versions.read_current(layer_dir, table)
    assert current is not None, f"{layer.value}.{table} has no current version"
    return current.files(versions.table_dir(layer_dir, table))


def _expected_tables() -> dict[Layer, set[str]]:
    layered = set(TABLES.values())
    return {
        Layer.STAGED: layered,
        Layer.BRONZE: layered,
        Layer.SILVER: layered,
        Layer.GOLD: set(GOLD_SOURCES),
    }


def test_every_layer_has_an_entry_for_every_table(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)
    for layer, tables in _expected_tables().items():
        listed = {entry.table_name for entry in catalog.list_tables(layer=layer)}
        assert listed == tables, layer
    assert len(catalog.list_tables()) == 9 * 3 + 8


def test_entries_agree_with_the_parquet_files(real_run: RealRun) -> None:
    import polars as pl

    catalog = CatalogManager(real_run.config)
    for layer, tables in _expected_tables().items():
        for table in tables:
            entry = catalog.get(layer, table)
            files = _current_files(real_run.config, layer, table)
            rows = sum(pq.read_metadata(f).num_rows for f in files)
            schema = pl.read_parquet_schema(files[0])
            assert entry.row_count == rows, entry.key
            assert entry.column_count == len(schema), entry.key
            assert [(c.name, c.data_type) for c in entry.columns] == [
                (name, str(dtype)) for name, dtype in schema.items()
            ], entry.key
            assert entry.file_size_bytes == sum(f.stat().st_size for f in files)


def test_row_counts_match_the_source_files(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)

    def rows(layer: str, table: str) -> int:
        return catalog.get(layer, table).row_count

    # employment: 533 records; 31 have "N/A" in every year column (bronze
    # quarantine); 10 NOC1_* and 6 TEER_* codes fail the 5-character rule.
    assert (rows("staged", "employment"), rows("bronze", "employment")) == (533, 502)
    assert rows("silver", "employment") == 486
    # noc_structure: 822 records, 516 of them at level 5 (unit groups).
    assert rows("silver", "noc_structure") == 822
    assert rows("gold", "dim_noc") == 516
    # 485 of the 486 employment codes are unit groups ("00000" is not).
    assert rows("gold", "employment_by_noc") == 485
    # unit groups start with 10 different digits
    assert rows("gold", "noc_broad_summary") == 10
    # crosswalk: 1467 records, 515 distinct NOC codes, each a unit group once zero-padded
    assert (rows("staged", "noc_onet"), rows("silver", "noc_onet")) == (1467, 515)
    assert rows("gold", "noc_onet_map") == 515
    # main duties: 4991 duties of 900 profiles
    assert (rows("silver", "main_duties"), rows("gold", "duties_per_profile")) == (4991, 900)
    # skills and abilities: 900 profiles each, the same 900 codes
    assert rows("gold", "oasis_profile") == 900
    # 28 agreements x 130 subgroups on og_code: 124 pairs
    assert rows("gold", "og_agreements") == 124
    assert rows("gold", "caf_families") == 11


def test_every_catalog_file_validates_against_its_json_schema(real_run: RealRun) -> None:
    config = real_run.config
    schemas_dir = config.catalog_schemas_path()

    def schema(name: str) -> dict[str, object]:
        return json.loads((schemas_dir / f"{name}.schema.json").read_text("utf-8"))

    checked = 0
    for path in sorted(config.catalog_tables_path().rglob("*.json")):
        name = "SchemaHistory" if path.parent.name == "_history" else "TableMetadata"
        jsonschema.validate(json.loads(path.read_text("utf-8")), schema(name))
        checked += 1
    for path in sorted(config.catalog_lineage_path().rglob("*.json")):
        record = json.loads(path.read_text("utf-8"))
        name = "IngestionRecord" if record["record_type"] == "ingestion" else "TransitionRecord"
        jsonschema.validate(record, schema(name))
        checked += 1
    for path in sorted(config.catalog_glossary_path().glob("*.json")):
        jsonschema.validate(json.loads(path.read_text("utf-8")), schema("GlossaryTerm"))
        checked += 1
    # 35 entries + 35 schema histories; 9 ingestions + 27 bronze/silver + 8 gold
    # transitions; 1 glossary term
    assert checked == 35 + 35 + 9 + 9 * 2 + 8 + 1
    assert CatalogManager(config).validate() == checked


def test_declared_and_default_business_metadata(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)
    for layer in ("staged", "bronze", "silver"):
        entry = catalog.get(layer, "noc_structure")
        assert entry.description == "The NOC 2021 hierarchy, one row per classification unit."
        assert (entry.data_owner, entry.classification) == ("workforce-analytics", "public")
    code = next(c for c in catalog.get("silver", "noc_structure").columns if c.name == "code")
    assert (code.description, code.glossary_term_id) == ("NOC code", "noc_code")
    assert code.source_columns == ["bronze.noc_structure.code"]
    bronze_code = next(
        c for c in catalog.get("bronze", "noc_structure").columns if c.name == "code"
    )
    assert bronze_code.source_columns == ["staged.noc_structure.Code - NOC 2021 V1.0"]
    title = next(
        c for c in catalog.get("gold", "employment_by_noc").columns if c.name == "class_title"
    )
    assert title.source_columns == ["silver.noc_structure.class_title"]
    onet = next(c for c in catalog.get("gold", "noc_onet_map").columns if c.name == "onet")
    assert onet.source_columns == ["silver.noc_onet.onet"]
    # no declaration: the bundled default says so
    caf = catalog.get("gold", "caf_families")
    assert caf.description.startswith("caf_families in the gold layer (domain defence)")
    lineage_column = next(c for c in caf.columns if c.name == "_lineage")
    assert lineage_column.pii_classification == "none"
    assert {e.table_name for e in catalog.list_tables(layer="gold", domain="noc")} == {
        "dim_noc",
        "noc_broad_summary",
        "noc_onet_map",
    }


def test_upstream_and_downstream_are_kept_in_both_directions(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)
    assert catalog.get("staged", "employment").downstream_tables == ["bronze.employment"]
    assert catalog.get("bronze", "employment").upstream_tables == ["staged.employment"]
    assert catalog.get("silver", "employment").downstream_tables == ["gold.employment_by_noc"]
    assert sorted(catalog.get("silver", "noc_structure").downstream_tables) == [
        "gold.dim_noc",
        "gold.employment_by_noc",
    ]
    assert catalog.get("gold", "dim_noc").upstream_tables == ["silver.noc_structure"]
    assert sorted(catalog.get("gold", "dim_noc").downstream_tables) == [
        "gold.noc_broad_summary",
        "gold.noc_onet_map",
    ]
    assert catalog.get("gold", "noc_onet_map").upstream_tables == [
        "gold.dim_noc",
        "silver.noc_onet",
    ]
    # every upstream link has its downstream twin and vice versa
    entries = {e.key: e for e in catalog.list_tables()}
    for key, entry in entries.items():
        for up in entry.upstream_tables:
            assert key in entries[up].downstream_tables, (key, up)
        for down in entry.downstream_tables:
            assert key in entries[down].upstream_tables, (key, down)


def test_lineage_of_every_gold_table_reaches_its_source_files_and_sha256(
    real_run: RealRun,
) -> None:
    catalog = CatalogManager(real_run.config)
    for gold, names in GOLD_SOURCES.items():
        lineage = catalog.upstream("gold", gold)
        found = {(Path(s.source_file).name, s.sha256) for s in lineage.sources}
        expected = {
            (name, hashlib.sha256((REAL_DATA / name).read_bytes()).hexdigest()) for name in names
        }
        assert found == expected, gold
        assert {s.table for s in lineage.sources} == {TABLES[n] for n in names}
    chain = catalog.upstream("gold", "noc_broad_summary")
    assert chain.tables == [
        "gold.noc_broad_summary",
        "gold.dim_noc",
        "silver.noc_structure",
        "bronze.noc_structure",
        "staged.noc_structure",
    ]
    (source,) = chain.sources
    assert (source.rows, source.size_bytes) == (822, (REAL_DATA / NOC).stat().st_size)


def test_downstream_of_each_source_file(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)
    downstream = catalog.downstream_of_source(REAL_DATA / NOC)
    assert [d.key for d in downstream] == [
        "staged.noc_structure",
        "bronze.noc_structure",
        "silver.noc_structure",
        "gold.dim_noc",
        "gold.employment_by_noc",
        "gold.noc_broad_summary",
        "gold.noc_onet_map",
    ]
    assert all(d.current for d in downstream)
    digest = hashlib.sha256((REAL_DATA / CAF).read_bytes()).hexdigest()
    assert [d.key for d in catalog.downstream_of_source(digest)][-1] == "gold.caf_families"
    for name, table in TABLES.items():
        keys = [d.key for d in catalog.downstream_of_source(REAL_DATA / name)]
        assert keys[:3] == [f"staged.{table}", f"bronze.{table}", f"silver.{table}"]
        assert {k for k in keys[3:]} == {
            f"gold.{g}" for g, sources in GOLD_SOURCES.items() if name in sources
        }


def test_batch_records_tell_the_whole_story_of_a_batch(real_run: RealRun) -> None:
    catalog = CatalogManager(real_run.config)
    staged = versions.read_current(real_run.config.staged_path(), "employment")
    assert staged is not None
    (batch,) = staged.batches
    records = catalog.batch_records(batch.batch_id)
    kinds = [
        "ingest" if r.record_type == "ingestion" else f"{r.source_layer}->{r.target_layer}"
        for r in records
    ]
    assert kinds == ["ingest", "staged->bronze", "bronze->silver", "silver->gold"]
    ingest, bronze, silver, gold = records
    assert ingest.row_count_out == 533
    assert bronze.ledger.rows_quarantined == 31
    assert (silver.ledger.rows_quarantined, silver.row_count_out) == (16, 486)
    assert gold.table_name == "employment_by_noc"
