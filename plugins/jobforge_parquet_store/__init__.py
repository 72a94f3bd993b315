"""The bundled table store: batch-partitioned parquet files and an atomically
switched pointer per table, in the layout's folders (trylast: a store plugin
that answers first is used instead)."""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.plugin import PipelineConfig, TableStore
from jobforge_parquet_store.store import ParquetStore


@hookimpl(trylast=True)
def jobforge_table_store(config: PipelineConfig) -> TableStore | None:
    if config.storage_format != "parquet":
        return None
    return ParquetStore(config)
