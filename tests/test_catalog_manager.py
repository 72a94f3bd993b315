"""Issue 5: CatalogManager — entries keyed by layer, schema versions, glossary
references, lineage walks and validation of every catalog file read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import polars as pl
import pyarrow.parquet as pq
import pytest
from jobforge_catalog_json.paths import schema_history_file_for, table_file_for
from jobforge_catalog_json.schemas import catalog_schemas, ensure_schemas

from jobforge.catalog.declarations import ColumnDeclaration, TableDeclaration
from jobforge.catalog.entries import build_entry
from jobforge.catalog.glossary import GlossaryTerm
from jobforge.catalog.manager import CatalogManager, split_key
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import versions

from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
NOC_RENAME = {"Code - NOC 2021 V1.0": "code", "Level": "level"}


@pytest.fixture
def config(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(tmp_path / "data", entry_points=False)


@pytest.fixture
def engine(config: PipelineConfig) -> PipelineEngine:
    return PipelineEngine(config)


def _noc_pipeline(engine: PipelineEngine, **kwargs: object) -> None:
    engine.run_full_pipeline(
        NOC,
        "noc",
        "noc",
        bronze_schema=BronzeSchema(rename=NOC_RENAME, cast={"level": "int"}),
        silver=SilverSpec(dedupe=["code"]),
        **kwargs,  # type: ignore[arg-type]
    )


# -- entries ---------------------------------------------------------------------------------
def test_entries_are_keyed_by_layer_and_table(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    catalog = CatalogManager(engine.config)
    staged, bronze = catalog.get("staged", "noc"), catalog.get("bronze", "noc")
    assert staged.columns[2].name == "Code - NOC 2021 V1.0"
    assert bronze.columns[2].name == "code"
    assert [c.data_type for c in staged.columns[:1]] == ["String"]
    assert [c.data_type for c in bronze.columns[:1]] == ["Int64"]  # level, cast
    assert [e.key for e in catalog.list_tables()] == ["staged.noc", "bronze.noc", "silver.noc"]
    assert [e.key for e in catalog.list_tables(layer="silver")] == ["silver.noc"]
    assert catalog.list_tables(domain="labour") == []
    assert catalog.domains() == ["noc"]
    assert catalog.load("gold", "noc") is None
    with pytest.raises(CatalogError, match=r"no catalog entry for gold\.noc"):
        catalog.get("gold", "noc")


def test_save_and_load_round_trip(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    catalog = CatalogManager(engine.config)
    entry = catalog.get("silver", "noc")
    changed = entry.model_copy(update={"description": "NOC hierarchy", "data_owner": "statcan"})
    path = catalog.save(changed)
    assert path == table_file_for(engine.config, "silver", "noc")
    assert catalog.get("silver", "noc") == changed


def test_save_refuses_an_unknown_glossary_term(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    catalog = CatalogManager(engine.config)
    entry = catalog.get("silver", "noc")
    path = table_file_for(engine.config, "silver", "noc")
    before = path.read_bytes()
    columns = [c.model_copy() for c in entry.columns]
    columns[0].glossary_term_id = "no_such_term"
    with pytest.raises(CatalogError, match=r"silver\.noc\.level: glossary term 'no_such_term'"):
        catalog.save(entry.model_copy(update={"columns": columns}))
    assert path.read_bytes() == before
    catalog.save_term(GlossaryTerm(id="no_such_term", name="Now it exists", definition="d"))
    catalog.save(entry.model_copy(update={"columns": columns}))
    assert catalog.get("silver", "noc").columns[0].glossary_term_id == "no_such_term"
    assert catalog.term("no_such_term").name == "Now it exists"


def test_a_declaration_with_an_unknown_glossary_term_is_refused_before_anything_is_written(
    config: PipelineConfig, engine: PipelineEngine
) -> None:
    bad = TableDeclaration(columns={"code": ColumnDeclaration(glossary_term="noc_code")})
    with pytest.raises(CatalogError) as error:
        engine.ingest(NOC, "noc", "noc", declaration=bad)
    assert str(error.value) == (
        "declaration of noc, column 'code': glossary term 'noc_code' does not exist in "
        f"{config.catalog_glossary_path()}"
    )
    assert not (config.staged_path() / "noc").exists()
    assert not (config.catalog_lineage_path() / "noc").exists()

    engine.ingest(NOC, "noc", "noc")
    with pytest.raises(CatalogError, match="glossary term 'noc_code' does not exist"):
        engine.promote_to_bronze("noc", BronzeSchema(rename=NOC_RENAME), declaration=bad)
    assert not (config.bronze_path() / "noc").exists()
    assert len(CatalogManager(config).lineage_records("noc")) == 1  # the ingestion only

    CatalogManager(config).save_term(
        GlossaryTerm(id="noc_code", name="NOC code", definition="A NOC 2021 code.")
    )
    engine.promote_to_bronze("noc", BronzeSchema(rename=NOC_RENAME), declaration=bad)
    code = next(c for c in CatalogManager(config).get("bronze", "noc").columns if c.name == "code")
    assert code.glossary_term_id == "noc_code"


def test_schema_version_changes_with_the_schema_and_history_is_kept(
    engine: PipelineEngine,
) -> None:
    engine.ingest(NOC, "noc", "noc")
    catalog = CatalogManager(engine.config)
    engine.promote_to_bronze("noc", BronzeSchema(rename=NOC_RENAME))
    first = catalog.get("bronze", "noc").schema_version
    engine.promote_to_bronze("noc", BronzeSchema(rename=NOC_RENAME))  # same schema again
    assert catalog.get("bronze", "noc").schema_version == first
    assert len(catalog.schema_history("bronze", "noc")) == 1
    engine.promote_to_bronze("noc", BronzeSchema(rename=NOC_RENAME, cast={"level": "int"}))
    second = catalog.get("bronze", "noc").schema_version
    assert second != first
    history = catalog.schema_history("bronze", "noc")
    assert [h.schema_version for h in history] == [first, second]
    assert history[0].columns[0] == ("level", "String")
    assert history[1].columns[0] == ("level", "Int64")
    assert history[0].first_seen < history[1].first_seen
    # staged never changed
    assert len(catalog.schema_history("staged", "noc")) == 1


def test_building_an_entry_reads_only_footers_and_first_rows(
    config: PipelineConfig, tmp_path: Path
) -> None:
    """A file whose fourth row group is garbage cannot be read in full, yet its
    entry is built: the profile never touches anything but the footer and the
    first row group."""
    PipelineEngine(config)
    frame = pl.DataFrame({"n": range(300_000), "text": [f"t-{i}" for i in range(300_000)]})
    path = tmp_path / "big.parquet"
    frame.write_parquet(path, row_group_size=50_000, compression="uncompressed")
    column = pq.read_metadata(path).row_group(3).column(1)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    with pytest.raises(pl.exceptions.ComputeError):
        pl.read_parquet(path)
    entry = build_entry(
        config,
        layer="gold",
        table="big",
        domain="",
        files=[path],
        table_dir=tmp_path,
        now=datetime.now(UTC),
    )
    assert (entry.row_count, entry.column_count) == (300_000, 2)
    assert [c.data_type for c in entry.columns] == ["Int64", "String"]
    assert entry.columns[1].example_values == ["t-0", "t-1", "t-2"]
    assert entry.columns[0].nullable is False


# -- schemas ---------------------------------------------------------------------------------
def test_the_engine_writes_the_json_schemas_of_every_catalog_file(config: PipelineConfig) -> None:
    engine = PipelineEngine(config)
    # an engine alone writes nothing: a data root that never received a table
    # gets no schema files
    assert not config.data_root.exists()
    engine.ingest(REAL_DATA / "noc2021_onet26.csv", "onet")
    names = sorted(p.name for p in config.catalog_schemas_path().iterdir())
    assert names == [
        "ColumnMetadata.schema.json",
        "GlossaryTerm.schema.json",
        "IngestionRecord.schema.json",
        "LayerTransitionLog.schema.json",
        "ProvenanceColumns.schema.json",
        "RowLedger.schema.json",
        "SchemaHistory.schema.json",
        "TableMetadata.schema.json",
        "TransitionRecord.schema.json",
    ]
    for path in config.catalog_schemas_path().iterdir():
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text("utf-8")))
    assert ensure_schemas(config) == []  # up to date: nothing rewritten
    stale = config.catalog_schemas_path() / "TableMetadata.schema.json"
    stale.write_text("{}", encoding="utf-8")
    assert ensure_schemas(config) == [stale]
    # what is written (made once a process) is each model's schema as pydantic gives it now
    fresh = catalog_schemas()
    for path in config.catalog_schemas_path().iterdir():
        name = path.name.removesuffix(".schema.json")
        assert path.read_text("utf-8") == json.dumps(fresh[name], indent=2, sort_keys=True) + "\n"


def test_an_invalid_entry_is_rejected_by_the_json_schema_too(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    schema = json.loads(
        (engine.config.catalog_schemas_path() / "TableMetadata.schema.json").read_text("utf-8")
    )
    entry = json.loads(table_file_for(engine.config, "silver", "noc").read_text("utf-8"))
    jsonschema.validate(entry, schema)
    entry["row_count"] = -1
    with pytest.raises(jsonschema.ValidationError, match="-1 is less than the minimum of 0"):
        jsonschema.validate(entry, schema)


# -- invalid files are errors, never skipped ----------------------------------------------------
def test_an_invalid_table_entry_is_an_error_naming_its_path(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    catalog = CatalogManager(engine.config)
    path = table_file_for(engine.config, "bronze", "noc")
    data = json.loads(path.read_text("utf-8"))
    data["row_count"] = -1
    path.write_text(json.dumps(data), encoding="utf-8")
    expected = f"{path}: not a valid table metadata entry: row_count: Input should be greater"
    with pytest.raises(CatalogError, match="^" + expected.replace(".", r"\.")):
        catalog.load("bronze", "noc")
    with pytest.raises(CatalogError, match="not a valid table metadata entry"):
        catalog.list_tables()
    with pytest.raises(CatalogError, match="not a valid table metadata entry"):
        catalog.validate()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"not a valid table metadata entry: Invalid JSON"):
        catalog.list_tables(layer="bronze")


def test_an_entry_filed_under_another_layer_is_an_error(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    silver = table_file_for(engine.config, "silver", "noc")
    gold = table_file_for(engine.config, "gold", "noc")
    gold.parent.mkdir(parents=True, exist_ok=True)
    gold.write_bytes(silver.read_bytes())
    with pytest.raises(CatalogError, match=r"describes silver\.noc, expected gold\.noc"):
        CatalogManager(engine.config).list_tables()


def test_invalid_lineage_glossary_history_and_pointer_files_are_errors(
    engine: PipelineEngine,
) -> None:
    _noc_pipeline(engine)
    config = engine.config
    catalog = CatalogManager(config)
    record = sorted((config.catalog_lineage_path() / "noc").glob("*.json"))[0]
    original = record.read_text("utf-8")
    broken = json.loads(original)
    broken["source_sha256"] = "not-a-digest"
    record.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(CatalogError, match=f"^{record}: not a valid lineage record: ingestion"):
        catalog.lineage_records()
    with pytest.raises(CatalogError, match="not a valid lineage record"):
        catalog.upstream("silver", "noc")
    record.write_text(original, encoding="utf-8")

    term = config.catalog_glossary_path() / "noc_code.json"
    term.write_text(json.dumps({"id": "noc_code", "name": ""}), encoding="utf-8")
    with pytest.raises(CatalogError, match=f"^{term}: not a valid glossary term: name"):
        catalog.glossary()
    term.unlink()

    history = schema_history_file_for(config, "silver", "noc")
    history.write_text('[{"schema_version": 1}]', encoding="utf-8")
    with pytest.raises(CatalogError, match=f"^{history}: not a valid schema history"):
        catalog.schema_history("silver", "noc")
    history.unlink()

    pointer = config.silver_path() / "noc" / "_current.json"
    pointer.write_text('{"table": "noc"}', encoding="utf-8")
    with pytest.raises(CatalogError, match=f"^{pointer}: not a valid version pointer"):
        catalog.upstream("silver", "noc")


def test_hidden_temporary_files_are_not_catalog_files(engine: PipelineEngine) -> None:
    _noc_pipeline(engine)
    tables = engine.config.catalog_tables_path() / "silver"
    (tables / ".jobforge-tmp-0123-noc.json").write_text("{half written", encoding="utf-8")
    assert [e.key for e in CatalogManager(engine.config).list_tables(layer="silver")] == [
        "silver.noc"
    ]


# -- lineage -----------------------------------------------------------------------------------
def test_upstream_follows_the_batches_each_version_was_built_from(
    engine: PipelineEngine,
) -> None:
    """staged keeps every batch; silver and a gold built earlier each lead to
    exactly the batch they were built from."""
    config = engine.config
    _noc_pipeline(engine)
    first_batch = versions.read_current(config.silver_path(), "noc").batches[0].batch_id
    engine.promote_to_gold(GoldSpec(name="g", inputs=["noc"], sql="SELECT * FROM noc"))
    _noc_pipeline(engine, force=True)  # the same file again: a second batch
    staged = versions.read_current(config.staged_path(), "noc")
    assert len(staged.batches) == 2
    second_batch = staged.batches[1].batch_id
    catalog = CatalogManager(config)

    silver = catalog.upstream("silver", "noc")
    assert silver.tables == ["silver.noc", "bronze.noc", "staged.noc"]
    assert [s.batch_id for s in silver.sources] == [second_batch]
    assert silver.node("staged.noc").batch_ids == (second_batch,)
    assert silver.node("silver.noc").inputs == ("bronze.noc",)
    assert silver.node("silver.noc").records[0].ledger.rows_out == 822

    gold = catalog.upstream("gold", "g")
    assert [s.batch_id for s in gold.sources] == [first_batch]
    assert gold.sources[0].source_file == NOC.as_posix()

    downstream = catalog.downstream_of_source(NOC)
    assert [(d.key, len(d.batch_ids), d.current) for d in downstream] == [
        ("staged.noc", 2, True),
        ("bronze.noc", 2, True),
        ("silver.noc", 2, True),
        ("gold.g", 1, True),
    ]


def test_batch_records_and_a_gap_in_the_lineage(engine: PipelineEngine) -> None:
    config = engine.config
    _noc_pipeline(engine)
    catalog = CatalogManager(config)
    batch = versions.read_current(config.silver_path(), "noc").batches[0].batch_id
    records = catalog.batch_records(batch)
    assert [r.record_type for r in records] == ["ingestion", "transition", "transition"]
    bronze_record = next(
        p for p in (config.catalog_lineage_path() / "noc").glob("*staged-bronze*.json")
    )
    bronze_record.unlink()
    with pytest.raises(CatalogError, match=rf"bronze\.noc: no lineage record for batch {batch}"):
        catalog.upstream("silver", "noc")
    with pytest.raises(CatalogError, match="no ingestion of this source"):
        catalog.downstream_of_source(REAL_DATA / "caf_job_families.json")
    with pytest.raises(CatalogError, match=r"gold\.noc has no current version"):
        catalog.upstream("gold", "noc")


def test_split_key() -> None:
    assert split_key("gold.dim_noc") == ("gold", "dim_noc")
    with pytest.raises(CatalogError, match=r"expected <layer>\.<table>"):
        split_key("platinum.x")
    with pytest.raises(CatalogError, match=r"expected <layer>\.<table>"):
        split_key("dim_noc")
