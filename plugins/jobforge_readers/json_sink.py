"""JSON records written in bounded batches to parquet files in a scratch folder.

Both JSON readers hand each record here as it is read; memory holds one batch
(at most :data:`BATCH_ROWS` records, :data:`BATCH_CELLS` values and
:data:`BATCH_CHARS` characters of JSON text), never the file.

Columns are the union of the records' keys in first-seen order, so the columns
of any batch are a prefix of the final ones: a batch is written to the current
file while the keys it uses are that file's, and a new file is started (with
the longer prefix) when a record brings a new key. :meth:`RecordSink.frame`
scans the files as one table, a missing column read as null. The columns in
the files are named by position (``0``, ``1``...): any text can be a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from jobforge.plugin import SOURCE_ROW, SourceError, literal, normalise_headers, refuse_reserved
from jobforge_readers._text import as_text
from jobforge_readers.csv_records import REJECTED_SCHEMA
from jobforge_readers.limits import Limits, over

BATCH_ROWS = 50_000
BATCH_CELLS = 1_000_000
BATCH_CHARS = 1 << 26
_GROUP_ROWS = 10_000
_PARQUET = {"compression": "none", "write_statistics": False}


class RecordSink:
    """Receives records (objects) and rejected records, writes them in batches."""

    def __init__(self, path: Path, folder: Path, limits: Limits) -> None:
        self.path = path
        self.folder = folder
        self.limits = limits
        self.keys: dict[str, int] = {}
        self.staged = 0
        self.rejected = 0
        self._rows: list[int] = []
        self._columns: list[list[str | None]] = []
        self._cells = 0
        self._chars = 0
        self._bad: list[tuple[int, str, str, str]] = []
        self._writer: pq.ParquetWriter | None = None
        self._width = 0
        self._files: list[tuple[Path, int]] = []
        self._rejected_writer: pq.ParquetWriter | None = None
        self._rejected_file = folder / "rejected.parquet"
        self.first_repeated: tuple[int, str] | None = None
        """The first record quarantined for a repeated key: its row and message."""

    def record(self, row: int, record: Mapping[str, Any], chars: int) -> None:
        """A record to stage, ``row`` its ``_source_row``, ``chars`` its text's length."""
        keys, columns = self.keys, self._columns
        count = len(self._rows)
        for key, value in record.items():
            index = keys.get(key)
            if index is None:
                index = keys[key] = len(keys)
                if index >= self.limits.max_columns:
                    raise over(
                        self.path,
                        "max_columns",
                        self.limits.max_columns,
                        f"record {row} has the records' key number {index + 1} ({key[:40]!r})",
                    )
                columns.append([])
            column = columns[index]
            if len(column) < count:
                column.extend([None] * (count - len(column)))
            column.append(as_text(value))
        self._rows.append(row)
        self.staged += 1
        self._cells += len(record)
        self._chars += chars
        self._maybe_flush()

    def reject(self, row: int, rule: str, message: str, raw: str) -> None:
        """A record for quarantine: its rule, message and raw text."""
        self._bad.append((row, rule, message, raw))
        if rule == "repeated_key" and self.first_repeated is None:
            self.first_repeated = (row, message)
        self.rejected += 1
        self._chars += len(raw)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (
            len(self._rows) + len(self._bad) >= BATCH_ROWS
            or self._cells >= BATCH_CELLS
            or self._chars >= BATCH_CHARS
        ):
            self.flush()

    def flush(self) -> None:
        """Write what is held."""
        rows = len(self._rows)
        if rows:
            width = len(self._columns)
            if self._writer is None or width != self._width:
                self._open(width)
            assert self._writer is not None
            arrays = [pa.array(self._rows, type=pa.int64())]
            for column in self._columns:
                if len(column) < rows:
                    column.extend([None] * (rows - len(column)))
                arrays.append(pa.array(column, type=pa.large_string()))
            table = pa.Table.from_arrays(arrays, schema=self._writer.schema)
            self._writer.write_table(table, row_group_size=_GROUP_ROWS)
            self._rows = []
            self._columns = [[] for _ in self._columns]
        if self._bad:
            if self._rejected_writer is None:
                self._rejected_writer = literal.parquet_writer(
                    self._rejected_file, REJECTED_SCHEMA, **_PARQUET
                )
            rows_, rules, messages, raws = zip(*self._bad, strict=True)
            table = pa.Table.from_arrays(
                [
                    pa.array(rows_, type=pa.int64()),
                    pa.array(rules, type=pa.large_string()),
                    pa.array(messages, type=pa.large_string()),
                    pa.array(raws, type=pa.large_string()),
                ],
                schema=REJECTED_SCHEMA,
            )
            self._rejected_writer.write_table(table, row_group_size=_GROUP_ROWS)
            self._bad = []
        self._cells = self._chars = 0

    def _open(self, width: int) -> None:
        if self._writer is not None:
            self._writer.close()
        target = self.folder / f"records-{len(self._files)}.parquet"
        schema = pa.schema(
            [(SOURCE_ROW, pa.int64())] + [(str(i), pa.large_string()) for i in range(width)]
        )
        self._writer = literal.parquet_writer(target, schema, **_PARQUET)
        self._width = width
        self._files.append((target, width))

    def close(self) -> None:
        """Close the files (what is held is not written: call :meth:`flush`)."""
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._writer = None
            if self._rejected_writer is not None:
                self._rejected_writer.close()
                self._rejected_writer = None

    def frames(self) -> tuple[pl.LazyFrame, pl.LazyFrame | None, dict[str, str]]:
        """After :meth:`flush` and :meth:`close`: the staged records (``_source_row``
        then one text column per key, named as staged names them), the rejected
        ones (``None`` if none), and the header mapping. Records without any key
        refuse the file, as does a key that is a provenance column's name."""
        raw_names = list(self.keys)
        if not raw_names:
            raise SourceError(f"{self.path}: the records have no keys (no columns to stage)")
        names, mapping = normalise_headers(raw_names)
        refuse_reserved(self.path, names)
        parts = []
        for file, width in self._files:
            scan = literal.scan_parquet(file)
            parts.append(
                scan.select(
                    pl.col(SOURCE_ROW),
                    *[pl.col(str(i)).cast(pl.String).alias(names[i]) for i in range(width)],
                    *[
                        pl.lit(None, dtype=pl.String).alias(names[i])
                        for i in range(width, len(names))
                    ],
                )
            )
        if parts:
            frame = pl.concat(parts, how="vertical")
        else:
            frame = pl.DataFrame(
                {SOURCE_ROW: pl.Series([], dtype=pl.Int64)}
                | {n: pl.Series([], dtype=pl.String) for n in names}
            ).lazy()
        rejected = (
            literal.scan_parquet(self._rejected_file) if self._rejected_file.exists() else None
        )
        return frame, rejected, mapping
