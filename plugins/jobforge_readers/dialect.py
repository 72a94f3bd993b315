"""How a delimited file's records are split (a module without polars or pyarrow,
so that reading a header imports neither)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

FIELD_LIMIT = 2**31 - 1
"""The most Python's ``csv`` module can be told to accept (its default is 128 KiB);
the reader option ``max_field_chars`` sets the limit in force."""


@dataclass(frozen=True)
class Dialect:
    """How records are split: one delimiter character, and a quote character or
    ``None`` for no quoting at all (every quote is ordinary text)."""

    delimiter: str
    quote: str | None

    def reader(self, lines: Iterator[str], field_limit: int = FIELD_LIMIT) -> Iterator[list[str]]:
        csv.field_size_limit(min(field_limit, FIELD_LIMIT))
        if self.quote is None:
            return csv.reader(lines, delimiter=self.delimiter, quoting=csv.QUOTE_NONE, strict=True)
        return csv.reader(lines, delimiter=self.delimiter, quotechar=self.quote, strict=True)
