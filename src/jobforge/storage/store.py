"""The table store contract: where the versions of every table live.

The engine decides *what* a new version holds (its batches, its lineage record,
its catalog entry) and when it is published; a :class:`TableStore` decides
*how* versions are kept: which files a version is made of, how one is published
atomically (a reader sees the previous version or the new one, never a mix),
how a publication a killed process left half done is told apart and undone,
and which files hold the rows a table set apart (quarantine, duplicates).

One store answers the ``jobforge_table_store`` hook (first result wins); the
bundled one keeps batch-partitioned parquet files and an atomically replaced
``_current.json`` pointer per table (plugin ``parquet-store``). Another store
(Delta Lake, object storage) implements the same protocol and passes the same
conformance suite (:mod:`jobforge.testing.table_store`).

A publication, as the engine drives it under the table's lock::

    draft = store.draft(layer, table, batch_id)        # where the step writes
    ...the executor writes draft.targets through draft.pending (temporaries)...
    moved = store.stage(draft)                         # files under final names,
                                                       # not yet in any version
    version = store.publish(draft, entry, ...)         # the atomic switch
    # on failure before the switch: store.abort(draft, moved)

The engine journals ``moved`` before :meth:`TableStore.stage` and the record id
before :meth:`TableStore.publish`, so that after a crash it can ask
:meth:`TableStore.is_published` and, if the switch never happened,
:meth:`TableStore.discard` the staged files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from jobforge.storage.pending import PendingFiles
from jobforge.storage.versions import BatchEntry, CurrentVersion, WriteMode

DUPLICATES = "duplicates"
"""The area of rows dropped as duplicates."""

AREAS_SET_APART: tuple[str, ...] = ("staged", "bronze", "silver", DUPLICATES)
"""Where a table's rows set apart are kept: rejected in a layer (its name), or
dropped as duplicates (``duplicates``)."""


@dataclass
class StepTargets:
    """Final paths of a step's outputs (written first under temporary names)."""

    data: Path
    quarantine: Path | None = None
    duplicates: Path | None = None


@dataclass
class Draft:
    """A publication in progress: the final paths a step writes and the
    temporaries it writes them through."""

    layer: str
    table: str
    batch_id: str
    targets: StepTargets
    pending: PendingFiles = field(default_factory=PendingFiles)


@runtime_checkable
class TableStore(Protocol):
    """Keeps every version of every table of one data root (see the module docstring)."""

    name: str
    """How ``jobforge plugins``, fingerprints and errors name the store."""

    # -- reading ---------------------------------------------------------------------
    def current(self, layer: str, table: str) -> CurrentVersion | None:
        """The current version of ``table`` in ``layer`` (``None``: never published).
        A version that cannot be read is a :class:`~jobforge.errors.CatalogError`."""
        ...

    def tables(self, layer: str) -> list[str]:
        """The tables of ``layer`` that have a current version, sorted."""
        ...

    def history(self, layer: str, table: str) -> list[CurrentVersion] | None:
        """Every version of ``table`` published so far, oldest first (each still
        readable through :meth:`files`), or ``None`` if the store keeps only
        the current one (:mod:`jobforge.storage.history`)."""
        ...

    def files(self, layer: str, table: str, version: CurrentVersion) -> list[Path]:
        """The data files of ``version``, in the order of its batches."""
        ...

    def file_of(self, layer: str, table: str, batch: BatchEntry) -> Path:
        """The data file of one batch of a version of ``table``."""
        ...

    def set_apart_files(self, table: str, area: str) -> list[Path]:
        """Every file of ``table``'s rows set apart in ``area`` (one of
        :data:`AREAS_SET_APART`), of every publication, sorted."""
        ...

    def set_apart_files_of(self, table: str, area: str, batch: BatchEntry) -> list[Path]:
        """The files of ``area`` that went with one batch's publication, in row
        order: the one named after the batch (:attr:`BatchEntry.file`), or its
        parts (:func:`~jobforge.storage.versions.part_file_name`) when the
        executor wrote them in parts; empty when it set no row apart."""
        ...

    def table_location(self, layer: str, table: str) -> str:
        """Where the table's files are, as a catalog entry records it."""
        ...

    # -- publishing (the table's lock held) -----------------------------------------
    def draft(self, layer: str, table: str, batch_id: str) -> Draft:
        """Final paths for a new publication of ``batch_id``: never the name of a
        file a version may list (a batch published again gets a fresh name)."""
        ...

    def stage(self, draft: Draft) -> list[Path]:
        """Make the draft's written files durable under their final names, in no
        version yet; return them."""
        ...

    def publish(
        self,
        draft: Draft,
        entry: BatchEntry,
        *,
        mode: WriteMode,
        record_id: str,
        updated_at: datetime,
        previous: CurrentVersion | None,
    ) -> CurrentVersion:
        """Switch the current version atomically: ``replace`` makes ``entry`` the
        whole version, ``append`` adds it to ``previous`` (taking the place of a
        batch with the same id). The version names ``record_id``."""
        ...

    def abort(self, draft: Draft, staged: list[Path]) -> None:
        """Undo a draft that will not be published: its temporaries and the
        files :meth:`stage` moved (no version lists them)."""
        ...

    # -- after a crash (the table's lock held) --------------------------------------
    def is_published(self, layer: str, table: str, record_id: str) -> bool:
        """Whether the publication that named ``record_id`` switched the version."""
        ...

    def discard(self, layer: str, table: str, files: list[str]) -> int:
        """Remove staged files of a publication that never switched (never a file
        the current version lists); return how many were removed."""
        ...

    def remove_temporaries(self, table: str) -> None:
        """Remove what a killed writer left of ``table`` under temporary names."""
        ...
