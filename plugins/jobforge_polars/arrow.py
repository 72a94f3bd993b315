"""Arrow transforms in the polars executor: the lazy plan's result taken batch by
batch (``collect_batches``, in order), each batch handed to the transforms as
a ``pyarrow.RecordBatch`` and written as it comes back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from jobforge.plugin import WRITE, ArrowTransforms, HashingFile, literal

BATCH_ROWS = 122_880
"""Rows per batch handed to an arrow transform."""


def write_arrow_transformed(
    frame: pl.LazyFrame,
    transforms: Sequence[Callable[..., Any]],
    where: str,
    target: Path | HashingFile,
) -> None:
    """Write ``frame`` through the arrow ``transforms`` to the parquet file ``target``."""
    schema = _plain(_arrow(frame.clear().collect()).schema)
    apply = ArrowTransforms(where, transforms, schema)
    with literal.parquet_writer(target, apply.schema, **WRITE) as writer:
        for chunk in frame.collect_batches(chunk_size=BATCH_ROWS, maintain_order=True):
            for batch in _arrow(chunk).to_batches():
                writer.write_batch(apply.batch(batch))


def _arrow(frame: pl.DataFrame) -> pa.Table:
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def _plain(schema: pa.Schema) -> pa.Schema:
    """Text as ``string`` (polars gives ``large_string``), as the other executors
    hand it to a transform."""
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in schema]
    )
