"""Table versions as parquet files in folders, with an atomically switched pointer.

Each table of each layer is a folder::

    <layer>/<table>/batch=<id>.parquet     one file per batch publication (kept)
    <layer>/<table>/_current.json          which files make the current version

and the rows a table set apart are beside them, named like the data file they
went with::

    quarantine/<table>/<layer>/batch=<id>.parquet      rejected in that layer
    quarantine/<table>/duplicates/batch=<id>.parquet   dropped as duplicates

Readers read only the files the pointer lists. A new version is published by
renaming its files into place under names no pointer lists, then replacing
``_current.json`` atomically: a reader sees the previous version or the new
one, never a mix. A batch published again gets a fresh name
(``batch=<id>-v<version>.parquet``), so a file a pointer may list is never
overwritten.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from jobforge.plugin import (
    AREAS_SET_APART,
    BatchEntry,
    CatalogError,
    CurrentVersion,
    Draft,
    Layer,
    PipelineConfig,
    StepTargets,
    WriteMode,
    remove_published,
    remove_stale_temporaries,
    summarise,
    validate_name,
    versions,
)


class ParquetStore:
    """The bundled :class:`~jobforge.storage.store.TableStore`."""

    name = "parquet"

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.config.data_root)!r})"

    # -- where things are -------------------------------------------------------------
    def _layer_dir(self, layer: str) -> Path:
        return self.config.layer_path(Layer(layer))

    def table_dir(self, layer: str, table: str) -> Path:
        return versions.table_dir(self._layer_dir(layer), table)

    def set_apart_dir(self, table: str, area: str) -> Path:
        if area not in AREAS_SET_APART:
            raise ValueError(
                f"unknown quarantine area {area!r}; expected one of {', '.join(AREAS_SET_APART)}"
            )
        return self.config.quarantine_path() / validate_name(table) / area

    # -- reading -----------------------------------------------------------------------
    def current(self, layer: str, table: str) -> CurrentVersion | None:
        pointer = self.table_dir(layer, table) / versions.POINTER_NAME
        try:
            return versions.read_current(self._layer_dir(layer), table)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{pointer}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            raise CatalogError(
                f"{pointer}: not a valid version pointer: {summarise(exc)}"
            ) from None

    def history(self, layer: str, table: str) -> list[CurrentVersion] | None:
        return None  # one pointer, replaced by each publication

    def tables(self, layer: str) -> list[str]:
        return versions.list_tables(self._layer_dir(layer))

    def files(self, layer: str, table: str, version: CurrentVersion) -> list[Path]:
        return version.files(self.table_dir(layer, table))

    def file_of(self, layer: str, table: str, batch: BatchEntry) -> Path:
        return self.table_dir(layer, table) / batch.file

    def set_apart_files(self, table: str, area: str) -> list[Path]:
        folder = self.set_apart_dir(table, area)
        if not folder.is_dir():
            return []
        return sorted(f for f in folder.glob("batch=*.parquet") if f.is_file())

    def set_apart_file(self, table: str, area: str, batch: BatchEntry) -> Path:
        return self.set_apart_dir(table, area) / batch.file

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
        return versions.publish(
            self._layer_dir(draft.layer),
            draft.table,
            draft.layer,
            [entry],
            mode=mode,
            updated_at=updated_at,
            record_id=record_id,
            previous=previous,
        )

    def abort(self, draft: Draft, staged: list[Path]) -> None:
        draft.pending.abort()
        remove_published(staged)  # fresh names: no pointer lists them

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
