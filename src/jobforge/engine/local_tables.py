"""The part of a table store that keeps a data root's files in local folders:
where each table's files go, the draft of a publication, staging, undoing a
draft, and what a killed writer left.

Both bundled stores keep their data files this way (the parquet store with a
pointer per table, the Delta store with a Delta log per table): they subclass
:class:`LocalTableFolders` and add how a version is read and published::

    <layer>/<table>/batch=<id>.parquet                 one file per batch publication
    quarantine/<table>/<layer>/batch=<id>.parquet      rows rejected in that layer
    quarantine/<table>/duplicates/batch=<id>.parquet   rows dropped as duplicates

A file set apart may be in parts, as a batch may
(``batch=<id>.part-00000.parquet``, ...: an executor that writes every output
as part files).

A batch published again gets a fresh name (``batch=<id>-v<version>.parquet``,
:func:`~jobforge.storage.versions.new_batch_file_name`), so a file a version
may list is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import versions
from jobforge.storage.atomic import remove_stale_temporaries
from jobforge.storage.names import validate_name
from jobforge.storage.pending import remove_published
from jobforge.storage.store import AREAS_SET_APART, Draft, StepTargets
from jobforge.storage.versions import BatchEntry, CurrentVersion


class LocalTableFolders:
    """Files in the layout's local folders; a subclass says how versions are
    read (:meth:`current`) and published, and calls ``super().__init__(config)``
    from an ``__init__`` of its own."""

    files_per_version = "many"
    """A batch may be several part files (:attr:`BatchEntry.parts`)."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._table_dirs: dict[tuple[str, str], Path] = {}

    def current(self, layer: str, table: str) -> CurrentVersion | None:
        raise NotImplementedError

    # -- where things are -------------------------------------------------------------
    def _layer_dir(self, layer: str) -> Path:
        return self.config.layer_path(Layer(layer))

    def table_dir(self, layer: str, table: str) -> Path:
        """The folder of ``layer/table``, worked out (and the name checked) once:
        an appended table's step asks for it once for every batch it keeps."""
        found = self._table_dirs.get((layer, table))
        if found is None:
            found = versions.table_dir(self._layer_dir(layer), table)
            self._table_dirs[(layer, table)] = found
        return found

    def set_apart_dir(self, table: str, area: str) -> Path:
        if area not in AREAS_SET_APART:
            raise ValueError(
                f"unknown quarantine area {area!r}; expected one of {', '.join(AREAS_SET_APART)}"
            )
        return self.config.quarantine_path() / validate_name(table) / area

    # -- reading -----------------------------------------------------------------------
    def files(self, layer: str, table: str, version: CurrentVersion) -> list[Path]:
        return version.files(self.table_dir(layer, table))

    def file_of(self, layer: str, table: str, batch: BatchEntry) -> Path:
        return self.table_dir(layer, table) / batch.file

    def files_of(self, layer: str, table: str, batch: BatchEntry) -> list[Path]:
        """The files holding one batch's rows, in row order (its parts, or its file)."""
        folder = self.table_dir(layer, table)
        return [folder / name for name in batch.data_files()]

    def set_apart_files(self, table: str, area: str) -> list[Path]:
        folder = self.set_apart_dir(table, area)
        if not folder.is_dir():
            return []
        return sorted(f for f in folder.glob("batch=*.parquet") if f.is_file())

    def set_apart_files_of(self, table: str, area: str, batch: BatchEntry) -> list[Path]:
        folder = self.set_apart_dir(table, area)
        return [folder / n for n in versions.files_named(batch.file, self.set_apart_names(folder))]

    def set_apart_names(self, folder: Path) -> list[str]:
        """The names of the files in a folder of rows set apart."""
        if not folder.is_dir():
            return []
        return [f.name for f in folder.glob("batch=*.parquet") if f.is_file()]

    def table_location(self, layer: str, table: str) -> str:
        return str(self.table_dir(layer, table))

    # -- publishing -------------------------------------------------------------------
    def draft(self, layer: str, table: str, batch_id: str) -> Draft:
        folder = self.table_dir(layer, table)
        # gold builds new rows: nothing to reject or de-duplicate
        rejected = self.set_apart_dir(table, layer) if layer != Layer.GOLD.value else None
        duplicates = (
            self.set_apart_dir(table, "duplicates") if layer == Layer.SILVER.value else None
        )
        if layer == Layer.STAGED.value:  # a batch is ingested once: its own name
            name = versions.batch_file_name(batch_id)
        else:
            previous = self.current(layer, table)
            name = versions.new_batch_file_name(
                batch_id,
                (previous.version + 1) if previous else 1,
                [f for f in (folder, rejected, duplicates) if f is not None],
            )
        targets = StepTargets(
            data=folder / name,
            quarantine=rejected / name if rejected is not None else None,
            duplicates=duplicates / name if duplicates is not None else None,
        )
        return Draft(layer, table, batch_id, targets)

    def stage(self, draft: Draft) -> list[Path]:
        return draft.pending.commit()

    def abort(self, draft: Draft, staged: list[Path]) -> None:
        draft.pending.abort()
        remove_published(staged)  # fresh names: no version lists them

    # -- after a crash -----------------------------------------------------------------
    def is_published(self, layer: str, table: str, record_id: str) -> bool:
        current = self.current(layer, table)
        return current is not None and current.record_id == record_id

    def discard(self, layer: str, table: str, files: list[str]) -> int:
        current = self.current(layer, table)
        folder = self.table_dir(layer, table)
        listed = {os.path.abspath(p) for p in current.files(folder)} if current else set()
        removed = 0
        for name in files:
            if os.path.abspath(name) in listed:  # a second guard: fresh names never are
                continue
            try:
                os.unlink(name)
            except FileNotFoundError:
                continue
            removed += 1
        return removed

    def remove_temporaries(self, table: str) -> None:
        for layer in Layer:
            remove_stale_temporaries(self.table_dir(layer.value, table))
        remove_stale_temporaries(self.config.quarantine_path() / validate_name(table))
