"""CSV records as Python's ``csv`` module reads them: the reference for staged.

jobforge's promise for delimited text is: staged holds, cell for cell, what
``csv.reader(f, delimiter=..., quotechar=..., strict=True)`` reads from the
file opened with ``newline=""`` (the header is its first record). Two readers
keep that promise:

- polars' CSV scanner, fast and streaming, used only for a plain file (every
  line plainly one record: :func:`_plain_file_check`);
- the ``csv`` module itself for every other file: :func:`write_records` makes
  the one pass that both checks the file and writes its records, in batches, to
  a parquet file in a folder the caller owns (memory does not grow with the
  file), keeping records with the wrong number of fields apart, in a second
  parquet file, for quarantine.

:func:`check_records` is the one place that chooses between the two.

A blank line (no characters between two line ends) is not a record: it is
skipped, as ``csv.DictReader`` skips it, and counted in the reader details.
Records are numbered from 1 after the header (blank lines not counted): that
number is ``_source_row`` in both readers (polars is only used on files with
no blank line).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from jobforge.plugin import BOM, SOURCE_ROW, SourceError, literal
from jobforge_readers._sniff import nul_advice
from jobforge_readers.dialect import Dialect
from jobforge_readers.limits import Limits, over

DEFAULT_LIMITS = Limits()

RAGGED_RULE = "ragged_record"
"""``rule_id`` of a record whose field count differs from the header's."""

_BATCH_ROWS = 50_000
_BATCH_CELLS = 1_000_000
"""A batch also ends at this many values (wide files) ..."""
_BATCH_CHARS = 1 << 26
"""... or at this many characters of source text (huge values)."""
_GROUP_ROWS = 10_000
_GROUP_CHARS = 2 << 20
"""Parquet row groups of the ``csv`` module's records: at most this many rows
and about this many characters (what polars then holds per morsel)."""
_TAIL_BYTES = 1 << 16


@dataclass(frozen=True)
class RecordFiles:
    """Where :func:`write_records` wrote a file's records.

    ``records``: ``_source_row`` (Int64) then one text column per header name,
    named by position (``0``, ``1``...; the caller renames them). ``rejected``:
    ``_source_row``, ``rule_id``, ``message`` and ``row`` (the record's fields as
    a JSON array), or ``None`` when every record has the header's width."""

    records: Path
    rejected: Path | None


@dataclass
class RecordCheck:
    """What one pass of the ``csv`` module found in a file."""

    header: list[str]
    records: int = 0
    """Records after the header, blank lines not counted."""
    blank_lines: int = 0
    odd_records: int = 0
    """Records whose number of fields differs from the header's."""
    polars_differs: list[str] = field(default_factory=list)
    """Why polars' scanner would not read this file exactly as ``csv`` does
    (empty: it reads it alike). Found by the full pass only: a plain file has none."""
    files: RecordFiles | None = field(default=None, compare=False)
    """Where the full pass wrote the records, when it was given a folder
    (``None``: not written, e.g. a plain file). Not compared: two checks are
    equal when they found the same things, wherever the records went."""

    @property
    def polars_safe(self) -> bool:
        return not self.polars_differs


class _Lines:
    """The file's lines with their line ends (``newline=""``), checked on the way:
    a NUL character refuses the file; a line that ends in a lone ``\\r`` is noted
    (polars does not end records there)."""

    def __init__(self, path: Path, handle: TextIO) -> None:
        self.path = path
        """The file's name in messages (the source's, when ``handle`` reads a
        transcoded copy of it)."""
        self.handle = handle
        self.number = 0
        self.chars = 0
        """Characters read so far (what a batch of records holds, roughly)."""
        self.lone_cr = False
        self.last = ""
        """The last line read, with its line end."""

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.number += 1
            self.chars += len(line)
            self.last = line
            if "\x00" in line:
                raise SourceError(
                    f"{self.path}: line {self.number} contains a NUL character "
                    + nul_advice(self.path)
                )
            if line[-1:] == "\r":
                self.lone_cr = True
            yield line


