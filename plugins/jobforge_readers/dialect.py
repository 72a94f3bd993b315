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
_in_force = _outside
"""The limit these reads last set."""
_changes = 0
"""How many times these reads have set it."""


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
    its own after the record (measured only when the limit in force may not
    have been its own while the record was read: another read began or ended
    since its last record, or has a higher limit), and after the last read the
    limit is given back.
    """
    global _outside
    with _lock:
        if not _active:
            _outside = csv.field_size_limit()
        _active.append(limit)
        _set(max(_active))
    seen = -1
    try:
        for fields in rows:
            changes = _changes
            if changes != seen or _in_force > limit:
                # the module's limit may have been above this read's while the
                # record was read: measure its fields (else the module did)
                if max(map(len, fields), default=0) > limit:
                    raise csv.Error(f"field larger than field limit ({limit})")
                seen = changes
            yield fields
    finally:
        with _lock:
            _active.remove(limit)
            _set(max(_active) if _active else _outside)


def _set(limit: int) -> None:
    global _changes, _in_force
    csv.field_size_limit(limit)
    _in_force = limit
    _changes += 1
