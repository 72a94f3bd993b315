"""Table versions as parquet files in folders, with an atomically switched pointer.

Each table of each layer is a folder::

    <layer>/<table>/batch=<id>.parquet     one file per batch publication (kept)
    <layer>/<table>/_current.json          which files make the current version

and the rows a table set apart are beside them, named like the data file they
went with (the folders and the drafts of publications are
:class:`jobforge.plugin.LocalTableFolders`', shared with the Delta store)::

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
from datetime import datetime

from pydantic import ValidationError

from jobforge.plugin import (
    BatchEntry,
    CatalogError,
    CurrentVersion,
    Draft,
    LocalTableFolders,
    WriteMode,
    summarise,
    versions,
)


class ParquetStore(LocalTableFolders):
    """The bundled :class:`~jobforge.storage.store.TableStore`."""

    name = "parquet"

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.config.data_root)!r})"

    # -- reading -----------------------------------------------------------------------
    def current(self, layer: str, table: str) -> CurrentVersion | None:
        pointer = self.table_dir(layer, table) / versions.POINTER_NAME
        try:
            return versions.read_current(self._layer_dir(layer), table)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{pointer}: not valid JSON ({exc.msg})") from None
        except UnicodeDecodeError as exc:  # JSON is UTF-8 (RFC 8259)
            raise CatalogError(
                f"{pointer}: not valid JSON (byte {exc.start} is not UTF-8)"
            ) from None
        except ValidationError as exc:
            raise CatalogError(
                f"{pointer}: not a valid version pointer: {summarise(exc)}"
            ) from None

    def history(self, layer: str, table: str) -> list[CurrentVersion] | None:
        return None  # one pointer, replaced by each publication

    def tables(self, layer: str) -> list[str]:
        return versions.list_tables(self._layer_dir(layer))

    # -- publishing -------------------------------------------------------------------
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
