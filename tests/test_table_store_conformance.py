"""The table-store conformance suite (jobforge.testing.table_store) against the
bundled parquet store: the reference every other store is held to."""

from __future__ import annotations

from jobforge.testing.table_store import TableStoreConformance


class TestParquetStore(TableStoreConformance):
    """The suite's default ``store_factory`` builds the bundled store's config."""
