"""The contract between the engine and source readers."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from jobforge.errors import SourceError
from jobforge.storage.digest import sha256_of as sha256_of  # its former home

if TYPE_CHECKING:
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


RecordStream = Callable[[], "pa.RecordBatchReader"]
"""A function that opens a new stream of Arrow batches over all of a reader's rows,
from the first, each time it is called (nothing need be parsed before it is)."""


@dataclass(frozen=True)
class NativePlan:
    """A reader's own plan of the rows its streams give, for an executor that
    knows that kind of plan (``ReadResult.native``): an accelerator, never
    required. The bundled readers offer a ``"polars"`` one (polars ``LazyFrame``s,
    which the polars executor runs as they are); it must hold the same rows,
    columns and types as the Arrow streams."""

    records: object
    rejected: object | None = None


@dataclass
class ReadResult:
    """What a reader produced: its rows as Arrow, rows it could not read as
    records (kept for quarantine), and what it found out about the file.

    The rows are given as :data:`RecordStream` functions, so that nothing is
    parsed until an executor reads them, batch by batch: each call opens a new
    ``pyarrow.RecordBatchReader`` from the first row (an executor that needs two
    passes calls it twice; the bundled executors make one). A reader whose data
    lives in a ``pyarrow.dataset`` gives ``lambda: dataset.scanner().to_reader()``.
    """

    batches: RecordStream
    """The records: one column per source field, then a ``_source_row`` column
    (integers, 1-based)."""
    rejected: RecordStream | None = None
    """Records that do not fit the format (ragged rows, bad JSON lines), with
    ``_source_row``, ``rule_id``, ``message`` and ``row`` (the raw record)."""
    header_mapping: dict[str, str] = field(default_factory=dict)
    """Header name in the file -> column name in staged, where they differ."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the reader chose (sheet, record path, encoding), for the record."""
    records: int | None = None
    """How many records the reader counted in the file (rows of ``batches`` plus
    rows of ``rejected``), counted independently of the streams; ``None`` if it
    did not count. The engine refuses a batch whose written rows do not add up to it."""
    native: Mapping[str, NativePlan] = field(default_factory=dict)
    """Optional plans of the same rows by kind (``"polars"``), used instead of the
    streams by an executor that runs that kind; every other executor reads the
    streams."""
    _stream_errors: list[BaseException] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # A polars frame here is the former contract (frame=, rejected=): say so.
        for name in ("batches", "rejected"):
            value = getattr(self, name)
            if not (callable(value) or (value is None and name == "rejected")):
                raise TypeError(
                    f"ReadResult.{name}: expected a function returning a "
                    f"pyarrow.RecordBatchReader, got {type(value).__name__} (a reader's own "
                    "plan, such as a polars LazyFrame, goes in native=)"
                )

    def record_batches(self) -> pa.RecordBatchReader:
        """A new stream of the records (see :meth:`stream_error`)."""
        return self._open("batches", self.batches)

    def rejected_batches(self) -> pa.RecordBatchReader | None:
        """A new stream of the rejects, or ``None``."""
        return None if self.rejected is None else self._open("rejected", self.rejected)

    def native_plan(self, kind: str) -> NativePlan | None:
        """The reader's plan of kind ``kind``, if it offers one."""
        return self.native.get(kind)

    @property
    def stream_error(self) -> BaseException | None:
        """The first exception the reader's own code raised while a stream was
        read, if any. An engine wraps an error raised inside it (DuckDB reports
        it as its own), so the engine takes the reader's back from here: a
        ``SourceError`` found halfway through a file is still a refusal."""
        return self._stream_errors[0] if self._stream_errors else None

    def _open(self, name: str, stream: RecordStream) -> pa.RecordBatchReader:
        import pyarrow as pa

        try:
            opened = stream()
        except Exception as exc:
            self._stream_errors.append(exc)
            raise
        if not isinstance(opened, pa.RecordBatchReader):
            raise TypeError(
                f"ReadResult.{name}() returned {type(opened).__name__}, "
                "expected a pyarrow.RecordBatchReader"
            )
        errors = self._stream_errors

        def batches() -> Iterator[pa.RecordBatch]:
            with opened:
                while True:
                    try:
                        batch = opened.read_next_batch()
                    except StopIteration:
                        return
                    except Exception as exc:
                        errors.append(exc)
                        raise
                    yield batch

        return pa.RecordBatchReader.from_batches(opened.schema, batches())


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
