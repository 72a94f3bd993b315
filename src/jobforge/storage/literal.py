"""Paths handed to polars and pyarrow, taken literally: the one place that does it.

Left to themselves, both libraries read a path as more than a name:

- polars' scans expand glob patterns (``a[1].csv`` reads ``a1.csv``, ``b*.csv``
  merges files, and a data root with ``[`` in its path finds nothing), infer
  hive partitions from ``key=value`` folders, and, like fastexcel, expand a
  leading ``~`` to a home folder;
- pyarrow parses a path that does not exist yet (a file about to be written)
  as a URI when it looks like one.

Every call here passes an absolute path (no ``~`` expansion, no URI scheme;
not resolved, so a link in the path stays a link) with globbing and hive
partitioning off, and pyarrow gets the local file system explicitly. jobforge
code calls these instead of the libraries' own functions (``grep -rn
"scan_parquet\\|scan_csv\\|read_metadata\\|ParquetWriter\\|ParquetFile"`` finds
them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from jobforge.storage.hashing import HashingFile

if TYPE_CHECKING:  # imported when first used: a run with nothing to do needs neither
    import polars as pl
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq


@cache
def local() -> pafs.LocalFileSystem:
    """The local file system: given explicitly, pyarrow never parses a path as a URI."""
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem()


def __getattr__(name: str) -> Any:
    if name == "LOCAL":  # the name plugins use
        return local()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def text(path: Path | str) -> str:
    """The absolute path as text, without resolving links or ``..``."""
    return str(Path(path).absolute())


def scan_parquet(paths: Path | Sequence[Path], **options: Any) -> pl.LazyFrame:
    """``pl.scan_parquet`` of exactly these files (no glob, no hive partitions)."""
    import polars as pl

    if isinstance(paths, (str, Path)):
        sources: str | list[str] = text(paths)
    else:
        sources = [text(p) for p in paths]
    return pl.scan_parquet(sources, glob=False, hive_partitioning=False, **options)


def scan_csv(path: Path, **options: Any) -> pl.LazyFrame:
    """``pl.scan_csv`` of exactly this file (no glob)."""
    import polars as pl

    return pl.scan_csv(text(path), glob=False, **options)


def sink_parquet(frame: pl.LazyFrame, target: Path | HashingFile, **options: Any) -> Any:
    """``frame.sink_parquet`` to exactly this path (no ``~`` expansion), or
    through a hashing sink (:meth:`~jobforge.storage.pending.PendingFiles.sink_for`)."""
    if isinstance(target, HashingFile):
        return frame.sink_parquet(cast("IO[bytes]", target), **options)
    return frame.sink_parquet(text(target), **options)


def read_metadata(path: Path) -> pq.FileMetaData:
    """The parquet footer of exactly this file."""
    import pyarrow.parquet as pq

    return pq.read_metadata(text(path), filesystem=local())


def read_schema(path: Path) -> pa.Schema:
    """The arrow schema in the footer of exactly this file."""
    import pyarrow.parquet as pq

    return pq.read_schema(text(path), filesystem=local())


def parquet_file(path: Path) -> pq.ParquetFile:
    """A :class:`pyarrow.parquet.ParquetFile` of exactly this file."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(text(path), filesystem=local())


def parquet_writer(
    target: Path | HashingFile, schema: pa.Schema, **options: Any
) -> pq.ParquetWriter:
    """A :class:`pyarrow.parquet.ParquetWriter` writing exactly this path, or
    through a hashing sink (:meth:`~jobforge.storage.pending.PendingFiles.sink_for`;
    closing the writer does not close the sink)."""
    import pyarrow.parquet as pq

    if isinstance(target, HashingFile):
        return pq.ParquetWriter(target, schema, **options)
    return pq.ParquetWriter(text(target), schema, filesystem=local(), **options)
