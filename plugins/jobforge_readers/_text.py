"""JSON values as text, exactly as the file wrote them, so staged keeps every
value as text and loses nothing.

Numbers are kept as their text in the file (``1.10`` stays ``1.10``, not
``1.1``); a value that is an array or an object becomes compact JSON (no
spaces) with its numbers as written and its keys in the file's order, repeated
keys included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


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


class InvalidToken(Exception):
    """A token that Python's :mod:`json` accepts but JSON does not (``NaN``,
    ``Infinity``, ``-Infinity``)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _constant(token: str) -> Any:
    raise InvalidToken(token)


def decoder() -> json.JSONDecoder:
    """A decoder keeping numbers as :class:`RawNumber` and objects with a
    repeated key as :class:`RepeatedKeys`; ``NaN`` and the infinities raise
    :class:`InvalidToken`."""
    return json.JSONDecoder(
        parse_float=RawNumber,
        parse_int=RawNumber,
        parse_constant=_constant,
        object_pairs_hook=_object,
    )


_DECODER = decoder()


def loads(text: str) -> Any:
    """``json.loads`` with :func:`decoder`'s hooks."""
    return _DECODER.decode(text)


def lone_surrogate(value: Any) -> str | None:
    """The first string (key or value) anywhere in ``value`` that holds a lone
    surrogate (``"\\ud800"`` decodes to one: it is no character, and no UTF-8
    text can hold it), as a JSON escape of its first 40 characters; else ``None``."""
    stack = [value]
    while stack:
        item = stack.pop()
        texts: list[Any] = []
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return json.dumps(text[:40])
    return None


def depth(value: Any) -> int:
    """Nesting depth: 0 for a plain value, 1 for an object or array of plain
    values, and so on."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


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
