"""The size limits of the readers: what a file may hold before it is refused.

A file is read within bounded memory where its format allows it (CSV, NDJSON
and JSON arrays are streamed in batches); what cannot be read within bounds is
refused, with one line, before memory grows. Each limit has a default and a
reader option of the same name that raises (or lowers) it; docs/sources.md
lists them (a test checks that the table there matches :data:`LIMITS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobforge.plugin import SourceError


@dataclass(frozen=True)
class Limit:
    """One limit: its option name, default, the formats it applies to, and what
    it bounds (for messages and the documentation)."""

    option: str
    default: int
    formats: tuple[str, ...]
    what: str


LIMITS: dict[str, Limit] = {
    limit.option: limit
    for limit in (
        Limit(
            "max_columns",
            10_000,
            ("csv", "tsv", "json", "ndjson", "xlsx"),
            "columns in a table (a CSV header's names, the distinct keys of JSON records, "
            "an xlsx header row's cells)",
        ),
        Limit(
            "max_field_chars",
            1 << 26,
            ("csv", "tsv"),
            "characters in one CSV field",
        ),
        Limit(
            "max_record_chars",
            1 << 26,
            ("json", "ndjson"),
            "characters of one JSON record (an element of the records array, an NDJSON "
            "line, or any other value of a top-level object)",
        ),
        Limit(
            "max_depth",
            64,
            ("json", "ndjson"),
            "nesting depth of one record (an object of plain values is 1 deep)",
        ),
        Limit(
            "max_cells",
            10_000_000,
            ("xlsx",),
            "cells of the sheet read (rows x columns of the area its cells span)",
        ),
        Limit(
            "max_inflated_bytes",
            1 << 29,
            ("xlsx",),
            "bytes the sheet read and the workbook's shared strings inflate to (calamine holds "
            "their text)",
        ),
        Limit(
            "max_ratio",
            100,
            ("xlsx",),
            "uncompressed-to-compressed size ratio of each part of the workbook (zip bombs)",
        ),
    )
}


@dataclass(frozen=True)
class Limits:
    """The limits in force for one read (defaults, or the reader options)."""

    max_columns: int = LIMITS["max_columns"].default
    max_field_chars: int = LIMITS["max_field_chars"].default
    max_record_chars: int = LIMITS["max_record_chars"].default
    max_depth: int = LIMITS["max_depth"].default
    max_cells: int = LIMITS["max_cells"].default
    max_ratio: int = LIMITS["max_ratio"].default
    max_inflated_bytes: int = LIMITS["max_inflated_bytes"].default


def options_for(fmt: str) -> tuple[str, ...]:
    """The limit options a format takes."""
    return tuple(name for name, limit in LIMITS.items() if fmt in limit.formats)


def limits_from(path: Path, options: Mapping[str, Any], fmt: str) -> Limits:
    """The :class:`Limits` set by ``options`` (other options are ignored here):
    each value a whole number of at least 1 (``20000`` or ``"20000"``; ``_``
    allowed as in ``20_000``)."""
    values: dict[str, int] = {}
    for name in options_for(fmt):
        if name not in options:
            continue
        raw = options[name]
        text = str(raw).strip().replace("_", "")
        if isinstance(raw, bool) or not text.isdigit() or int(text) < 1:
            raise SourceError(
                f"{path}: reader option {name} must be a whole number of at least 1, not {raw!r}"
            )
        values[name] = int(text)
    return Limits(**values)


def over(path: Path, limit: str, value: int, found: str) -> SourceError:
    """The refusal of a file over a limit: what was found, the limit in force
    and the option that raises it, on one line."""
    return SourceError(
        f"{path}: {found}, more than {limit} = {value} "
        f"(a reader limit: set the option {limit} higher to read this file)"
    )
