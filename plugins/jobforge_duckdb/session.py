"""A DuckDB connection for one step: its parquet inputs read by DuckDB (literal
paths, never a pattern), its results streamed into parquet temporaries, under a
memory limit (DuckDB spills to a folder beside the step's outputs beyond it)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from duckdb.func import PythonUDFType
from jobforge_polars.reads import scan_stream

from jobforge.plugin import (
    STAGED_WRITE,
    WRITE,
    ArrowTransforms,
    HashingFile,
    literal,
    quote_ident,
    quote_literal,
    temporary_path_for,
    utc_type,
)

GLOB_CHARACTERS = frozenset("*?[]{}\\")
"""Characters DuckDB's ``read_parquet`` may read as a pattern (or an escape)."""
BATCH_ROWS = 122_880
"""Rows per Arrow batch read from a result (DuckDB's row group size)."""


def _python_repr(texts: pa.Array) -> pa.Array:
    """Python's ``repr`` of each text (a DuckDB function, ``jf_repr``), as cast
    messages quote a value: every character that is not printable (NUL, ESC,
    U+2028, a no-break space...) escaped exactly as the polars executor's
    messages escape it; called for the rows that failed only."""
    return pa.array([None if t is None else repr(t) for t in texts.to_pylist()], pa.string())


def ts(value: datetime | None) -> str:
    """A ``TIMESTAMPTZ`` literal of an aware datetime (``NULL`` for none)."""
    if value is None:
        return "CAST(NULL AS TIMESTAMPTZ)"
    return f"TIMESTAMPTZ {quote_literal(value.isoformat())}"


def ident(name: str) -> str:
    return quote_ident(name)


def lit(value: str) -> str:
    return quote_literal(value)


_FLOATS = frozenset({"DOUBLE", "FLOAT", "REAL"})


def json_row(columns: Sequence[str], types: Mapping[str, str]) -> str:
    """A row's values as a JSON object, keys in column order. A float that JSON
    cannot write (NaN, infinities: DuckDB would write them bare, which is not
    JSON) is null, as the polars executor writes it."""
    if not columns:
        return "'{}'"

    def value(c: str) -> str:
        if types.get(c) in _FLOATS:
            return f"CASE WHEN isfinite({ident(c)}) THEN {ident(c)} END"
        return ident(c)

    pairs = ", ".join(f"{lit(c)}, {value(c)}" for c in columns)
    return f"CAST(json_object({pairs}) AS VARCHAR)"


class Session:
    """One step's DuckDB connection (a context manager)."""

    def __init__(self, near: Path, memory_limit: str, threads: int) -> None:
        self.spill = temporary_path_for(near.with_name(near.stem + ".duckdb-spill"))
        self.con = duckdb.connect(
            ":memory:",
            config={
                "threads": threads,
                "memory_limit": memory_limit,
                "temp_directory": str(self.spill),
                "python_enable_replacements": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "preserve_insertion_order": True,
            },
        )
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.create_function(
            "jf_repr",
            _python_repr,
            ["VARCHAR"],
            "VARCHAR",
            type=PythonUDFType.ARROW,
            side_effects=False,
        )
        self._held: list[object] = []

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.con.close()
        self._held.clear()
        shutil.rmtree(self.spill, ignore_errors=True)

    def parquet(self, name: str, files: Sequence[Path]) -> str:
        """Register ``files`` (one schema) as the view ``name``; its SQL name.

        Read by DuckDB's own parquet reader, within its memory limit, unless a
        path holds a character ``read_parquet`` takes for a pattern: those are
        read through a pyarrow dataset (literal paths; pyarrow's read-ahead
        then holds batches outside DuckDB's limit)."""
        paths = [str(Path(f).absolute()) for f in files]
        if any(char in path for path in paths for char in GLOB_CHARACTERS):
            schema = literal.read_schema(files[0]).remove_metadata()
            dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=literal.local())
            return self.arrow(name, dataset)
        listed = ", ".join(lit(p) for p in paths)
        self.con.execute(
            f"CREATE TEMP VIEW {ident(name)} AS SELECT * FROM read_parquet([{listed}], "
            "hive_partitioning = false, union_by_name = false, filename = false)"
        )
        return ident(name)

    def arrow(self, name: str, data: object) -> str:
        """Register an Arrow dataset or record batch reader as ``name``."""
        self.con.register(name, data)
        self._held.append(data)
        return ident(name)

    def columns(self, relation: str) -> list[tuple[str, str]]:
        """``(name, DuckDB type)`` of each column of ``relation``."""
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def scalar_row(self, sql: str) -> tuple[object, ...]:
        rows = self.con.execute(sql).fetchall()
        return tuple(rows[0]) if rows else ()

    def write(
        self,
        sql: str,
        target: HashingFile,
        keep: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
        transforms: Sequence[Callable[..., Any]] = (),
        where: str = "",
    ) -> None:
        """Stream the result of ``sql`` into the parquet file ``target`` (the
        step's hashing sink, closed by the caller), each batch
        filtered by ``keep`` (if given), then through the arrow ``transforms``
        (if any; ``where`` names the step)."""
        with self.con.sql(sql).to_arrow_reader(BATCH_ROWS) as reader:
            schema = pa.schema(
                [f.with_type(utc_type(f.type)) for f in reader.schema],
                metadata=reader.schema.metadata,
            )
            apply = ArrowTransforms(where, transforms, schema) if transforms else None
            written = schema if apply is None else apply.schema
            with literal.parquet_writer(target, written, **WRITE) as writer:
                for batch in reader:
                    batch = batch if batch.schema == schema else batch.cast(schema)
                    batch = batch if keep is None else keep(batch)
                    writer.write_batch(batch if apply is None else apply.batch(batch))

    def write_staged(self, sql: str, target: HashingFile) -> None:
        """Stream the result of ``sql`` into the staged file ``target`` as every
        executor writes staged (``STAGED_WRITE``: lz4, null counts and no
        min/max). pyarrow's writer cannot keep null counts without min/max, so
        DuckDB's batches are written by polars' parquet sink, read once, in order."""

        def opened() -> pa.RecordBatchReader:
            reader = self.con.sql(sql).to_arrow_reader(BATCH_ROWS)
            schema = pa.schema(
                [f.with_type(utc_type(f.type)) for f in reader.schema],
                metadata=reader.schema.metadata,
            )
            return pa.RecordBatchReader.from_batches(
                schema, (b if b.schema == schema else b.cast(schema) for b in reader)
            )

        literal.sink_parquet(scan_stream(opened), target, **STAGED_WRITE)
