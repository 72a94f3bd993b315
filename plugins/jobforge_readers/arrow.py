"""The bundled readers' results: their polars plans, offered to the polars
executor as a native plan, and the same rows as Arrow streams for every other
executor (the reader contract, :class:`jobforge.plugin.ReadResult`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa

from jobforge.plugin import NativePlan, ReadResult

POLARS = "polars"
"""The kind of the native plan: polars ``LazyFrame``s."""


def polars_result(
    frame: pl.LazyFrame, rejected: pl.LazyFrame | None = None, **metadata: Any
) -> ReadResult:
    """A :class:`ReadResult` of a reader's lazy frames (``metadata``: its
    ``header_mapping``, ``details`` and ``records``). Nothing runs until a
    stream or the plan is read."""
    return ReadResult(
        batches=lambda: frame_stream(frame),
        rejected=None if rejected is None else (lambda: frame_stream(rejected)),
        native={POLARS: NativePlan(records=frame, rejected=rejected)},
        **metadata,
    )


def frame_stream(frame: pl.LazyFrame) -> pa.RecordBatchReader:
    """A lazy frame's rows as a stream of Arrow batches: the plan runs (streaming)
    as they are read."""
    schema = frame.head(0).collect().to_arrow().schema

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in frame.collect_batches():
            yield from chunk.to_arrow().cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())
