"""Compacting a jobforge Delta table: the files of several batches of one
version rewritten, row for row, into one file, switched by one Delta commit.

Why not delta-rs' ``optimize.compact()``: its commit cannot carry the names of
the files it is about to write, and jobforge's version (its batches, each
naming its file) must be switched by the same commit that adds them, so that
a reader never sees a Delta snapshot and a jobforge version that disagree.
The commit written here is what an OPTIMIZE commit holds (``remove`` and
``add`` actions with ``dataChange: false``: no row changed, streaming readers
skip it) plus jobforge's metadata.

What is merged: runs (in the version's order) of two or more files with the
same schema, each a batch's own file or a compacted file below the target size
(``[storage] compact_target_size``, default :data:`TARGET_FILE_BYTES`; a
compacted file is merged again, its batches with it), a run closed as soon as
its files reach the target (so a compacted file is at most the target plus
one file); a file at or above the target, or a batch whose schema differs
from its neighbours', stays in its file. The rows of every batch keep
their ``_batch_id``, so one batch is still read alone: :func:`extract_batch`
writes its rows, in their order, to a file of its own (the engine reads a
batch as one file: a promotion reads the staged batch it promotes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from jobforge.plugin import (
    BATCH_ID,
    DEFAULT_COMPACT_TARGET_BYTES,
    BatchEntry,
    literal,
    temporary_path_for,
)

ROWS_PER_READ = 65_536
"""Rows read at a time: memory stays flat whatever the size of the batches."""


TARGET_FILE_BYTES = DEFAULT_COMPACT_TARGET_BYTES
"""The default target: a file at least this big is never merged (again); a smaller
compacted file is, with the files next to it, so daily maintains do not leave one
small compacted file a day."""


def groups_to_compact(
    batches: Sequence[BatchEntry],
    local: Sequence[Path],
    target_bytes: int = TARGET_FILE_BYTES,
    sizes: Sequence[int] | None = None,
) -> list[list[BatchEntry]]:
    """Runs of ``batches`` (their local files ``local``, their bytes ``sizes``
    where a batch is more than its file ``local``) that one file can hold:
    two or more files in a row, each below ``target_bytes`` (a batch's own file
    or a compacted file, its batches together), with the same schema and a
    ``_batch_id`` column; a run is closed once its files reach ``target_bytes``.
    A group lists every batch of its files, in order."""
    counts: dict[str, int] = {}
    for batch in batches:
        counts[batch.file] = counts.get(batch.file, 0) + 1
    units: list[tuple[list[BatchEntry], Path, int]] = []
    for index, (batch, path) in enumerate(zip(batches, local, strict=True)):
        if units and units[-1][0][-1].file == batch.file:
            units[-1][0].append(batch)
        else:
            size = sizes[index] if sizes is not None else path.stat().st_size
            units.append(([batch], path, size))
    groups: list[list[BatchEntry]] = []
    run: list[list[BatchEntry]] = []
    schema: pa.Schema | None = None
    filled = 0  # bytes of the run's files

    def close() -> None:
        if len(run) > 1:
            groups.append([b for unit in run for b in unit])

    for members, path, size in units:
        found = literal.read_schema(path)
        whole = counts[members[0].file] == len(members)  # its batches side by side
        alone = whole and size < target_bytes and BATCH_ID in found.names
        if alone and schema is not None and found.equals(schema):
            run.append(members)
            filled += size
        else:
            close()
            run, schema, filled = ([members], found, size) if alone else ([], None, 0)
        if filled >= target_bytes:  # full: the next file starts a run of its own
            close()
            run, schema, filled = [], None, 0
    close()
    return groups


def files_of(replaced: Sequence[Path]) -> list[Path]:
    """The files ``replaced`` names (a batch's file or parts), each once, in order."""
    return list(dict.fromkeys(replaced))


def write_compacted(final: Path, files: Sequence[Path]) -> int:
    """``final``: the rows of ``files`` in their order (same schema), written
    under a temporary name and renamed into place. Returns its rows."""
    temporary = temporary_path_for(final)
    schema = literal.read_schema(files[0])
    rows = 0
    try:
        with literal.parquet_writer(temporary, schema) as writer:
            for path in files_of(files):
                for batch in literal.parquet_file(path).iter_batches(batch_size=ROWS_PER_READ):
                    writer.write_batch(batch)
                    rows += batch.num_rows
        _fsync(temporary)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return rows


def extract_batch(compacted: Path, batch_id: str, target: Path) -> Path:
    """``target``: the rows of ``batch_id`` in ``compacted``, in their order, with
    its schema (the batch's own: a run has one schema). Written once: a
    compacted file's name is never reused, so an extract never goes stale."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = literal.parquet_file(compacted)
    temporary = temporary_path_for(target)
    try:
        with literal.parquet_writer(temporary, source.schema_arrow) as writer:
            for batch in source.iter_batches(batch_size=ROWS_PER_READ):
                mask = pc.equal(
                    batch.column(BATCH_ID), pa.scalar(batch_id, batch.schema.field(BATCH_ID).type)
                )
                writer.write_batch(batch.filter(mask))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def commit_compaction(
    table: DeltaTable,
    adds: Sequence[Path],
    removes: Sequence[Path],
    *,
    metadata: dict[str, str],
) -> None:
    """One Delta commit to ``table``: ``removes`` leave it, ``adds`` join it, no
    row changed (``dataChange: false``, as an OPTIMIZE commit). Local copies of
    files the table holds under the same names."""
    now_ms = int(datetime.now().timestamp() * 1000)
    actions: list[AddAction | RemoveAction] = []
    for path in adds:
        stat = path.stat()
        stats = json.dumps({"numRecords": literal.read_metadata(path).num_rows})
        actions.append(
            AddAction(path.name, stat.st_size, {}, int(stat.st_mtime * 1000), False, stats)
        )
    for path in files_of(removes):
        actions.append(RemoveAction(path.name, False, now_ms, path.stat().st_size, {}))
    table.create_write_transaction(
        actions,
        mode="append",
        schema=pa.schema(table.schema().to_arrow()),
        commit_properties=CommitProperties(custom_metadata=metadata),
    )


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
