"""The catalog store seam: a plugin answering ``jobforge_catalog_store`` with a
store kept in dicts (below, in this test) replaces the JSON files, and every
catalog feature still works through it: a project run with its glossary and
run record, ``CatalogManager`` entries and validation, the lineage answers, the
query views and ``status``; not one catalog file is written under the data root.

Figures checked against the demo's source files (Python's csv module):
``noc_structure_en.csv`` has 822 rows, 516 of them unit groups (level 5), each
with its broad category (level 1) and major group (level 2); every code has as
many digits as its level; ``employment_emploi_2024_2033_noc2021.csv`` has 533
rows with 533 distinct codes. sha256sum of the NOC file: 186bf1dc...1071.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobforge import hookimpl
from jobforge.audit.verify import verify
from jobforge.catalog.entries import SchemaVersion
from jobforge.catalog.glossary import GlossaryTerm, check_related
from jobforge.catalog.lineage import record_id
from jobforge.catalog.manager import CatalogManager
from jobforge.catalog.runs import RunRecord
from jobforge.catalog.store import CatalogPart, CatalogStore
from jobforge.engine.status import warehouse_status
from jobforge.errors import CatalogError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import IngestionRecord, LineageRecord, TableMetadata
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project
from jobforge.query import QueryEngine

DEMO = Path(__file__).resolve().parent.parent / "src" / "jobforge" / "demo"
NOC_SHA256 = "186bf1dce249a6b8cd0d87f6f52bfe6c700d6577e08216f5b1f7d4242e051071"
SOURCES = ["noc_structure", "employment"]
GOLD = ["dim_noc", "fact_employment_projection", "occupation_outlook"]


class MemoryCatalog:
    """A whole catalog in dicts; the copies it hands out are deep, as a store
    that serialises would give."""

    name = "memory-catalog"

    def __init__(self) -> None:
        self.entries_by_key: dict[tuple[str, str], TableMetadata] = {}
        self.histories: dict[tuple[str, str], list[SchemaVersion]] = {}
        self.lineage: dict[tuple[str, str], LineageRecord] = {}
        self.terms: dict[str, GlossaryTerm] = {}
        self.run_records: list[RunRecord] = []
        self.heads: dict[str, str] = {}
        self.raw: dict[tuple[str, str], bytes] = {}
        """The records as saved (serialised): what ``record_bytes`` gives."""
        self.calls: list[str] = []

    def location(self, part: CatalogPart, layer: str | None = None, name: str | None = None) -> str:
        return f"memory:{part}" + "".join(f"/{p}" for p in (layer, name) if p)

    def folders(self) -> list[Path]:
        return []

    def prepare(self, timeout: float) -> None:
        self.calls.append("prepare")

    def tidy(self) -> None:
        self.calls.append("tidy")

    def tidy_table(self, table: str, timeout: float) -> None:
        self.calls.append(f"tidy_table {table}")

    def entry(self, layer: str, table: str) -> TableMetadata | None:
        found = self.entries_by_key.get((layer, table))
        return found.model_copy(deep=True) if found else None

    def entries(self, layer: str) -> list[TableMetadata]:
        return [
            e.model_copy(deep=True)
            for (lay, _), e in sorted(self.entries_by_key.items())
            if lay == layer
        ]

    def save_entry(self, metadata: TableMetadata) -> None:
        self.entries_by_key[(metadata.layer, metadata.table_name)] = metadata.model_copy(deep=True)

    def schema_history(self, layer: str, table: str) -> list[SchemaVersion]:
        return [v.model_copy() for v in self.histories.get((layer, table), [])]

    def save_schema_history(self, layer: str, table: str, history: list[SchemaVersion]) -> None:
        self.histories[(layer, table)] = list(history)

    def records(self, table: str | None = None) -> list[LineageRecord]:
        chosen = [r for (t, _), r in self.lineage.items() if table is None or t == table]
        return sorted(chosen, key=lambda r: r.started_at)

    def record(self, table: str, record_id: str) -> LineageRecord | None:
        return self.lineage.get((table, record_id))

    def save_record(self, record: LineageRecord) -> None:
        key = (record.table_name, record_id(record))
        self.lineage[key] = record
        self.raw[key] = record.model_dump_json().encode()

    def lineage_tables(self) -> list[str]:
        return sorted({t for t, _ in self.lineage})

    def record_bytes(self, table: str) -> list[tuple[str, bytes]]:
        return [(f"{t}/{rid}", data) for (t, rid), data in sorted(self.raw.items()) if t == table]

    def glossary(self) -> dict[str, GlossaryTerm]:
        return dict(self.terms)

    def save_term(self, term: GlossaryTerm) -> None:
        check_related(term, self.terms)
        self.terms[term.id] = term

    def runs(self) -> list[RunRecord]:
        return list(self.run_records)

    def chain_head(self, table: str) -> str | None:
        return self.heads.get(table)

    def save_chain_head(self, table: str, text: str) -> None:
        self.heads[table] = text

    def save_run(self, record: RunRecord) -> None:
        self.run_records.append(record)


class MemoryCatalogPlugin:
    jobforge_plugin_name = "memory-catalog"

    def __init__(self) -> None:
        self.store = MemoryCatalog()

    @hookimpl
    def jobforge_catalog_store(self, config: PipelineConfig) -> CatalogStore:
        return self.store


def _demo_run(tmp_path: Path) -> tuple[PipelineConfig, MemoryCatalog]:
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder)
    project = load_project(folder / "jobforge.toml")
    plugin = MemoryCatalogPlugin()
    config = project_config(project, plugins=[plugin])
    report = run_project(project, config=config)
    assert report.ok, [s.error for s in report.steps if s.error]
    return config, plugin.store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, MemoryCatalog]:
    return _demo_run(tmp_path_factory.mktemp("memory-catalog"))


def test_the_config_uses_the_plugin_store_and_no_catalog_file_is_written(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    config, store = demo
    assert config.catalog.wrapped is store
    assert isinstance(config.catalog, CatalogStore)
    catalog_files = [p for p in config.catalog_path().rglob("*") if p.is_file()]
    assert catalog_files == []
    # nor an empty catalog folder: the layout is the layers', quarantine's and the store's
    assert not config.catalog_path().exists()
    assert (config.data_root / "quarantine").is_dir()
    # the data files are there: the table store is not the catalog store's business
    assert list((config.data_root / "gold" / "occupation_outlook").glob("*.parquet"))
    assert store.calls.count("prepare") == 1
    assert store.calls.count("tidy") == 1
    assert {f"tidy_table {t}" for t in [*SOURCES, *GOLD]} <= set(store.calls)


def test_every_entry_and_history_is_in_the_store(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    config, store = demo
    expected = {(layer, t) for t in SOURCES for layer in ("staged", "bronze", "silver")}
    expected |= {("gold", t) for t in GOLD}
    assert set(store.entries_by_key) == expected
    assert set(store.histories) == expected
    catalog = CatalogManager(config)
    assert catalog.get("staged", "noc_structure").row_count == 822
    assert catalog.get("silver", "noc_structure").row_count == 822
    assert catalog.get("silver", "employment").row_count == 533
    assert catalog.get("gold", "dim_noc").row_count == 516
    assert [e.key for e in catalog.list_tables(layer="gold")] == [f"gold.{t}" for t in GOLD]
    assert sorted(e.key for e in catalog.list_tables(domain="noc")) == [
        "bronze.noc_structure",
        "gold.dim_noc",
        "silver.noc_structure",
        "staged.noc_structure",
    ]
    # the downstream back-links are written through the store too
    assert catalog.get("silver", "noc_structure").downstream_tables == ["gold.dim_noc"]
    assert catalog.get("gold", "dim_noc").downstream_tables == ["gold.occupation_outlook"]
    (version,) = catalog.schema_history("gold", "dim_noc")
    assert [name for name, _ in version.columns][:3] == ["noc_code", "title", "teer"]
    # 9 entries, 9 histories, 3 glossary terms, 2 ingestions + 4 promotions + 3 gold builds
    assert catalog.validate() == 9 + 9 + 3 + 9
    assert "memory:catalog" in repr(catalog)


def test_a_missing_entry_names_where_the_store_keeps_it(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    catalog = CatalogManager(demo[0])
    assert catalog.load("gold", "nothing") is None
    with pytest.raises(CatalogError, match=r"expected memory:entry/gold/nothing\)$"):
        catalog.get("gold", "nothing")


def test_the_glossary_and_the_run_record_are_in_the_store(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    config, store = demo
    catalog = CatalogManager(config)
    assert sorted(catalog.glossary()) == ["employment-projection", "noc-code", "teer"]
    assert catalog.term("teer").related_terms == ["noc-code"]
    assert catalog.get("gold", "dim_noc").columns[2].glossary_term_id == "teer"
    with pytest.raises(CatalogError, match=r"related term\(s\) nowhere do not exist"):
        catalog.save_term(GlossaryTerm(id="x", name="X", definition="d", related_terms=["nowhere"]))
    assert "x" not in store.terms
    saved = catalog.save_term(GlossaryTerm(id="x", name="X", definition="d", related_terms=["x"]))
    assert saved == Path("memory:term/x") and catalog.term("x").related_terms == ["x"]
    del store.terms["x"]  # the module's other tests count three terms
    with pytest.raises(
        CatalogError, match="glossary term 'nope' does not exist in memory:glossary"
    ):
        catalog.term("nope")
    (run,) = store.run_records
    assert run.status == "success"
    assert run.counts == {"success": 2 * 3 + 3}
    assert sorted({(s.layer, s.table) for s in run.steps}) == sorted(store.entries_by_key)


def test_lineage_answers_come_from_the_store(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    config, store = demo
    catalog = CatalogManager(config)
    records = catalog.lineage_records()
    assert len(records) == len(store.lineage) == 9
    assert [r.started_at for r in records] == sorted(r.started_at for r in records)
    upstream = catalog.upstream("gold", "occupation_outlook")
    assert sorted(s.table for s in upstream.sources) == ["employment", "noc_structure"]
    noc = next(s for s in upstream.sources if s.table == "noc_structure")
    assert (noc.sha256, noc.rows) == (NOC_SHA256, 822)
    reached = catalog.downstream_of_source(NOC_SHA256)
    assert [t.key for t in reached] == [
        "staged.noc_structure",
        "bronze.noc_structure",
        "silver.noc_structure",
        "gold.dim_noc",
        "gold.occupation_outlook",
    ]
    ingestion = next(
        r for r in records if isinstance(r, IngestionRecord) and r.table_name == "noc_structure"
    )
    batch = catalog.resolve_batch_id(ingestion.batch_id[:8])
    layers = [getattr(r, "target_layer", "staged") for r in catalog.batch_records(batch)]
    assert layers == ["staged", "bronze", "silver", "gold"]
    tree = catalog.column_lineage("gold", "dim_noc", "noc_code")
    assert (tree.layer, tree.table, tree.column) == ("gold", "dim_noc", "noc_code")
    with pytest.raises(CatalogError, match="no ingestion of this source in memory:lineage"):
        catalog.downstream_of_source("0" * 64)


def test_verify_reads_the_stored_records_through_the_store(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    """No record file exists (the store is a dict): ``verify`` walks the 9
    records of 5 chains from ``record_bytes`` and re-hashes the data files."""
    config, store = demo
    clean = verify(config)
    assert clean.findings == []
    assert clean.records_checked == 9
    assert sorted(clean.heads) == sorted([*SOURCES, *GOLD])
    key = next(
        k
        for k, r in store.lineage.items()
        if k[0] == "employment" and getattr(r, "target_layer", None) == "silver"
    )
    saved = store.raw[key]
    data = json.loads(saved)
    data["seconds"] += 1.0
    try:
        store.raw[key] = json.dumps(data).encode()
        edited = verify(config)
        store.raw[key] = b"{not json"
        unreadable = verify(config, ["employment"])
    finally:
        store.raw[key] = saved
    name = f"employment/{key[1]}"
    # the chain head of employment and the gold reader both hold its sha256
    assert [(f.kind, f.table, f.subject) for f in edited.findings] == [
        ("edited", "employment", name)
    ]
    assert "chain head" in edited.findings[0].detail
    assert "reader" in edited.findings[0].detail
    assert ("unreadable", name) in [(f.kind, f.subject) for f in unreadable.findings]


def test_the_query_views_and_status_read_through_the_store(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    config = demo[0]
    with QueryEngine(config) as engine:
        counts = engine.query(
            "SELECT (SELECT count(*) FROM catalog.lineage) AS records,"
            " (SELECT count(*) FROM catalog.tables) AS entries,"
            " (SELECT count(*) FROM catalog.glossary) AS terms"
        ).rows()
    assert counts == [(9, 9, 3)]
    statuses = warehouse_status(config)
    assert len(statuses) == 9
    assert {s.state for s in statuses} == {"up to date"}
    outlook = next(s for s in statuses if s.table == "occupation_outlook")
    assert outlook.upstream == ["gold.dim_noc", "gold.fact_employment_projection"]


def test_a_run_that_changes_nothing_writes_only_a_run_record(tmp_path: Path) -> None:
    _, store = _demo_run(tmp_path)
    before = (len(store.lineage), dict(store.entries_by_key))
    project = load_project(tmp_path / "demo" / "jobforge.toml")
    config = project_config(project, plugins=[_Same(store)])
    report = run_project(project, config=config)
    assert report.ok
    assert (len(store.lineage), store.entries_by_key) == before
    assert [r.status for r in store.run_records] == ["success", "success"]
    assert store.run_records[1].counts == {"up to date": 9}


class _Same:
    """Answers with an existing store (a second process on the same catalog)."""

    jobforge_plugin_name = "memory-catalog"

    def __init__(self, store: MemoryCatalog) -> None:
        self.store = store

    @hookimpl
    def jobforge_catalog_store(self) -> CatalogStore:
        return self.store


def test_layer_keys_of_the_store_are_layer_values(
    demo: tuple[PipelineConfig, MemoryCatalog],
) -> None:
    assert {layer for layer, _ in demo[1].entries_by_key} == {m.value for m in Layer}


def test_the_bundled_store_is_the_json_one_and_both_follow_the_protocol(tmp_path: Path) -> None:
    from jobforge_catalog_json.store import JsonCatalogStore

    config = PipelineConfig(tmp_path / "data", entry_points=False)
    assert type(config.catalog.wrapped) is JsonCatalogStore
    assert config.plugins.implementations("jobforge_catalog_store") == ["catalog-json"]
    assert isinstance(config.catalog.wrapped, CatalogStore)
    assert isinstance(MemoryCatalog(), CatalogStore)
    assert config.catalog.location("lineage", name="noc") == str(
        tmp_path / "data" / "catalog" / "lineage" / "noc"
    )
    # reading an empty catalog creates nothing
    assert CatalogManager(config).list_tables() == []
    assert CatalogManager(config).lineage_records() == []
    assert not (tmp_path / "data").exists()
