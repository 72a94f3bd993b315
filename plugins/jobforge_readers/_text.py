"""JSON values as text, exactly as the file wrote them, so staged keeps every
value as text and loses nothing.

Numbers are kept as their text in the file (``1.10`` stays ``1.10``, not
``1.1``); a value that is an array or an object becomes compact JSON (no
spaces) with its numbers as written and its keys in the file's order, repeated
keys included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from jobforge.errors import SourceError
from jobforge.sources.headers import normalise_headers, refuse_reserved


class RawNumber(str):
    """A JSON number, kept as the text the file wrote."""


class RepeatedKeys(dict):  # type: ignore[type-arg]
    """A JSON object in which a key occurs more than once: a ``dict`` (the last
    value wins, as in :mod:`json`) that remembers every pair."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    @property
    def repeated(self) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for key, _ in self.pairs:
            if key in seen and key not in out:
                out.append(key)
            seen.add(key)
        return out


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        return RepeatedKeys(pairs)
    return dict(pairs)


def loads(text: str) -> Any:
    """``json.loads`` keeping numbers as :class:`RawNumber` and objects with a
    repeated key as :class:`RepeatedKeys`."""
    return json.loads(
        text,
        parse_float=RawNumber,
        parse_int=RawNumber,
        parse_constant=RawNumber,
        object_pairs_hook=_object,
    )


def as_text(value: Any) -> str | None:
    """A JSON value as the text it stands for: strings as they are, ``null`` as
    null, ``true``/``false``, numbers as written, arrays and objects as compact
    JSON."""
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, RawNumber):
        return value
    return compact(value)


def compact(value: Any) -> str:
    """Compact JSON of a value parsed by :func:`loads`, numbers as written."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, RepeatedKeys):
        items: Iterable[tuple[str, Any]] = value.pairs
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        return "[" + ",".join(compact(v) for v in value) + "]"
    else:
        return json.dumps(value)
    return (
        "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{compact(v)}" for k, v in items) + "}"
    )


def repeated_keys(value: Any) -> list[str]:
    """Keys that occur twice in one object anywhere in ``value`` (depth first)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, RepeatedKeys):
            found.extend(k for k in item.repeated if k not in found)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def records_to_frame(
    path: Path,
    records: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Text columns (the union of keys, in first-seen order) with ``_source_row``;
    records without any key, or a key that is a provenance column's name, refuse
    the file."""
    rows: list[int] = []
    keys: dict[str, None] = {}
    materialised = []
    for row, record in records:
        rows.append(row)
        materialised.append(record)
        for key in record:
            keys.setdefault(key, None)
    raw_names = list(keys)
    if not raw_names:
        raise SourceError(f"{path}: the records have no keys (no columns to stage)")
    names, mapping = normalise_headers(raw_names)
    refuse_reserved(path, names)
    data: dict[str, pl.Series] = {"_source_row": pl.Series(rows, dtype=pl.Int64)}
    for raw, name in zip(raw_names, names, strict=True):
        data[name] = pl.Series([as_text(r.get(raw)) for r in materialised], dtype=pl.String)
    return pl.DataFrame(data), mapping
