"""Table versions as Delta Lake tables (delta-rs).

Every table of every layer, and every table's rows set apart (quarantine per
layer, duplicates), is a Delta table in the folder the parquet store would use::

    <layer>/<table>/_delta_log/0000…0N.json     one commit per jobforge version
    <layer>/<table>/batch=<id>.parquet          the data files the commits add
    quarantine/<table>/<area>/_delta_log/…      the rows set apart, one commit each

The executor writes a step's files exactly as for the parquet store (under
temporary names, renamed into place by :meth:`DeltaStore.stage`: in no
version yet, since no commit adds them). Publishing a version is one Delta
commit: ``append`` adds the batch's file (and removes the file of a batch
published again), ``replace`` is Delta's overwrite. The commit is the atomic
switch: delta-rs writes ``_delta_log/<N>.json`` only if it does not exist
(a put-if-absent on object stores), so a reader sees version N-1 or N, never
a mix, and a killed writer leaves no commit or a whole one.

The commit's metadata carries jobforge's batch id and lineage record id and
the whole version (its batches, as the parquet store's ``_current.json``
holds them), so :meth:`DeltaStore.current` reads the version from the
table's last commit, and :meth:`DeltaStore.is_published` finds a record's
commit in the table's history. Other engines read the same tables with their
own Delta readers.

The rows set apart are committed to their Delta tables right after the
table's commit; a file a killed process left uncommitted there (after the
table's commit, before its own) is committed by the next publication of that
table.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Schema
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from jobforge.plugin import (
    AREAS_SET_APART,
    COMPACTED_PREFIX,
    BatchEntry,
    CatalogError,
    CompactedFile,
    ConfigError,
    CurrentVersion,
    Draft,
    Layer,
    LocalTableFolders,
    PipelineConfig,
    WriteMode,
    get_logger,
    literal,
    remove_stale_temporaries,
    versions,
)
from jobforge_delta.compact import (
    commit_compaction,
    extract_batch,
    groups_to_compact,
    write_compacted,
)
from jobforge_delta.maintain import mark_readable, vacuum_table
from jobforge_delta.reading import version_dataset

log = get_logger()

LOG_FOLDER = "_delta_log"
VERSION_KEY = "jobforge.version"
"""Commit metadata: the jobforge version the commit published (JSON)."""
BATCH_KEY = "jobforge.batch_id"
RECORD_KEY = "jobforge.record_id"
DELTA_VERSION = "delta_version"
"""``CurrentVersion.extra`` key: the Delta version of the table's commit."""
EXTRACTS = ".jobforge-batches"
"""Folder of the data root (for an ``s3://`` root: of the state folder) where
the rows of one batch of a compacted file are written when a step reads that
batch alone: ``<layer>/<table>/<compacted file>/batch=<id>.parquet``."""


Options = Mapping[str, str] | None
"""delta-rs storage options of a table on object storage (``None``: a local folder)."""


def is_delta_table(folder: Path | str, options: Options = None) -> bool:
    """Whether ``folder`` (a local folder, or a table URI with ``options``) holds a Delta table."""
    if options is None and not (Path(folder) / LOG_FOLDER).is_dir():
        return False
    return DeltaTable.is_deltatable(str(folder), storage_options=_given(options))


def _given(options: Options) -> dict[str, str] | None:
    return None if options is None else dict(options)


def open_table(folder: Path | str, options: Options = None) -> DeltaTable:
    return DeltaTable(str(folder), storage_options=_given(options))


def jobforge_commits(folder: Path | str, options: Options = None) -> list[dict[str, Any]]:
    """The commits of the Delta table in ``folder`` that jobforge made, newest
    first, each with its Delta ``version`` (empty: no table)."""
    if not is_delta_table(folder, options):
        return []
    return [c for c in open_table(folder, options).history() if VERSION_KEY in c]


def version_of(commit: dict[str, Any]) -> CurrentVersion:
    """The jobforge version a commit published, naming its Delta version."""
    version = CurrentVersion.model_validate_json(commit[VERSION_KEY])
    version.extra[DELTA_VERSION] = int(commit["version"])
    return version


