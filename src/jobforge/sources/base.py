"""The contract between the engine and source readers."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from jobforge.errors import SourceError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa


@dataclass(frozen=True)
class SourceSpec:
    """A source file and how to read it.

    ``format`` is the declared format (``csv``, ``tsv``, ``xlsx``, ``json``,
    ``ndjson``, ``parquet``...) or ``None`` to decide by the file's suffix.
    ``options`` are reader options (``delimiter``, ``encoding``, ``sheet``,
    ``record_path``...). ``scratch`` is a folder the reader may keep temporary
    files in: the engine makes it beside the table's staged files, under a
    temporary name, and removes it after the ingestion (the next run on the
    table removes it after a crash); ``None`` outside the engine.
    """

    path: Path
    format: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    scratch: Path | None = None

    @property
    def effective_format(self) -> str:
        """The declared format, else the suffix without its dot, lower-cased."""
        if self.format:
            return self.format.lower()
        return self.path.suffix.lower().lstrip(".")


@dataclass
class ReadResult:
    """What a reader produced: rows as text (or typed, for typed formats) and
    rows it could not read as records (kept for quarantine)."""

    frame: pl.LazyFrame
    """The records, one column per source field, with a ``_source_row`` column."""
    rejected: pl.LazyFrame | None = None
    """Records that do not fit the format (ragged rows, bad JSON lines), with
    ``_source_row``, ``rule_id``, ``message`` and ``row`` (the raw record)."""
    header_mapping: dict[str, str] = field(default_factory=dict)
    """Header name in the file -> column name in staged, where they differ."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the reader chose (sheet, record path, encoding), for the record."""
    records: int | None = None
    """How many records the reader counted in the file (``frame`` rows plus
    ``rejected`` rows), counted independently of the frames; ``None`` if it did
    not count. The engine refuses a batch whose written rows do not add up to it."""

    def record_batches(self) -> pa.RecordBatchReader:
        """The records as a stream of Arrow batches: how an executor that is not
        polars takes them (the readers build polars lazy frames today)."""
        return _arrow_stream(self.frame)

    def rejected_batches(self) -> pa.RecordBatchReader | None:
        """The rejects as a stream of Arrow batches, or ``None``."""
        return None if self.rejected is None else _arrow_stream(self.rejected)


def _arrow_stream(frame: pl.LazyFrame) -> pa.RecordBatchReader:
    """Stream a lazy frame's rows as Arrow batches (the plan runs as they are read)."""
    import pyarrow as pa

    schema = frame.head(0).collect().to_arrow().schema

    def batches() -> Any:
        for chunk in frame.collect_batches():
            yield from chunk.to_arrow().cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


@dataclass(frozen=True)
class SourceHeader:
    """The staged column names of a source, read from the start of the file only
    (for the checks ``jobforge run`` makes before anything runs)."""

    columns: list[str]
    complete: bool = True
    """``False`` when later records may add columns (JSON: the keys of the first
    record; the staged columns are the union of every record's keys)."""


@runtime_checkable
class SourceReader(Protocol):
    """A reader claimed by a plugin for one source file."""

    format: str
    """The format name it reads the file as."""

    def read(self) -> ReadResult:
        """Read the file lazily where the format allows (CSV, Parquet)."""
        ...


def source_header(reader: SourceReader) -> SourceHeader | None:
    """The reader's :class:`SourceHeader`, if it can tell one without reading the
    data (an optional method ``header()`` of a reader; ``None`` otherwise)."""
    header = getattr(reader, "header", None)
    return header() if callable(header) else None


def check_readable_file(path: Path) -> None:
    """Refuse, with one clear line, what cannot be a source file: a missing path
    (or a dangling symbolic link), a directory, something that is not a regular
    file (a FIFO or a device would block or never end), an empty file, and a file
    this process cannot open.

    Readability is tested by opening the file, not with ``os.access``: that is
    the truth for the effective user, root included.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except PermissionError:
        raise SourceError(
            f"{path}: permission denied (a parent directory is not searchable)"
        ) from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError(f"{path}: is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(
            f"{path}: is not a regular file (a FIFO, socket or device), expected a file"
        )
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise SourceError(f"{path}: permission denied (the file is not readable)") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if info.st_size == 0:
        raise SourceError(f"{path}: the file is empty (0 bytes)")


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
