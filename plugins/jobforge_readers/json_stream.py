"""JSON read incrementally: one value at a time from a buffered text stream.

The top-level structure (an array of records, or an object whose values are
read one by one) is walked here; each value inside it (a record) is decoded by
the standard library's C scanner (``json.JSONDecoder.raw_decode``) with the
hooks of :func:`jobforge_readers._text.loads`, so numbers stay as written and
repeated keys are seen. Only a buffer of about :data:`CHUNK_CHARS` characters
and the value being decoded are held, whatever the file's size; a value longer
than ``max_record_chars`` is refused.

Incremental parsers that build values themselves (``ijson``) turn numbers into
``Decimal`` (``1e5`` comes back as ``1E+5``) and lose the text as written, which
staged must keep; this one does not.

Errors use the :mod:`json` module's own words and positions (``Expecting ','
delimiter`` at line L column C of the file), as a whole-file ``json.loads``
would report them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from jobforge.plugin import SourceError
from jobforge_readers._text import InvalidToken, decoder
from jobforge_readers.limits import over

CHUNK_CHARS = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""``\\uD800`` to ``\\uDFFF`` (half of a surrogate pair, or a lone one)."""


@dataclass(frozen=True)
class Span:
    """Where a value starts in the file (1-based line and column), how long
    its text is, and two cheap facts about that text."""

    line: int
    column: int
    chars: int
    surrogate_escape: bool
    """The text has a ``\\uD800``-``\\uDFFF`` escape (look for a lone surrogate)."""
    brackets: int
    """How many ``[`` and ``{`` the text has: a bound of its nesting depth."""

    @classmethod
    def of(cls, text: str, line: int) -> Span:
        """The span of a value whose whole text is ``text`` (an NDJSON line)."""
        return cls(
            line,
            1,
            len(text),
            _SURROGATE_ESCAPE.search(text) is not None,
            text.count("[") + text.count("{"),
        )


class JsonText:
    """A text stream read in chunks, with the file's line and column of every
    position in the buffer."""

    def __init__(self, path: Path, handle: TextIO, max_record_chars: int) -> None:
        self.path = path
        self.handle = handle
        self.max_record_chars = max_record_chars
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._line = 1
        """Line of ``buf[0]`` in the file."""
        self._column = 1
        """Column of ``buf[0]`` in the file."""
        self._known = (0, 1, 1)
        """A position in the buffer and its line and column: :meth:`where`
        counts from there, so that finding every record's line costs one pass."""
        self._decoder = decoder()

    # -- the buffer ---------------------------------------------------------------------

    def _fill(self, at_least: int = CHUNK_CHARS) -> bool:
        """Drop what was read, then read at least ``at_least`` more characters
        (``False`` at the end of the file)."""
        if self.pos:
            dropped = self.buf[: self.pos]
            newlines = dropped.count("\n")
            if newlines:
                self._line += newlines
                self._column = len(dropped) - dropped.rfind("\n")
            else:
                self._column += len(dropped)
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self._known = (0, self._line, self._column)
        if self.eof:
            return False
        chunk = self.handle.read(max(at_least, CHUNK_CHARS))
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def where(self, pos: int | None = None) -> tuple[int, int]:
        """(line, column) in the file of ``pos`` in the buffer (default: here)."""
        pos = self.pos if pos is None else pos
        known, line, column = self._known
        if pos < known:
            known, line, column = 0, self._line, self._column
        newlines = self.buf.count("\n", known, pos)
        if newlines:
            line, column = line + newlines, pos - self.buf.rfind("\n", known, pos)
        else:
            column += pos - known
        self._known = (pos, line, column)
        return line, column

    def error(self, message: str, pos: int | None = None) -> SourceError:
        line, column = self.where(pos)
        return SourceError(f"{self.path}: invalid JSON at line {line} column {column}: {message}")

    def peek(self) -> str:
        """The next character after white space ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> bool:
        """Consume ``char`` if it comes next (after white space)."""
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    # -- values -------------------------------------------------------------------------

    def value(self, what: str) -> tuple[Any, Span]:
        """Decode the value that starts here (after white space). ``what`` names
        it in messages (``record 3``). Refused: invalid JSON, ``NaN`` and the
        infinities, a value longer than ``max_record_chars``, nesting too deep
        for Python's parser."""
        self.peek()
        while True:
            start = self.pos
            try:
                value, end = self._decoder.raw_decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if self._grow(start, what):
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except InvalidToken as exc:
                line, column = self.where(start)
                raise SourceError(
                    f"{self.path}: {what} (line {line} column {column}): {exc.token} is not "
                    "valid JSON (a JSON number is finite; write it as a string or null)"
                ) from None
            except RecursionError:
                raise SourceError(f"{self.path}: {what}: JSON nested too deeply to read") from None
            # A number or a literal may go on in the next chunk ("12" of "123").
            if end == len(self.buf) and self._grow(start, what):
                continue
            break
        line, column = self.where(start)
        if end - start > self.max_record_chars:
            raise over(
                self.path,
                "max_record_chars",
                self.max_record_chars,
                f"{what} (from line {line}) is {end - start} characters long",
            )
        self.pos = end
        buf = self.buf
        span = Span(
            line,
            column,
            end - start,
            _SURROGATE_ESCAPE.search(buf, start, end) is not None,
            buf.count("[", start, end) + buf.count("{", start, end),
        )
        return value, span

    def _grow(self, start: int, what: str) -> bool:
        """Read more after a value cut short by the buffer's end (``False``: the
        file has ended); a value over ``max_record_chars`` is refused."""
        if self.eof:
            return False
        held = len(self.buf) - start
        if held > self.max_record_chars:
            line, _ = self.where(start)
            raise over(
                self.path,
                "max_record_chars",
                self.max_record_chars,
                f"{what} (from line {line}) is longer than that",
            )
        self.pos = start
        # Double what is held, so that a long value is decoded a few times at most.
        return self._fill(at_least=held) or True

    # -- structure ----------------------------------------------------------------------

    def elements(self, what: Callable[[int], str]) -> Iterator[tuple[int, Any, Span]]:
        """``(position, value, span)`` of each element of the array that starts
        here (its ``[`` not yet read), positions from 1; ``what(position)``
        names an element in messages."""
        assert self.expect("[")
        if self.expect("]"):
            return
        position = 0
        while True:
            position += 1
            value, span = self.value(what(position))
            yield position, value, span
            char = self.peek()
            if char == ",":
                self.pos += 1
                if self.peek() == "]":
                    raise self.error("Expecting value")
                continue
            if char == "]":
                self.pos += 1
                return
            raise self.error("Expecting ',' delimiter")

    def object_keys(self) -> Iterator[str]:
        """The keys of the object that starts here (its ``{`` not yet read), in
        order; after each key the caller reads (or skips) its value."""
        assert self.expect("{")
        if self.expect("}"):
            return
        while True:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes")
            key, _ = self.value("a key")
            if not self.expect(":"):
                raise self.error("Expecting ':' delimiter")
            yield key
            char = self.peek()
            if char == ",":
                self.pos += 1
                if self.peek() != '"':
                    raise self.error("Expecting property name enclosed in double quotes")
                continue
            if char == "}":
                self.pos += 1
                return
            raise self.error("Expecting ',' delimiter")

    def end(self) -> None:
        """Refuse anything but white space after the top-level value."""
        if self.peek() != "":
            raise self.error("Extra data")