def _add_action(path: Path) -> AddAction:
    stat = path.stat()
    stats = json.dumps({"numRecords": literal.read_metadata(path).num_rows})
    return AddAction(path.name, stat.st_size, {}, int(stat.st_mtime * 1000), True, stats)


def _remove_action(path: Path, when_ms: int) -> RemoveAction:
    return RemoveAction(path.name, True, when_ms, path.stat().st_size, {})


def _schema_for(files: list[Path], table: DeltaTable | None) -> pa.Schema:
    """The table's schema after ``files`` are added (the files' own, widened
    to the table's columns when appending)."""
    schemas = [literal.read_schema(f) for f in files]
    if table is not None:
        schemas.insert(0, pa.schema(table.schema().to_arrow()))
    return pa.unify_schemas(schemas, promote_options="permissive")


def commit_files(
    folder: Path | str,
    adds: list[Path],
    removes: list[Path],
    *,
    mode: WriteMode,
    metadata: dict[str, str],
    options: Options = None,
) -> None:
    """One Delta commit to the table in ``folder`` (created by its first commit).
    ``adds`` and ``removes`` are local copies of files the table holds under
    the same names (on object storage: already uploaded)."""
    properties = CommitProperties(custom_metadata=metadata)
    actions: list[AddAction | RemoveAction] = [_add_action(p) for p in adds]
    if not is_delta_table(folder, options):
        schema = Schema.from_arrow(_schema_for(adds, None))
        create_table_with_add_actions(
            str(folder),
            schema,
            [a for a in actions if isinstance(a, AddAction)],
            mode="error",
            commit_properties=properties,
            storage_options=_given(options),
        )
        return
    table = open_table(folder, options)
    now_ms = int(datetime.now().timestamp() * 1000)
    actions += [_remove_action(p, now_ms) for p in removes]
    schema = _schema_for(adds, table) if mode == "append" else _schema_for(adds, None)
    table.create_write_transaction(
        actions,
        mode="overwrite" if mode == "replace" else "append",
        schema=schema,
        commit_properties=properties,
    )


