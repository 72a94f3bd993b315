"""What a table store that keeps history offers ``jobforge maintain``.

A store that keeps every version (Delta) grows with every publication: the
files of old versions stay until they are vacuumed. :class:`MaintainedStore`
is the part of such a store that removes them; which versions must stay is
decided by the engine (:mod:`jobforge.engine.maintain`), from the lineage and
the catalog, never by the store.

A store without it (the parquet store: one pointer, nothing kept but the
current version) makes ``jobforge maintain`` a one-line error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from jobforge.errors import ConfigError
from jobforge.storage.store import TableStore
from jobforge.storage.versions import CurrentVersion

READABLE = "readable"
"""``CurrentVersion.extra`` key set by :meth:`TableStore.history` of a store that
vacuums: ``False`` when a file of the version is gone (removed by maintenance)."""


@runtime_checkable
class MaintainedStore(Protocol):
    """A :class:`~jobforge.storage.store.TableStore` whose old versions can be vacuumed."""

    def vacuum(
        self,
        layer: str,
        table: str,
        keep: Sequence[CurrentVersion],
        *,
        dry_run: bool,
        metadata: dict[str, str],
    ) -> list[Path]:
        """Remove every file of ``layer.table`` that no version of ``keep`` (and
        not the current version) lists; return them (``dry_run``: what would
        go, nothing removed). ``metadata`` goes with the store's own record of
        the removal (Delta: the vacuum commits). Called holding the table's lock."""
        ...


def maintained(store: TableStore) -> MaintainedStore:
    """``store`` as a :class:`MaintainedStore`, or the one-line error saying why not."""
    if not isinstance(store, MaintainedStore):
        raise ConfigError(
            f"the {store.name} store keeps only the current version of each table: "
            'nothing to compact or vacuum; jobforge maintain needs [storage] format = "delta"'
        )
    return store