def _records(
    path: Path, dialect: Dialect, lines: _Lines, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of every record, header included; ``csv`` errors
    become one-line :class:`SourceError` naming the record's first line."""
    reader = dialect.reader(iter(lines), limits.max_field_chars)
    while True:
        start = lines.number + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if str(exc).startswith("field larger than field limit"):
                raise over(
                    path,
                    "max_field_chars",
                    limits.max_field_chars,
                    f"the record starting on line {start} has a field longer than that",
                ) from None
            hint = " (a quoted field is never closed)" if "end of data" in str(exc) else ""
            raise SourceError(
                f"{path}: malformed CSV in the record starting on line {start}: {exc}{hint}"
            ) from None
        yield start, fields


def _open(path: Path) -> TextIO:
    # utf-8-sig: a UTF-8 byte order mark is not part of the first header name,
    # and a quoted first name after it stays a quoted name.
    return path.open("r", encoding="utf-8-sig", newline="")


def _header(
    path: Path, records: Iterator[tuple[int, list[str]]], limits: Limits = DEFAULT_LIMITS
) -> list[str]:
    first = next(records, None)
    if first is None:
        raise SourceError(f"{path}: the file is empty (expected a header row)")
    header = first[1]
    if not header:
        raise SourceError(f"{path}: line 1 is blank (expected a header row)")
    if not any(name.strip() for name in header):
        raise SourceError(
            f"{path}: the header row has no column names ({len(header)} empty or blank names)"
        )
    if len(header) > limits.max_columns:
        raise over(path, "max_columns", limits.max_columns, f"the header has {len(header)} columns")
    return header


def check_records(
    path: Path,
    dialect: Dialect,
    folder: Callable[[], Path] | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    shown: Path | None = None,
) -> RecordCheck:
    """The ``csv`` module's answer for ``path`` (UTF-8): the header, the number
    of records, odd records, and what polars would read differently; the one
    place that decides between polars' scanner and the ``csv`` module's records.
    ``UnicodeDecodeError`` is left to the caller, which knows the real encoding.

    A file whose every line is plainly one well-formed record is recognised
    without the ``csv`` module's pass (:func:`_plain_file_check`, at polars'
    speed): polars reads it, nothing is written. Any other file gets the
    ``csv`` module's full pass; given ``folder`` (called only then), that pass
    also writes the records there (:func:`write_records`, ``files`` of the
    answer), and they are the ones to use. A faster implementation must give the
    same answers (the property tests compare both paths with the ``csv`` module).
    """
    plain = _plain_file_check(path, dialect, limits=limits, shown=shown)
    if plain is not None:
        return plain
    if folder is None:
        return _full_check(path, dialect, limits=limits, shown=shown)
    return write_records(path, dialect, folder(), limits=limits, shown=shown)


def _hex(char: str) -> str:
    return f"\\x{{{ord(char):X}}}"


_BANNED = "\\r\\x{0}\\x{FEFF}"

_COUNTED_BY_PATTERN_UP_TO = 256
"""Up to this width, the pattern itself counts a line's fields (it repeats the
field once per column); polars refuses patterns that big at a few thousand
columns, so wider lines count their delimiters outside quoted fields instead."""


def _plain_record_pattern(width: int, dialect: Dialect, *, counted: bool = True) -> str:
    """A regular expression (Rust syntax) matching a line that is exactly one
    record of ``width`` fields whose values have no quote character, no
    carriage return, no NUL and no U+FEFF: quoted fields ``"..."`` hold neither the quote
    nor ``\\r``; unquoted fields hold neither the quote nor the delimiter (for a
    single column, an unquoted field is not empty: an empty line is blank).
    Not ``counted``: any number of such fields."""
    delimiter = _hex(dialect.delimiter)
    if dialect.quote is None:
        field = f"[^{delimiter}{_BANNED}]" + ("+" if width == 1 else "*")
    else:
        quote = _hex(dialect.quote)
        unquoted = f"[^{quote}{delimiter}{_BANNED}]" + ("+" if width == 1 else "*")
        field = f"(?:{_quoted_field_pattern(dialect)}|{unquoted})"
    repeat = f"{{{width - 1}}}" if counted else "*"
    return f"^{field}(?:{delimiter}{field}){repeat}$"


def _quoted_field_pattern(dialect: Dialect) -> str:
    assert dialect.quote is not None
    quote = _hex(dialect.quote)
    return f"{quote}(?:[^{quote}{_BANNED}]|{quote}{quote})*{quote}"


def _not_plain(width: int, dialect: Dialect, *, counted: bool | None = None) -> pl.Expr:
    """True for a ``line`` that is not plainly one record of ``width`` fields
    (:func:`_plain_record_pattern`). ``counted``: whether the pattern counts the
    fields (default: up to :data:`_COUNTED_BY_PATTERN_UP_TO` columns). If not,
    a line of plain fields has ``width - 1`` delimiters once its quoted fields
    are taken out (in such a line the quote character only opens, closes or is
    doubled inside a quoted field)."""
    line = pl.col("line")
    if counted is None:
        counted = width <= _COUNTED_BY_PATTERN_UP_TO
    if counted:
        return ~line.str.contains(_plain_record_pattern(width, dialect))
    unquoted = (
        line if dialect.quote is None else line.str.replace_all(_quoted_field_pattern(dialect), "")
    )
    return ~line.str.contains(_plain_record_pattern(width, dialect, counted=False)) | (
        unquoted.str.count_matches(dialect.delimiter, literal=True) != width - 1
    )


def _quoted_line_pattern(width: int, dialect: Dialect) -> re.Pattern[str]:
    """The Python twin of :func:`_plain_record_pattern` for one line whose values
    hold the quote character only doubled inside quoted fields (say ""hi"" in quotes),
    which polars reads exactly as the ``csv`` module does."""
    assert dialect.quote is not None
    quote, delimiter = re.escape(dialect.quote), re.escape(dialect.delimiter)
    banned = "\\r\\x00\\ufeff"
    unquoted = f"[^{quote}{delimiter}{banned}]" + ("+" if width == 1 else "*")
    field = f"(?:{quote}(?:[^{quote}{banned}]|{quote}{quote})*{quote}|{unquoted})"
    return re.compile(f"{field}(?:{delimiter}{field}){{{width - 1}}}")


def _plain_file_check(
    path: Path,
    dialect: Dialect,
    *,
    counted: bool | None = None,
    limits: Limits = DEFAULT_LIMITS,
    shown: Path | None = None,
) -> RecordCheck | None:
    """The check of a plain file, or ``None`` when the file is not plainly so.

    Plain: the header is the first line and has no quote character in its
    names, the second line does not start with a byte order mark, the last
    line has no NUL and does not end in a carriage return (polars would drop
    each of these silently), and every other line (as polars splits lines: at
    ``\\n``, dropping one ``\\r`` before it) matches :func:`_plain_record_pattern`
    (``counted``: see :func:`_not_plain`). Such a file has, for the ``csv``
    module, one record per line, no blank line, no lone carriage return, no
    quoted field spanning lines, no value with the quote character and the
    header's width everywhere, which is exactly when :func:`_full_check` finds
    nothing, and then it counts one record per line. Anything unusual (an error
    of polars included: invalid UTF-8, a NUL, no data line) returns ``None``.
    """
    if len(dialect.delimiter.encode()) != 1 or (
        dialect.quote is not None and len(dialect.quote.encode()) != 1
    ):
        return None
    name = shown or path
    with _open(path) as handle:
        lines = _Lines(name, handle)
        header = _header(name, _records(name, dialect, lines, limits), limits)
        if lines.number != 1 or lines.lone_cr:
            return None
    if dialect.quote is not None and dialect.quote in "".join(header):
        return None
    with path.open("rb") as raw:
        raw.readline()
        if raw.read(3) == BOM.encode():
            return None  # polars would drop it
        size = raw.seek(0, 2)
        raw.seek(max(size - _TAIL_BYTES, 0))
        tail = raw.read()
    last_line = tail.rpartition(b"\n")[2]
    if len(last_line) == len(tail) or b"\x00" in last_line or tail.endswith(b"\r"):
        return None  # polars reads a NUL at the very end, or a final \r, as nothing
    try:
        total, odd, longest = (
            literal.scan_csv(
                path,
                has_header=False,
                skip_lines=1,
                new_columns=["line"],
                separator="\x00",
                quote_char=None,
                infer_schema=False,
                empty_string_is_null=False,
                raise_if_empty=False,
            )
            .select(
                pl.len(),
                _not_plain(len(header), dialect, counted=counted).sum(),
                pl.col("line").str.len_bytes().max().alias("longest"),
            )
            .collect()
            .row(0)
        )
    except pl.exceptions.PolarsError:
        return None
    if odd or not total or (longest or 0) > limits.max_field_chars:
        return None  # a line that long may hold a field over the limit: the csv module decides
    return RecordCheck(header=header, records=total)


def _full_check(
    path: Path,
    dialect: Dialect,
    sink: _RecordSink | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    shown: Path | None = None,
) -> RecordCheck:
    """:func:`check_records` by one pass of the ``csv`` module over every record;
    with a ``sink``, each record is also handed to it as it is read (the one
    place where the ``csv`` module's records are both checked and kept)."""
    name = shown or path
    with _open(path) as handle:
        lines = _Lines(name, handle)
        records = _records(name, dialect, lines, limits)
        check = RecordCheck(header=_header(name, records, limits))
        width = len(check.header)
        if sink is not None:
            sink.start(width, lines)
        quote = dialect.quote
        quote_in_value = False
        escaped = _quoted_line_pattern(width, dialect) if quote is not None else None
        count = 1
        for start, fields in records:
            count += 1
            if not fields:
                check.blank_lines += 1
                continue
            check.records += 1
            if len(fields) != width:
                check.odd_records += 1
                if sink is not None:
                    sink.ragged(check.records, start, fields)
                continue
            if sink is not None:
                sink.record(check.records, fields)
            if (
                quote is not None
                and escaped is not None
                and not quote_in_value
                and quote in "".join(fields)
            ):
                # Doubled quotes inside quoted fields, on one line, read the same in
                # polars; a quote anywhere else does not.
                line = lines.last.rstrip("\n").removesuffix("\r")
                quote_in_value = lines.number != start or not escaped.fullmatch(line)
        if quote is not None and not quote_in_value:
            quote_in_value = quote in "".join(check.header)
    differs = check.polars_differs
    if check.odd_records:
        differs.append(f"{check.odd_records} record(s) with the wrong number of fields")
    if check.blank_lines:
        differs.append(f"{check.blank_lines} blank line(s)")
    if lines.lone_cr:
        differs.append("a line ending in a lone carriage return")
    if lines.number != count:
        differs.append("a quoted field spanning lines")
    if quote_in_value:
        differs.append("a value containing the quote character")
    return check


REJECTED_SCHEMA = pa.schema(
    [
        (SOURCE_ROW, pa.int64()),
        ("rule_id", pa.large_string()),
        ("message", pa.large_string()),
        ("row", pa.large_string()),
    ]
)
# Temporary files, read once: no compression is the fastest choice.
_PARQUET = {"compression": "none", "write_statistics": False}


class _RecordSink:
    """Receives the records of :func:`_full_check` and writes them, batch by
    batch, to ``records.parquet`` and (ragged ones) ``rejected.parquet`` in
    ``folder``. A batch ends at :data:`_BATCH_ROWS` records, at
    :data:`_BATCH_CELLS` values or at :data:`_BATCH_CHARS` characters of the
    file, whichever comes first: that, not the file, bounds the memory.

    A batch's values are kept in one flat list (``extend`` per record, sliced
    into columns by polars at the end of the batch): a list per record would be
    one more object for Python's garbage collector to scan, again and again.
    Row groups are small (:data:`_GROUP_ROWS`, :data:`_GROUP_CHARS`): polars
    streams a parquet file by row group, so they set what the staged step holds.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._width = 1
        self._limit = _BATCH_ROWS
        self._lines: _Lines  # set by start()
        self._mark = 0
        self._numbers: list[int] = []
        self._values: list[str] = []
        self._ragged: list[tuple[int, str, str]] = []
        self._records: pq.ParquetWriter | None = None
        self._rejected: pq.ParquetWriter | None = None

    def start(self, width: int, lines: _Lines) -> None:
        self._width = width
        self._limit = max(1, min(_BATCH_ROWS, _BATCH_CELLS // width))
        self._lines = lines
        self._mark = lines.chars
        schema = pa.schema(
            [(SOURCE_ROW, pa.int64())] + [(str(i), pa.large_string()) for i in range(width)]
        )
        self._records = literal.parquet_writer(self.folder / "records.parquet", schema, **_PARQUET)

    def record(self, number: int, fields: list[str]) -> None:
        self._numbers.append(number)
        self._values.extend(fields)
        if len(self._numbers) >= self._limit or self._lines.chars - self._mark >= _BATCH_CHARS:
            self._flush()

    def ragged(self, number: int, line: int, fields: list[str]) -> None:
        message = f"record on line {line}: expected {self._width} fields, found {len(fields)}"
        self._ragged.append((number, message, json.dumps(fields, ensure_ascii=False)))
        if len(self._ragged) >= self._limit or self._lines.chars - self._mark >= _BATCH_CHARS:
            self._flush()

    def _group_rows(self, rows: int) -> int:
        per_row = max(1, (self._lines.chars - self._mark) // max(rows, 1))
        return max(1, min(_GROUP_ROWS, _GROUP_CHARS // per_row))

    def _flush(self) -> None:
        assert self._records is not None
        rows = len(self._numbers)
        group = self._group_rows(rows + len(self._ragged))
        self._mark = self._lines.chars
        if rows:
            values = pl.Series(self._values, dtype=pl.String)
            frame = pl.DataFrame(
                [pl.Series(SOURCE_ROW, self._numbers, dtype=pl.Int64)]
                + [values.gather_every(self._width, i).alias(str(i)) for i in range(self._width)]
            )
            self._numbers, self._values = [], []
            table = frame.to_arrow().cast(self._records.schema)
            self._records.write_table(table, row_group_size=group)
        if self._ragged:
            if self._rejected is None:
                target = self.folder / "rejected.parquet"
                self._rejected = literal.parquet_writer(target, REJECTED_SCHEMA, **_PARQUET)
            numbers, messages, fields = zip(*self._ragged, strict=True)
            self._ragged = []
            columns = [
                pa.array(numbers, type=pa.int64()),
                pa.array([RAGGED_RULE] * len(numbers), type=pa.large_string()),
                pa.array(messages, type=pa.large_string()),
                pa.array(fields, type=pa.large_string()),
            ]
            table = pa.Table.from_arrays(columns, schema=REJECTED_SCHEMA)
            self._rejected.write_table(table, row_group_size=group)

    def close(self, *, complete: bool) -> RecordFiles:
        """Write what is held (if ``complete``) and close both files, whatever
        fails (the first error is raised)."""
        try:
            if complete:
                self._flush()
        finally:
            try:
                if self._records is not None:
                    self._records.close()
            finally:
                if self._rejected is not None:
                    self._rejected.close()
        return RecordFiles(
            records=self.folder / "records.parquet",
            rejected=self.folder / "rejected.parquet" if self._rejected is not None else None,
        )


def write_records(
    path: Path,
    dialect: Dialect,
    folder: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    shown: Path | None = None,
) -> RecordCheck:
    """One pass of the ``csv`` module over ``path`` (UTF-8): the check of
    :func:`check_records`'s full pass, and every record written to parquet files
    in ``folder`` (``files`` of the answer, see :class:`RecordFiles`), in batches.
    On an error, what was written stays in ``folder`` (the caller's to remove)
    and nothing elsewhere."""
    sink = _RecordSink(folder)
    try:
        check = _full_check(path, dialect, sink, limits=limits, shown=shown)
    except BaseException:
        sink.close(complete=False)
        raise
    check.files = sink.close(complete=True)
    return check
