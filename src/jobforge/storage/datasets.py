"""Tables read through their store's own Arrow dataset.

A store whose tables are in an open table format gives the query views the
reader of that format (Delta: delta-rs' ``DeltaTable.to_pyarrow_dataset``), so
that DuckDB reads a version exactly as any other engine with that reader would:
the format's schema (columns added by a later version are null in earlier
files), its file list and its statistics. The bundled parquet store has no such
reader: its views read the files of the version through
:meth:`jobforge.query.sandbox.Sandbox.parquet`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from jobforge.storage.store import TableStore
from jobforge.storage.versions import CurrentVersion

if TYPE_CHECKING:
    import pyarrow.dataset as ds


@runtime_checkable
class DatasetStore(Protocol):
    """A :class:`~jobforge.storage.store.TableStore` whose versions can be read as
    Arrow datasets."""

    def arrow_dataset(
        self, layer: str, table: str, version: CurrentVersion
    ) -> tuple[ds.Dataset, list[Path]]:
        """``version`` of ``layer.table`` as an Arrow dataset, and the files that
        dataset reads (the query engine checks them against :meth:`TableStore.files`)."""
        ...


def arrow_dataset(
    store: TableStore, layer: str, table: str, version: CurrentVersion
) -> tuple[ds.Dataset, list[Path]] | None:
    """The store's dataset of ``version`` (``None``: the store gives none)."""
    if not isinstance(store, DatasetStore):
        return None
    return store.arrow_dataset(layer, table, version)
