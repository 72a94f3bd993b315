"""The table store seam (issue 15): every version is read and published through
the store the ``jobforge_table_store`` hook returns, so a plugin's store is used
everywhere (the engine, status, the catalog's lineage walk, the query views)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobforge_parquet_store.store import ParquetStore

from jobforge import PipelineConfig, PipelineEngine, QueryEngine, hookimpl
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.status import warehouse_status
from jobforge.storage.store import TableStore

from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"


class RecordingStore(ParquetStore):
    """The bundled store, noting each call (a plugin's store stands in for it)."""

    name = "recording"

    def __init__(self, config: PipelineConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, Any]] = []

    def current(self, layer: str, table: str):  # type: ignore[no-untyped-def]
        self.calls.append(("current", (layer, table)))
        return super().current(layer, table)

    def publish(self, draft, entry, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("publish", (draft.layer, draft.table)))
        return super().publish(draft, entry, **kwargs)


class StorePlugin:
    jobforge_plugin_name = "recording-store"

    def __init__(self) -> None:
        self.stores: list[RecordingStore] = []

    @hookimpl
    def jobforge_table_store(self, config: PipelineConfig) -> TableStore:
        store = RecordingStore(config)
        self.stores.append(store)
        return store


def test_a_plugins_store_is_used_for_every_read_and_publication(tmp_path: Path) -> None:
    plugin = StorePlugin()
    config = PipelineConfig(tmp_path / "data", plugins=[plugin], entry_points=False)
    assert isinstance(config.store, RecordingStore)
    assert config.plugins.implementations("jobforge_table_store") == [
        "recording-store",
        "parquet-store",
        "delta-store",  # answers only for [storage] format = "delta"
    ]
    engine = PipelineEngine(config)
    engine.run_full_pipeline(NOC, "noc")
    (store,) = plugin.stores  # one store per config
    published = [args for kind, args in store.calls if kind == "publish"]
    assert published == [("staged", "noc"), ("bronze", "noc"), ("silver", "noc")]
    store.calls.clear()
    assert [(s.layer, s.rows) for s in warehouse_status(config)] == [
        ("staged", 822),
        ("bronze", 822),
        ("silver", 822),
    ]
    chain = CatalogManager(config).upstream("silver", "noc")
    assert [s.rows for s in chain.sources] == [822]
    with QueryEngine(config) as query:
        assert query.query("SELECT count(*) AS n FROM silver.noc")["n"].to_list() == [822]
    read = {args for kind, args in store.calls if kind == "current"}
    assert {("staged", "noc"), ("bronze", "noc"), ("silver", "noc")} <= read
