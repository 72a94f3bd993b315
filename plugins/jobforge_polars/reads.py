"""What the staged step reads: a reader's own polars plan when it offers one (the
bundled readers do), else its Arrow streams, scanned batch by batch as a lazy
frame, so that the same plan and the same streaming sink write staged either way.

The scan is a polars IO source (``polars.io.plugins.register_io_source``, which
polars marks unstable: this module is the one place that uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl
import pyarrow as pa
from polars.io.plugins import register_io_source

from jobforge.plugin import ReadResult

POLARS = "polars"
"""The kind of native plan this executor runs: polars ``LazyFrame``s."""


def staged_frames(read: ReadResult) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """The records and the rejects of ``read`` as lazy frames."""
    plan = read.native_plan(POLARS)
    if plan is not None:
        records, rejected = plan.records, plan.rejected
        if not isinstance(records, pl.LazyFrame) or not (
            rejected is None or isinstance(rejected, pl.LazyFrame)
        ):
            raise TypeError(
                f"ReadResult.native[{POLARS!r}]: expected polars LazyFrames, got "
                f"{type(records).__name__} and {type(rejected).__name__}"
            )
        return records, rejected
    scanned = None if read.rejected is None else scan_stream(_rejects(read))
    return scan_stream(read.record_batches), scanned


def _rejects(read: ReadResult) -> Callable[[], pa.RecordBatchReader]:
    def opened() -> pa.RecordBatchReader:
        stream = read.rejected_batches()
        assert stream is not None
        return stream

    return opened


def scan_stream(open_stream: Callable[[], pa.RecordBatchReader]) -> pl.LazyFrame:
    """A lazy frame over the batches of the streams ``open_stream`` gives. One
    stream is opened now, for its schema (a stream parses nothing before its
    first batch is read), and is the one the plan reads first; a second run of
    the plan opens a new one."""
    first = open_stream()
    schema = pl.DataFrame(first.schema.empty_table()).schema
    unread = [first]

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        stream = unread.pop() if unread else open_stream()
        left = n_rows
        with stream:
            for batch in stream:
                frame = pl.DataFrame(batch)
                if with_columns is not None:
                    frame = frame.select(with_columns)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if left is not None:
                    frame = frame.head(left)
                    left -= frame.height
                yield frame
                if left is not None and left <= 0:
                    return

    return register_io_source(source, schema=schema)
