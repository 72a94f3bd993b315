"""JSON (an array of objects, or objects under a key) and NDJSON/JSONL.

Every value is kept as text (see :mod:`jobforge_readers._text`: numbers as
written, arrays and objects as compact JSON). A record that is not an object,
or an object with a repeated key (which :mod:`json` would silently reduce to
its last value), is kept for quarantine with its raw text.

JSON options: ``record_path`` (the key holding the records, e.g. ``families``);
when it is not given and the top level is an object with exactly one array of
objects, that array is used and its key recorded. ``_source_row`` is the
record's 1-based position in the array.

NDJSON: one object per line; ``_source_row`` is the line number. A line that
is not a JSON object is kept for quarantine with its raw text; blank lines are
skipped. Both take ``encoding`` (default ``utf-8``, with or without a BOM).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from jobforge.errors import SourceError
from jobforge.sources.base import ReadResult, SourceHeader
from jobforge_readers._sniff import (
    canonical_encoding,
    decode_error,
    refuse_binary,
    refuse_utf16_as_utf8,
)
from jobforge_readers._text import compact, loads, records_to_frame, repeated_keys
from jobforge_readers.header import json_first_keys, ndjson_first_keys

NOT_AN_OBJECT = "not_an_object"
INVALID_JSON = "invalid_json"
REPEATED_KEY = "repeated_key"

_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
}


def _kind(value: Any) -> str:
    if isinstance(value, str) and type(value) is not str:
        return "a number"
    return _KINDS.get(type(value), "a number")


def _check_options(path: Path, options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise SourceError(
            f"{path}: unknown option(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(sorted(allowed)) or 'none'}"
        )


def _encoding(path: Path, options: Mapping[str, Any]) -> str:
    encoding = canonical_encoding(path, str(options.get("encoding", "utf-8")))
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _sort(
    items: list[tuple[int, Any, str | None]],
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str, str]]]:
    """Objects to stage, and ``(row, rule, message, raw)`` to quarantine. ``items``
    are ``(row, value, raw text)``; without raw text (a JSON array's element) the
    quarantined text is the value's compact JSON, numbers as written."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    for row, value, raw in items:
        if not isinstance(value, dict):
            message = f"expected an object, found {_kind(value)}"
            bad.append((row, NOT_AN_OBJECT, message, raw if raw is not None else compact(value)))
            continue
        repeated = repeated_keys(value)
        if repeated:
            message = f"key {', '.join(repr(k) for k in repeated)} occurs more than once"
            bad.append((row, REPEATED_KEY, message, raw if raw is not None else compact(value)))
            continue
        good.append((row, value))
    return good, bad


def _rejected(bad: list[tuple[int, str, str, str]]) -> pl.LazyFrame | None:
    if not bad:
        return None
    return pl.DataFrame(
        {
            "_source_row": pl.Series([b[0] for b in bad], dtype=pl.Int64),
            "rule_id": pl.Series([b[1] for b in bad], dtype=pl.String),
            "message": pl.Series([b[2] for b in bad], dtype=pl.String),
            "row": pl.Series([b[3] for b in bad], dtype=pl.String),
        }
    ).lazy()


class JsonReader:
    format = "json"

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        self.options = dict(options)
        self.record_path = options.get("record_path")

    def _load(self) -> Any:
        _check_options(self.path, self.options, {"record_path", "encoding"})
        self.encoding = _encoding(self.path, self.options)
        refuse_binary(self.path, "JSON")
        refuse_utf16_as_utf8(self.path, self.encoding)
        try:
            text = self.path.read_text(encoding=self.encoding)
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        if not text.strip():
            raise SourceError(f"{self.path}: the file holds no JSON (only white space)")
        try:
            return loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{self.path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise SourceError(f"{self.path}: JSON nested too deeply to read") from None

    def _records(self, document: Any, details: dict[str, Any]) -> list[Any]:
        if isinstance(document, dict):
            key = self.record_path
            if key is None:
                candidates = [
                    k
                    for k, v in document.items()
                    if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)
                ]
                if len(candidates) != 1:
                    raise SourceError(
                        f"{self.path}: expected a JSON array of objects; the top level is an "
                        "object (set the reader option record_path to the key of the records)"
                    )
                key = candidates[0]
            if key not in document:
                raise SourceError(f"{self.path}: record_path {key!r} is not a key of the object")
            details["record_path"] = key
            records = document[key]
            where = f"the value of {key!r}"
        elif self.record_path is not None:
            raise SourceError(
                f"{self.path}: record_path {self.record_path!r} given, but the top level "
                f"is {_kind(document)}, not an object"
            )
        else:
            records = document
            where = "the top level"
        if not isinstance(records, list):
            raise SourceError(
                f"{self.path}: expected a JSON array of objects, {where} is {_kind(records)}"
            )
        if not any(isinstance(r, dict) for r in records):
            found = "an empty array" if not records else "an array with no object in it"
            raise SourceError(
                f"{self.path}: expected a JSON array of objects, {where} is {found} "
                "(no records and no columns to stage)"
            )
        return records

    def header(self) -> SourceHeader | None:
        """The first record's keys (later records may add columns)."""
        _check_options(self.path, self.options, {"record_path", "encoding"})
        keys = json_first_keys(self.path, _encoding(self.path, self.options), self.record_path)
        return SourceHeader(keys, complete=False) if keys is not None else None

    def read(self) -> ReadResult:
        details: dict[str, Any] = {}
        records = self._records(self._load(), details)
        try:
            good, bad = _sort([(i, r, None) for i, r in enumerate(records, start=1)])
            frame, mapping = records_to_frame(self.path, good)
        except RecursionError:
            raise SourceError(f"{self.path}: JSON nested too deeply to read") from None
        return ReadResult(
            frame=frame.lazy(),
            rejected=_rejected(bad),
            header_mapping=mapping,
            details=details,
            records=len(records),
        )


class NdjsonReader:
    format = "ndjson"

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        self.options = dict(options)

    def header(self) -> SourceHeader | None:
        """The first object's keys (later lines may add columns)."""
        _check_options(self.path, self.options, {"encoding"})
        keys = ndjson_first_keys(self.path, _encoding(self.path, self.options))
        return SourceHeader(keys, complete=False) if keys is not None else None

    def read(self) -> ReadResult:
        _check_options(self.path, self.options, {"encoding"})
        self.encoding = _encoding(self.path, self.options)
        refuse_binary(self.path, "NDJSON")
        refuse_utf16_as_utf8(self.path, self.encoding)
        items: list[tuple[int, Any, str | None]] = []
        invalid: list[tuple[int, str, str, str]] = []
        blank = 0
        try:
            with self.path.open("r", encoding=self.encoding) as handle:
                for line_no, line in enumerate(handle, start=1):
                    text = line.rstrip("\n")
                    if not text.strip():
                        blank += 1
                        continue
                    try:
                        items.append((line_no, loads(text), text))
                    except json.JSONDecodeError as exc:
                        invalid.append(
                            (
                                line_no,
                                INVALID_JSON,
                                f"invalid JSON at column {exc.colno}: {exc.msg}",
                                text,
                            )
                        )
                    except RecursionError:
                        invalid.append((line_no, INVALID_JSON, "JSON nested too deeply", text))
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        if not items and not invalid:
            raise SourceError(
                f"{self.path}: the file holds no JSON lines (expected one object a line)"
            )
        try:
            good, bad = _sort(items)
        except RecursionError:
            raise SourceError(f"{self.path}: JSON nested too deeply to read") from None
        if not good:
            raise SourceError(
                f"{self.path}: no line is a JSON object ({len(bad) + len(invalid)} lines; "
                "expected one object a line)"
            )
        frame, mapping = records_to_frame(self.path, good)
        return ReadResult(
            frame=frame.lazy(),
            rejected=_rejected(sorted(bad + invalid)),
            header_mapping=mapping,
            details={"blank_lines": blank},
            records=len(items) + len(invalid),
        )
