"""Writing a query result batch by batch: CSV, TSV, JSON or parquet.

Each Arrow record batch of a :class:`~jobforge.query.engine.QueryStream` is
written as soon as it is read, so the size of a result never sets memory.
In CSV and TSV a nested value (a list, struct or map, such as a gold table's
``_lineage``) is written as JSON text (``["a:b:1","c:d:2"]``); JSON output
keeps it nested. A file is written under a temporary name and renamed into
place once complete, so a query that fails or is stopped halfway leaves no
half-written file (a special file such as ``/dev/stdout`` is written directly).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobforge.errors import ConfigError, QueryError
from jobforge.storage.atomic import atomic_path

ExportFormat = Literal["csv", "tsv", "json", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "tsv", "json", "parquet")
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_WRAP_PREFIX, _WRAP_SUFFIX = '{"v":', "}"
_LOCAL = pafs.LocalFileSystem()
ROW_GROUP_ROWS = 1 << 20
"""Rows of a parquet row group written by :func:`write_parquet` (at most)."""
ROW_GROUP_BYTES = 64 << 20
"""Bytes (in memory) after which a row group is written even if it has fewer rows."""


def unique_names(names: Iterable[str]) -> list[str]:
    """Column names made unique as DuckDB's polars export does: ``a, a`` -> ``a, a_1``."""
    seen: set[str] = set()
    result = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        result.append(candidate)
    return result


def to_polars(batch: pa.RecordBatch) -> pl.DataFrame:
    """A record batch as a polars frame (duplicate column names made unique)."""
    names = unique_names(batch.schema.names)
    if names != batch.schema.names:
        batch = batch.rename_columns(names)
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame


def nested_as_json(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every list, array, struct or map column as JSON text
    (null stays null)."""
    for index, (name, dtype) in enumerate(frame.schema.items()):
        if not dtype.is_nested():
            continue
        column = frame.get_column(name)
        # polars encodes structs only: wrap the value as {"v": value} and unwrap the text
        text = (
            pl.DataFrame({"v": column})
            .select(
                pl.when(pl.col("v").is_not_null()).then(
                    pl.struct("v")
                    .struct.json_encode()
                    .str.strip_prefix(_WRAP_PREFIX)
                    .str.strip_suffix(_WRAP_SUFFIX)
                )
            )
            .to_series()
            .alias(name)
        )
        frame = frame.replace_column(index, text)
    return frame


def _text_chunks(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: ExportFormat
) -> Iterator[str]:
    if fmt == "json":
        yield "["
        first = True
        for batch in batches:
            rows = to_polars(batch).write_json()[1:-1]
            if rows:
                yield rows if first else "," + rows
                first = False
        yield "]\n"
        return
    separator = _SEPARATORS[fmt]
    header = True
    for batch in batches:
        if batch.num_rows == 0 and not header:
            continue
        yield nested_as_json(to_polars(batch)).write_csv(separator=separator, include_header=header)
        header = False
    if header:  # no batch at all: the header alone
        empty = pa.RecordBatch.from_pylist([], schema=schema)
        yield nested_as_json(to_polars(empty)).write_csv(separator=separator)


class _Counted:
    """Batches passed through, counted."""

    def __init__(self, batches: Iterable[pa.RecordBatch]) -> None:
        self._batches = batches
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._batches:
            self.rows += batch.num_rows
            yield batch


def write_text(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: ExportFormat, out: IO[str]
) -> int:
    """Write the batches to a text stream as ``csv``, ``tsv`` or ``json``; return the rows."""
    counted = _Counted(batches)
    for chunk in _text_chunks(counted, schema, fmt):
        out.write(chunk)
    return counted.rows


def write_parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> int:
    """Write the batches to a parquet file at ``path`` (zstd); return the rows."""
    counted = _Counted(batches)
    try:
        writer = pq.ParquetWriter(path, schema, compression="zstd", filesystem=_LOCAL)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise QueryError(
            f"cannot write {path.name} as parquet: {unwritable(schema, exc)}"
        ) from None
    with writer:
        # one row group per flush: batches are gathered up to ROW_GROUP_ROWS rows or
        # ROW_GROUP_BYTES bytes, so that small batches do not make small row groups
        pending: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in counted:
            pending.append(batch)
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending, rows, size = [], 0, 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return counted.rows


def unwritable(schema: pa.Schema, exc: Exception) -> str:
    """Which column parquet cannot hold, and why."""
    for field in schema:
        try:
            pq.ParquetWriter(io.BytesIO(), pa.schema([field])).close()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            return (
                f"column {field.name!r} has type {field.type}, which parquet cannot hold (CAST it)"
            )
    return str(exc).splitlines()[0]


def export(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    fmt: ExportFormat,
    target: Path | IO[str],
) -> int:
    """Write a result as ``fmt`` to a file (atomically) or a text stream; return the rows."""
    if not isinstance(target, Path):
        if fmt == "parquet":
            raise ConfigError("parquet output needs a file")
        return write_text(batches, schema, fmt, target)
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: the folder {target.parent} does not exist")
    if target.exists() and not target.is_file():  # a device or a pipe: written as it is
        context: contextlib.AbstractContextManager[Path] = contextlib.nullcontext(target)
    else:
        context = atomic_path(target, durable=False)
    with context as path:
        if fmt == "parquet":
            return write_parquet(batches, schema, path)
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_text(batches, schema, fmt, out)
