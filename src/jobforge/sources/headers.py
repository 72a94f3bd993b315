"""Header names: kept as in the file, with a deterministic fix for the two
cases a table cannot hold.

- an empty header name becomes ``column_<n>`` (n = 1-based position);
- a repeated header name becomes ``<name>__<k>`` for its k-th repetition
  (k = 2, 3, ...), skipping any name already taken.

A UTF-8 byte order mark is not part of the name. Everything else (spaces,
case, accents, line breaks) is kept. The mapping of changed names is recorded
with the ingestion. A name that is a provenance column's (``_source_row``,
``_batch_id``...) is refused, see :func:`refuse_reserved`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jobforge.errors import SourceError
from jobforge.provenance import ALL_COLUMNS

BOM = "\ufeff"


def refuse_reserved(path: Path, names: Iterable[str]) -> None:
    """Refuse a source whose columns use a provenance column's name: the reader
    adds ``_source_row`` itself, and staged adds the others."""
    clash = sorted(set(names) & ALL_COLUMNS)
    if clash:
        raise SourceError(
            f"{path}: source column(s) {', '.join(clash)} use names reserved for "
            "provenance (rename them in the source)"
        )


def normalise_headers(raw: list[str]) -> tuple[list[str], dict[str, str]]:
    """Return the staged column names and ``{position:raw -> new}`` for changed ones.

    The mapping key is ``"<position>:<raw name>"`` so that two identical raw
    names stay distinguishable.
    """
    names: list[str] = []
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    first_raw = [name.removeprefix(BOM) if i == 0 else name for i, name in enumerate(raw)]
    reserved = set(first_raw)
    for position, name in enumerate(first_raw, start=1):
        candidate = name
        if candidate == "":
            candidate = f"column_{position}"
            k = 2
            while candidate in taken or candidate in reserved:
                candidate = f"column_{position}__{k}"
                k += 1
        elif candidate in taken:
            k = 2
            while f"{name}__{k}" in taken or f"{name}__{k}" in reserved:
                k += 1
            candidate = f"{name}__{k}"
        if candidate != name:
            mapping[f"{position}:{name}"] = candidate
        names.append(candidate)
        taken.add(candidate)
    return names, mapping
