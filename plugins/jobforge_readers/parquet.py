"""Parquet sources, read lazily with their own types.

The file is checked before anything is written (:func:`verify_parquet`): a
file that is not parquet, is cut short (no footer), or has a page that does
not decode, is refused with one line. ``_source_row`` is the row's 1-based
position in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from jobforge.plugin import (
    SOURCE_ROW,
    ReadResult,
    SourceError,
    SourceHeader,
    literal,
    one_line,
    refuse_reserved,
)
from jobforge_readers.arrow import polars_result


def verify_parquet(path: Path) -> pq.FileMetaData:
    """Read the footer and decode every page once (streaming, one row group's
    batch at a time), so that a corrupt file is refused here rather than
    failing halfway through the staged write. Returns the footer."""
    try:
        with literal.parquet_file(path) as parquet:
            metadata = parquet.metadata
            for _ in parquet.iter_batches(batch_size=65_536):
                pass
    except Exception as exc:
        raise SourceError(f"{path}: not a readable parquet file ({one_line(exc)})") from None
    return metadata


class ParquetReader:
    format = "parquet"

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        self.options = dict(options)

    def header(self) -> SourceHeader:
        """The column names in the footer."""
        try:
            names = literal.read_schema(self.path).names
        except Exception as exc:
            raise SourceError(
                f"{self.path}: not a readable parquet file ({one_line(exc)})"
            ) from None
        return SourceHeader(list(names))

    def read(self) -> ReadResult:
        if self.options:
            raise SourceError(
                f"{self.path}: parquet takes no reader options, got {', '.join(self.options)}"
            )
        metadata = verify_parquet(self.path)
        refuse_reserved(self.path, metadata.schema.to_arrow_schema().names)
        frame = literal.scan_parquet(self.path).with_row_index(SOURCE_ROW, offset=1)
        frame = frame.with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
        return polars_result(frame, records=metadata.num_rows)
