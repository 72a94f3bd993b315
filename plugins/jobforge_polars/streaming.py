"""The streaming configuration a step's plans run under (morsel size)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.plugin import literal

_MORSEL_ROWS = 10_000
_MORSEL_BYTES = 2 << 20


def streaming(inputs: list[Path]) -> pl.Config:
    """Run a step's plans with morsels of at most :data:`_MORSEL_ROWS` rows and
    about :data:`_MORSEL_BYTES` (from the inputs' footers). polars' default
    (about 100 000 rows) lets a long streaming run hold twice the memory while
    it reads faster than it writes; smaller morsels cost no measurable time."""
    rows = size = 0
    for path in inputs:
        meta = literal.read_metadata(path)
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    per_row = max(1, size // max(rows, 1))
    return pl.Config(streaming_chunk_size=max(1_000, min(_MORSEL_ROWS, _MORSEL_BYTES // per_row)))
