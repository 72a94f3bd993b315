"""Parquet sources, read lazily with their own types.

The footer is read first: a file that is not parquet, or is cut short (no
footer), is refused before anything is written. ``_source_row`` is the row's
1-based position in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from jobforge.errors import SourceError
from jobforge.hooks.manager import one_line
from jobforge.sources.base import ReadResult
from jobforge.sources.headers import refuse_reserved


class ParquetReader:
    format = "parquet"

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        self.options = dict(options)

    def read(self) -> ReadResult:
        if self.options:
            raise SourceError(
                f"{self.path}: parquet takes no reader options, got {', '.join(self.options)}"
            )
        try:
            metadata = pq.read_metadata(self.path)
        except Exception as exc:
            raise SourceError(
                f"{self.path}: not a readable parquet file ({one_line(exc)})"
            ) from None
        refuse_reserved(self.path, metadata.schema.to_arrow_schema().names)
        frame = pl.scan_parquet(self.path).with_row_index("_source_row", offset=1)
        frame = frame.with_columns(pl.col("_source_row").cast(pl.Int64))
        return ReadResult(frame=frame, records=metadata.num_rows)
