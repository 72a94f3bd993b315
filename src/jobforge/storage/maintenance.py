"""What a table store that keeps history offers ``jobforge maintain``.

A store that keeps every version (Delta) grows with every publication: the
files of old versions stay until they are vacuumed. :class:`MaintainedStore`
is the part of such a store that removes them; which versions must stay is
decided by the engine (:mod:`jobforge.engine.maintain`), from the lineage and
the catalog, never by the store.

It also compacts: the files of a version's batches merged into fewer files
(:class:`CompactedFile`), switched by one commit that carries a new version
naming them, each batch keeping its entry (and its rows their ``_batch_id``).

A store without it (the parquet store: one pointer, nothing kept but the
current version) makes ``jobforge maintain`` a one-line error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from jobforge.errors import ConfigError
from jobforge.storage.store import TableStore
from jobforge.storage.versions import BatchEntry, CurrentVersion

READABLE = "readable"
"""``CurrentVersion.extra`` key set by :meth:`TableStore.history` of a store that
vacuums: ``False`` when a file of the version is gone (removed by maintenance)."""


COMPACTED_PREFIX = "compact="
"""Names of the files a compaction writes: ``compact=<uuid>.parquet`` (fresh,
never reused), each holding the rows of several batches in their order."""


DEFAULT_COMPACT_TARGET_BYTES = 128 * 1024 * 1024
"""The target size of a compacted file when ``[storage] compact_target_size`` and
``jobforge maintain --target-size`` give none: files below it are merged, a run
of them closed once it reaches it."""


def compacted_name() -> str:
    """A fresh name for a compacted file."""
    return f"{COMPACTED_PREFIX}{uuid.uuid4()}.parquet"


@dataclass(frozen=True)
class CompactedFile:
    """One file a compaction wrote: the rows of ``batches`` (their files read in
    the version's order, every row unchanged), in no version until
    :meth:`MaintainedStore.publish_compaction` commits it."""

    path: Path
    batches: list[BatchEntry]
    """The batches it holds, as the compacted version listed them."""
    replaced: list[Path]
    """The files each batch was in, in that order: a batch's own file (or its
    parts, each), or a smaller compacted file merged again (named by each of
    its batches)."""
    rows: int


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

    def bytes_of(self, layer: str, table: str, files: Sequence[Path]) -> int:
        """The bytes of ``files`` of ``layer.table`` (as :meth:`vacuum` names them)
        that are still there."""
        ...

    def table_dir(self, layer: str, table: str) -> Path:
        """The local folder of ``layer.table``'s files (on object storage: of
        their local copies)."""
        ...

    def compaction_groups(
        self, layer: str, table: str, version: CurrentVersion, target_bytes: int
    ) -> list[list[BatchEntry]]:
        """The batches of ``version`` whose files one compacted file each would
        replace: runs (in the version's order) of two or more files below
        ``target_bytes`` with the same schema, each run closed once its files
        reach ``target_bytes``. Reads footers only."""
        ...

    def write_compacted(
        self,
        layer: str,
        table: str,
        groups: Sequence[Sequence[BatchEntry]],
        names: Sequence[str],
    ) -> list[CompactedFile]:
        """Write one compacted file per group, named ``names`` (fresh:
        :func:`compacted_name`), in place in the table's folder, listed by no
        version. Called holding the table's lock."""
        ...

    def publish_compaction(
        self,
        layer: str,
        table: str,
        previous: CurrentVersion,
        compacted: Sequence[CompactedFile],
        *,
        record_id: str,
        updated_at: datetime,
        metadata: dict[str, str],
    ) -> CurrentVersion:
        """One commit: the next version, the batches of ``previous`` in their
        order, each compacted batch naming its compacted file; the replaced files
        leave the version (kept on disk for older versions until vacuumed)."""
        ...


def maintained(store: TableStore) -> MaintainedStore:
    """``store`` as a :class:`MaintainedStore`, or the one-line error saying why not."""
    if not isinstance(store, MaintainedStore):
        raise ConfigError(
            f"the {store.name} store keeps only the current version of each table: "
            'nothing to compact or vacuum; jobforge maintain needs [storage] format = "delta"'
        )
    return store