class DeltaStore(LocalTableFolders):
    """The :class:`~jobforge.storage.store.TableStore` of ``[storage] format = "delta"``
    (the local folders and file names the parquet store has too,
    :class:`jobforge.plugin.LocalTableFolders`; Delta commits instead of pointers)."""

    name = "delta"
    files_per_version = "many"
    """A batch may be several part files: one Delta commit adds every part."""

    def __init__(self, config: PipelineConfig) -> None:
        super().__init__(config)

    def __repr__(self) -> str:
        return f"DeltaStore({str(self.config.data_root)!r})"

    # -- where the tables are (overridden for object storage) ---------------------------
    options: Options = None
    """delta-rs storage options (``None``: tables in local folders)."""

    def table_uri(self, folder: Path) -> str:
        """Where delta-rs finds the table whose local folder is ``folder``."""
        return str(folder)

    def local_copy(self, path: Path) -> Path:
        """A data file of a table as a local file (here: it is one)."""
        return path

    def file_of(self, layer: str, table: str, batch: BatchEntry) -> Path:
        """The file of ``batch`` alone. A batch in a compacted file shares it with
        others: its rows (by ``_batch_id``, in their order) are written once to a
        file of its own below :data:`EXTRACTS`."""
        path = self.local_copy(self.table_dir(layer, table) / batch.file)
        if not batch.file.startswith(COMPACTED_PREFIX):
            return path
        target = self._extract_dir(layer, table, batch.file) / versions.batch_file_name(
            batch.batch_id
        )
        return extract_batch(path, batch.batch_id, target)

    def files_of(self, layer: str, table: str, batch: BatchEntry) -> list[Path]:
        """The files of ``batch`` alone, in row order: its parts (local copies),
        or :meth:`file_of` (a batch of a compacted file, or in one file)."""
        if not batch.parts:
            return [self.file_of(layer, table, batch)]
        folder = self.table_dir(layer, table)
        return [self.local_copy(folder / name) for name in batch.parts]

    def _extract_dir(self, layer: str, table: str, compacted: str) -> Path:
        return self.config.data_root / EXTRACTS / layer / table / compacted.removesuffix(".parquet")

    # -- reading -----------------------------------------------------------------------
    def current(self, layer: str, table: str) -> CurrentVersion | None:
        uri = self.table_uri(self.table_dir(layer, table))
        try:
            commits = jobforge_commits(uri, self.options)
            return version_of(commits[0]) if commits else None
        except (ValueError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CatalogError(f"{uri}: not a readable jobforge Delta table ({reason})") from None

    def history(self, layer: str, table: str) -> list[CurrentVersion] | None:
        """Every version jobforge published of ``table``, oldest first (a
        version's files stay until ``jobforge maintain`` vacuums them:
        ``extra["readable"]``)."""
        folder = self.table_dir(layer, table)
        history = [
            version_of(c) for c in reversed(jobforge_commits(self.table_uri(folder), self.options))
        ]
        return mark_readable(history, self.present(layer, table)) if history else history

    def present(self, layer: str, table: str) -> Callable[[str], bool]:
        """Whether a data file (by name) of ``layer.table`` is still there."""
        folder = self.table_dir(layer, table)
        return lambda name: (folder / name).is_file()

    def bytes_of(self, layer: str, table: str, files: Sequence[Path]) -> int:
        return sum(f.stat().st_size for f in files if f.is_file())

    def arrow_dataset(
        self, layer: str, table: str, version: CurrentVersion
    ) -> tuple[ds.Dataset, list[Path]]:
        """``version`` as delta-rs reads it (:mod:`jobforge_delta.reading`)."""
        return version_dataset(self.table_dir(layer, table), int(version.extra[DELTA_VERSION]))

    def vacuum(
        self,
        layer: str,
        table: str,
        keep: Sequence[CurrentVersion],
        *,
        dry_run: bool,
        metadata: dict[str, str],
    ) -> list[Path]:
        """Delta's vacuum of ``layer.table``, keeping the versions of ``keep``
        (:mod:`jobforge_delta.maintain`)."""
        folder = self.table_dir(layer, table)
        names = vacuum_table(
            self.table_uri(folder),
            [int(v.extra[DELTA_VERSION]) for v in keep],
            dry_run=dry_run,
            metadata=metadata,
            present=self.present(layer, table),
            options=self.options,
        )
        removed = [folder / name for name in names]
        if not dry_run:
            for path in removed:  # on object storage: the local copies
                path.unlink(missing_ok=True)
            self._remove_extracts(layer, table, removed)
        return removed

    def _remove_extracts(self, layer: str, table: str, removed: Sequence[Path]) -> None:
        """The single-batch files cut from compacted files a vacuum removed."""
        for path in removed:
            if path.name.startswith(COMPACTED_PREFIX):
                shutil.rmtree(self._extract_dir(layer, table, path.name), ignore_errors=True)

    # -- compaction (jobforge_delta.compact) -----------------------------------------
    def compaction_groups(
        self, layer: str, table: str, version: CurrentVersion, target_bytes: int
    ) -> list[list[BatchEntry]]:
        folder = self.table_dir(layer, table)
        # a batch in parts: its first part stands for its schema (its parts share
        # it), its size is all its parts' together
        local = [[self.local_copy(folder / n) for n in b.data_files()] for b in version.batches]
        return groups_to_compact(
            version.batches,
            [paths[0] for paths in local],
            target_bytes,
            sizes=[sum(p.stat().st_size for p in paths) for paths in local],
        )

    def write_compacted(
        self,
        layer: str,
        table: str,
        groups: Sequence[Sequence[BatchEntry]],
        names: Sequence[str],
    ) -> list[CompactedFile]:
        folder = self.table_dir(layer, table)
        written: list[CompactedFile] = []
        try:
            for group, name in zip(groups, names, strict=True):
                replaced = [self.local_copy(folder / f) for b in group for f in b.data_files()]
                rows = write_compacted(folder / name, replaced)
                written.append(CompactedFile(folder / name, list(group), replaced, rows))
        except BaseException:
            self.discard_compacted(layer, table, written)
            raise
        return written

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
        into = {b.batch_id: c.path.name for c in compacted for b in c.batches}
        version = CurrentVersion(
            table=table,
            layer=layer,
            version=previous.version + 1,
            updated_at=updated_at,
            mode=previous.mode,
            batches=[
                b.model_copy(update={"file": into[b.batch_id], "parts": []})
                if b.batch_id in into
                else b
                for b in previous.batches
            ],
            record_id=record_id,
        )
        metadata = {**metadata, VERSION_KEY: version.model_dump_json(), RECORD_KEY: record_id}
        uri = self.table_uri(self.table_dir(layer, table))
        commit_compaction(
            open_table(uri, self.options),
            [c.path for c in compacted],
            [p for c in compacted for p in c.replaced],
            metadata=metadata,
        )
        published = self.current(layer, table)
        assert published is not None
        return published

    def discard_compacted(self, layer: str, table: str, compacted: Sequence[CompactedFile]) -> None:
        for written in compacted:
            written.path.unlink(missing_ok=True)

    def tables(self, layer: str) -> list[str]:
        layer_dir = self._layer_dir(layer)
        if not layer_dir.is_dir():
            return []
        return sorted(
            p.parent.name for p in layer_dir.glob(f"*/{LOG_FOLDER}") if is_delta_table(p.parent)
        )

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
        version = versions.next_version(
            draft.table,
            draft.layer,
            [entry],
            mode=mode,
            updated_at=updated_at,
            record_id=record_id,
            previous=previous,
        )
        folder = self.table_dir(draft.layer, draft.table)
        again = [
            b
            for b in (previous.batches if previous and mode == "append" else [])
            if b.batch_id == entry.batch_id and b.file != entry.file
        ]
        if any(b.file.startswith(COMPACTED_PREFIX) for b in again):
            # its file holds other batches too: removing it would drop their rows
            raise ConfigError(
                f"{draft.layer}.{draft.table}: batch {entry.batch_id} is in a compacted file "
                f"({again[0].file}); publishing it again into a compacted table is not built yet"
            )
        # a batch published again: every file of its earlier publication leaves
        replaced = [self.local_copy(folder / f) for b in again for f in b.data_files()]
        metadata = {
            VERSION_KEY: version.model_dump_json(),
            BATCH_KEY: draft.batch_id,
            RECORD_KEY: record_id,
        }
        commit_files(
            self.table_uri(folder),
            [folder / name for name in entry.data_files()],  # every part, one commit
            replaced,
            mode=mode,
            metadata=metadata,
            options=self.options,
        )
        self._commit_set_apart(draft, record_id)
        published = self.current(draft.layer, draft.table)
        assert published is not None
        return published

    def _commit_set_apart(self, draft: Draft, record_id: str) -> None:
        """Commit the rows the publication set apart (and any a killed process
        left uncommitted) to their Delta tables. The version is already
        switched: a failure here is logged, and the next publication commits them."""
        for area in AREAS_SET_APART:
            folder = self.set_apart_dir(draft.table, area)
            try:
                files = self.set_apart_files(draft.table, area)
                if not files:
                    continue
                uri, known = self.table_uri(folder), set()
                if is_delta_table(uri, self.options):
                    table = open_table(uri, self.options)
                    known = {u.rsplit("/", 1)[-1] for u in table.file_uris()}
                new = [f for f in files if f.name not in known]
                if new:
                    metadata = {BATCH_KEY: draft.batch_id, RECORD_KEY: record_id}
                    commit_files(
                        uri, new, [], mode="append", metadata=metadata, options=self.options
                    )
            except Exception as exc:  # the version is published: never undo it here
                log.warning("delta.set_apart_not_committed", folder=str(folder), error=str(exc))

    def remove_temporaries(self, table: str) -> None:
        super().remove_temporaries(table)
        # a commit delta-rs was writing when the process died (never a commit)
        folders = [self.table_dir(layer.value, table) for layer in Layer]
        folders += [self.set_apart_dir(table, area) for area in AREAS_SET_APART]
        for folder in folders:
            for leftover in (folder / LOG_FOLDER).glob("_commit_*.tmp"):
                os.unlink(leftover)
        # a batch's rows a killed step was cutting from a compacted file
        for layer in Layer:
            remove_stale_temporaries(self._extract_dir(layer.value, table, "-").parent)
