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
skipped. Both take ``encoding`` (default ``utf-8``, with or without a BOM) and
the limits of :mod:`jobforge_readers.limits`.

Both stream: the file is read a record at a time (:mod:`.json_stream` for
JSON, a line at a time for NDJSON) and the records are written in bounded
batches to parquet files (:mod:`.json_sink`) in a temporary folder of the
reader's own, ``jobforge-json-*``, inside the engine's scratch folder
(:attr:`SourceSpec.scratch`) or the system's temporary folder;
:meth:`close` removes it once the engine has consumed the frames.

``NaN``, ``Infinity`` and ``-Infinity`` (which Python's :mod:`json` accepts)
and strings holding a lone surrogate (``"\\ud800"``, which no UTF-8 text can
hold) are not valid JSON: a JSON file holding one is refused, an NDJSON line
holding one is quarantined (``invalid_json``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobforge.plugin import ReadResult, SourceError, SourceHeader
from jobforge_readers._sniff import (
    canonical_encoding,
    decode_error,
    refuse_binary,
    refuse_utf16_as_utf8,
)
from jobforge_readers._text import (
    InvalidToken,
    compact,
    depth,
    loads,
    lone_surrogate,
    repeated_keys,
)
from jobforge_readers.arrow import polars_result
from jobforge_readers.header import json_first_keys, ndjson_first_keys
from jobforge_readers.json_sink import RecordSink
from jobforge_readers.json_stream import JsonText, Span
from jobforge_readers.limits import Limits, limits_from, options_for, over

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


def _problem(value: Any, span: Span, limits: Limits) -> str | None:
    """Why a decoded value cannot be staged as it is: a lone surrogate, or
    nesting deeper than ``max_depth`` (``None``: it can). The span's cheap facts
    say when the value needs to be looked at."""
    if span.surrogate_escape:
        found = lone_surrogate(value)
        if found is not None:
            return f"the string {found} holds a lone surrogate (not a character; invalid JSON)"
    if span.brackets > limits.max_depth:
        levels = depth(value)
        if levels > limits.max_depth:
            return (
                f"JSON nested too deeply to read: {levels} levels, more than max_depth = "
                f"{limits.max_depth} (a reader limit: set the option max_depth higher)"
            )
    return None


def _sort(sink: RecordSink, row: int, value: Any, raw: str | None, chars: int) -> None:
    """Stage an object; quarantine anything else, and an object with a repeated
    key (raw text: the line, or the value's compact JSON, numbers as written)."""
    if not isinstance(value, dict):
        message = f"expected an object, found {_kind(value)}"
        sink.reject(row, NOT_AN_OBJECT, message, raw if raw is not None else compact(value))
        return
    repeated = repeated_keys(value)
    if repeated:
        message = f"key {', '.join(repr(k) for k in repeated)} occurs more than once"
        sink.reject(row, REPEATED_KEY, message, raw if raw is not None else compact(value))
        return
    sink.record(row, value, chars)


class _StreamingReader:
    """What both JSON readers share: options, the temporary folder, the sinks."""

    format = "json"
    _allowed: set[str] = set()

    def __init__(self, path: Path, options: Mapping[str, Any], scratch: Path | None = None) -> None:
        self.path = path
        self.options = dict(options)
        self.scratch = scratch
        """Where to make the temporary folder (``None``: the system's)."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._sinks = 0

    def _configure(self) -> None:
        _check_options(self.path, self.options, self._allowed)
        self.limits = limits_from(self.path, self.options, self.format)
        self.encoding = _encoding(self.path, self.options)
        refuse_binary(self.path, self.format.upper())
        refuse_utf16_as_utf8(self.path, self.encoding, without_bom=True)

    def _sink(self) -> RecordSink:
        """A sink writing into a folder of its own in the reader's temporary folder."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="jobforge-json-", dir=self.scratch)
        self._sinks += 1
        folder = Path(self._tmp.name) / f"sink-{self._sinks}"
        folder.mkdir()
        return RecordSink(self.path, folder, self.limits)

    @staticmethod
    def _drop(sink: RecordSink) -> None:
        """Forget a sink and its files (an array that turned out not to be the records)."""
        sink.close()
        shutil.rmtree(sink.folder, ignore_errors=True)

    @property
    def folder(self) -> Path | None:
        """The reader's temporary folder, if it made one (until :meth:`close`)."""
        return Path(self._tmp.name) if self._tmp is not None else None

    def close(self) -> None:
        """Remove the temporary folder: the frames of :meth:`read` scan files in
        it, so only once they are consumed."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def read(self) -> ReadResult:
        try:
            return self._read()
        except BaseException:
            self.close()  # nothing of a failed read is used
            raise

    def _read(self) -> ReadResult:
        raise NotImplementedError

    def _result(self, sink: RecordSink, details: dict[str, Any]) -> ReadResult:
        """The frames of a sink whose every record was handed to it."""
        sink.flush()
        sink.close()
        if not sink.keys:
            note = ""
            if sink.first_repeated is not None:
                row, message = sink.first_repeated
                note = f"; record {row} was set aside for quarantine: its {message}"
            raise SourceError(f"{self.path}: the records have no keys (no columns to stage){note}")
        frame, rejected, mapping = sink.frames()
        return polars_result(
            frame,
            rejected,
            header_mapping=mapping,
            details=details,
            records=sink.staged + sink.rejected,
        )


class JsonReader(_StreamingReader):
    format = "json"
    _allowed = {"record_path", "encoding", *options_for("json")}

    def __init__(self, path: Path, options: Mapping[str, Any], scratch: Path | None = None) -> None:
        super().__init__(path, options, scratch)
        self.record_path = options.get("record_path")
        self._empty: str | None = None
        """What the records array is, when it holds no object (refused once the
        whole file is known to be valid JSON)."""

    def header(self) -> SourceHeader | None:
        """The first record's keys (later records may add columns)."""
        _check_options(self.path, self.options, self._allowed)
        keys = json_first_keys(self.path, _encoding(self.path, self.options), self.record_path)
        return SourceHeader(keys, complete=False) if keys is not None else None

    def _read(self) -> ReadResult:
        self._configure()
        details: dict[str, Any] = {}
        try:
            with self.path.open("r", encoding=self.encoding) as handle:
                text = JsonText(self.path, handle, self.limits.max_record_chars)
                sink = self._document(text, details)
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        return self._result(sink, details)

    def _document(self, text: JsonText, details: dict[str, Any]) -> RecordSink:
        first = text.peek()
        if first == "":
            raise SourceError(f"{self.path}: the file holds no JSON (only white space)")
        if first == "[":
            if self.record_path is not None:
                raise SourceError(
                    f"{self.path}: record_path {self.record_path!r} given, but the top level "
                    "is an array, not an object"
                )
            sink = self._records(text, self._sink(), "the top level")
        elif first == "{":
            sink = self._object(text, details)
        else:
            sink = None
        if sink is not None:
            text.end()  # invalid JSON anywhere is refused first, as json.loads would
            if self._empty is not None:
                raise SourceError(
                    f"{self.path}: expected a JSON array of objects, {self._empty} "
                    "(no records and no columns to stage)"
                )
            return sink
        value, _ = text.value("the top-level value")
        text.end()
        if self.record_path is not None:
            raise SourceError(
                f"{self.path}: record_path {self.record_path!r} given, but the top level "
                f"is {_kind(value)}, not an object"
            )
        raise SourceError(
            f"{self.path}: expected a JSON array of objects, the top level is {_kind(value)}"
        )

    def _stage(self, sink: RecordSink, position: int, value: Any, span: Span) -> None:
        problem = _problem(value, span, self.limits)
        if problem is not None:
            raise SourceError(f"{self.path}: record {position} (line {span.line}): {problem}")
        _sort(sink, position, value, None, span.chars)

    def _records(self, text: JsonText, sink: RecordSink, where: str) -> RecordSink:
        """The array of records that starts here: objects are staged, anything
        else is quarantined; an array without any object is refused."""
        objects = count = 0
        for position, value, span in text.elements(lambda n: f"record {n}"):
            count += 1
            objects += isinstance(value, dict)
            self._stage(sink, position, value, span)
        if not objects:
            found = "an empty array" if not count else "an array with no object in it"
            self._empty = f"{where} is {found}"
        return sink

    def _candidate(self, text: JsonText, key: str, sink: RecordSink | None) -> bool:
        """Read the array that starts here, the value of ``key``, staging its
        elements into ``sink`` (if any) while every one is an object: whether
        it is a non-empty array of objects (auto-detected records)."""
        count = 0
        alive = True
        for position, value, span in text.elements(lambda n: f"record {n} of {key!r}"):
            count += 1
            if not isinstance(value, dict):
                alive = False
            elif alive and sink is not None:
                self._stage(sink, position, value, span)
        return alive and count > 0

    def _object(self, text: JsonText, details: dict[str, Any]) -> RecordSink:
        """The records of a top-level object: the array under ``record_path``,
        or the one key whose value is a non-empty array of objects."""
        wanted = self.record_path
        chosen: RecordSink | None = None
        chosen_key: str | None = None
        candidates = 0
        kinds: dict[str, str] = {}
        for key in text.object_keys():
            if key in kinds:
                raise SourceError(
                    f"{self.path}: the top-level object has the key {key!r} more than once "
                    "(which value holds the records would be a guess)"
                )
            if text.peek() != "[":
                value, _ = text.value(f"the value of {key!r}")
                kinds[key] = _kind(value)
                continue
            kinds[key] = "an array"
            if wanted is not None:
                if key == wanted:
                    chosen = self._records(text, self._sink(), f"the value of {key!r}")
                    chosen_key = key
                else:
                    self._candidate(text, key, None)
                continue
            # Auto-detection: staged into a sink while none is chosen, else
            # only checked (a second candidate refuses the file).
            sink = self._sink() if chosen is None else None
            if self._candidate(text, key, sink):
                candidates += 1
                if chosen is None:
                    chosen, chosen_key = sink, key
                    continue
            if sink is not None:
                self._drop(sink)
        text.end()  # invalid JSON anywhere is refused first, as json.loads would
        if wanted is None and candidates != 1:
            raise SourceError(
                f"{self.path}: expected a JSON array of objects; the top level is an "
                "object (set the reader option record_path to the key of the records)"
            )
        if wanted is not None and wanted not in kinds:
            raise SourceError(f"{self.path}: record_path {wanted!r} is not a key of the object")
        if wanted is not None and chosen is None:
            raise SourceError(
                f"{self.path}: expected a JSON array of objects, the value of {wanted!r} is "
                f"{kinds[wanted]}"
            )
        assert chosen is not None and chosen_key is not None
        details["record_path"] = chosen_key
        return chosen


class NdjsonReader(_StreamingReader):
    format = "ndjson"
    _allowed = {"encoding", *options_for("ndjson")}

    def header(self) -> SourceHeader | None:
        """The first object's keys (later lines may add columns)."""
        _check_options(self.path, self.options, self._allowed)
        keys = ndjson_first_keys(self.path, _encoding(self.path, self.options))
        return SourceHeader(keys, complete=False) if keys is not None else None

    def _read(self) -> ReadResult:
        self._configure()
        sink = self._sink()
        limit = self.limits.max_record_chars
        blank = 0
        try:
            with self.path.open("r", encoding=self.encoding) as handle:
                line_no = 0
                while line := handle.readline(limit + 2):
                    line_no += 1
                    if len(line) > limit and not line.endswith("\n"):
                        raise over(
                            self.path,
                            "max_record_chars",
                            limit,
                            f"line {line_no} is longer than that",
                        )
                    text = line.rstrip("\n")
                    if not text.strip():
                        blank += 1
                        continue
                    try:
                        value = loads(text)
                    except json.JSONDecodeError as exc:
                        message = f"invalid JSON at column {exc.colno}: {exc.msg}"
                    except InvalidToken as exc:
                        message = (
                            f"invalid JSON: {exc.token} is not a JSON value (a JSON number is "
                            "finite)"
                        )
                    except RecursionError:
                        message = "JSON nested too deeply"
                    else:
                        problem = _problem(value, Span.of(text, line_no), self.limits)
                        if problem is None:
                            _sort(sink, line_no, value, text, len(text))
                            continue
                        message = problem
                    sink.reject(line_no, INVALID_JSON, message, text)
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        if not sink.staged and not sink.rejected:
            raise SourceError(
                f"{self.path}: the file holds no JSON lines (expected one object a line)"
            )
        if not sink.staged and sink.first_repeated is None:
            raise SourceError(
                f"{self.path}: no line is a JSON object ({sink.rejected} lines; "
                "expected one object a line)"
            )
        return self._result(sink, {"blank_lines": blank})
