"""How a delimited file's records are split (a module without polars or pyarrow,
so that reading a header imports neither)."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from dataclasses import dataclass

FIELD_LIMIT = 2**31 - 1
"""The most Python's ``csv`` module can be told to accept (its default is 128 KiB);
the reader option ``max_field_chars`` sets the limit in force."""

_lock = threading.Lock()
_active: list[int] = []
"""The field limits of the reads in progress, on every thread."""
_outside = csv.field_size_limit()
"""The process's limit before the first of them began, given back after the last."""


@dataclass(frozen=True)
class Dialect:
    """How records are split: one delimiter character, and a quote character or
    ``None`` for no quoting at all (every quote is ordinary text)."""

    delimiter: str
    quote: str | None

    def reader(self, lines: Iterator[str], field_limit: int = FIELD_LIMIT) -> Iterator[list[str]]:
        """The records of ``lines``; a field longer than ``field_limit``
        characters raises ``csv.Error("field larger than field limit (N)")``."""
        if self.quote is None:
            rows = csv.reader(lines, delimiter=self.delimiter, quoting=csv.QUOTE_NONE, strict=True)
        else:
            rows = csv.reader(lines, delimiter=self.delimiter, quotechar=self.quote, strict=True)
        return limited(rows, min(field_limit, FIELD_LIMIT))


def limited(rows: Iterator[list[str]], limit: int) -> Iterator[list[str]]:
    """``rows`` read under a field limit of ``limit``.

    The ``csv`` module's limit is one value for the whole process, read as each
    field grows. Set to one read's limit and left there, it refused the fields
    of a read with a higher limit on another thread (tables run in parallel)
    and of any later ``csv`` user in the process. So while reads are in
    progress the process's limit is the highest of theirs (a field is still
    refused before it grows past that), each read refuses a field longer than
    its own after the record, and after the last read the limit is given back.
    """
    global _outside
    with _lock:
        if not _active:
            _outside = csv.field_size_limit()
        _active.append(limit)
        csv.field_size_limit(max(_active))
    try:
        for fields in rows:
            if any(len(value) > limit for value in fields):
                raise csv.Error(f"field larger than field limit ({limit})")
            yield fields
    finally:
        with _lock:
            _active.remove(limit)
            csv.field_size_limit(max(_active) if _active else _outside)
