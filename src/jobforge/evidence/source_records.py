"""The raw bytes of chosen records of a CSV source file, numbered as the reader
numbers them (``_source_row``: 1-based, the header is not a record).

A record may span several physical lines (a quoted field with line breaks):
the stdlib ``csv`` reader, fed one physical line at a time, says where each
record ends, so a record's bytes are exactly the lines it was read from.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass

from jobforge.errors import SourceError


@dataclass(frozen=True)
class SourceRecord:
    """One record of a source file: its number, where it is and its bytes."""

    source_row: int
    first_line: int
    """1-based physical line of the file where the record starts."""
    last_line: int
    raw: bytes
    fields: tuple[str, ...]
    """The record's fields as the stdlib CSV reader parses ``raw``."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class CsvRecords:
    """The header line and the chosen records of one CSV file."""

    header: bytes
    columns: tuple[str, ...]
    records: tuple[SourceRecord, ...]
    count: int
    """How many records the whole file holds."""


def csv_records(
    data: bytes,
    wanted: Iterable[int],
    *,
    name: str,
    encoding: str = "utf-8",
    delimiter: str = ",",
    quote: str = '"',
) -> CsvRecords:
    """The header and the records numbered ``wanted`` of the CSV file ``data``."""
    wanted_rows = set(wanted)
    lines = io.BytesIO(data).readlines()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    position = 0
    """Physical lines read so far."""

    def next_line() -> Iterable[str]:
        nonlocal position
        while position < len(lines):
            line = lines[position]
            position += 1
            try:
                yield line.decode(codec if position == 1 else encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{name}: line {position} is not {encoding}: {exc.reason}"
                ) from None

    reader = csv.reader(next_line(), delimiter=delimiter, quotechar=quote, strict=False)
    header: bytes | None = None
    columns: tuple[str, ...] = ()
    found: list[SourceRecord] = []
    number = 0
    while True:
        start = position
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise SourceError(f"{name}: line {position}: {exc}") from None
        if not fields:
            continue  # a blank line is not a record (the readers skip it too)
        raw = b"".join(lines[start:position])
        if header is None:
            header, columns = raw, tuple(fields)
            continue
        number += 1
        if number in wanted_rows:
            found.append(SourceRecord(number, start + 1, position, raw, tuple(fields)))
    missing = sorted(wanted_rows - {r.source_row for r in found})
    if header is None or missing:
        raise SourceError(
            f"{name}: has no record(s) {', '.join(map(str, missing[:5]))} (it has {number} records)"
        )
    return CsvRecords(header, columns, tuple(found), number)
