"""The streaming JSON reader reads what a whole-file ``json.loads`` reads, and
refuses what it refuses with the same words at the same line and column,
whatever the size of its buffer's chunks (hypothesis; chunks of 1 to 64
characters put every value and every boundary across a chunk's end).

The reference is the reader before streaming: ``json.loads`` of the whole file
with the hooks of ``jobforge_readers._text`` (numbers as written, repeated
keys kept), each record's values as ``as_text`` renders them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jobforge_readers.json_stream as json_stream
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobforge_readers._text import as_text, loads
from jobforge_readers.json_reader import JsonReader

from jobforge.errors import SourceError

_KEYS = st.sampled_from(["id", "name", "n", "x y", "é", "a\nb", "k1", "k2"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.sampled_from(["1.10", "1e5", "-0.0", "2E-3", "123456789012345678901234567890"])
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)
_RECORDS = st.lists(
    st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=4) | _SCALARS, min_size=1, max_size=6
)


def _encode(value: Any, indent: int | None) -> str:
    """JSON text with numbers written as the strategy gave them (a string made of
    digits is written as that number's text, e.g. ``1.10`` or ``1e5``)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    for number in ["1.10", "1e5", "-0.0", "2E-3", "123456789012345678901234567890"]:
        text = text.replace(f'"{number}"', number)
    return text


def _reference(document: Any, record_path: str | None) -> list[tuple[Any, ...]]:
    """``(_source_row, values...)`` of the staged records, as the whole-file reader
    made them (keys in first-seen order, missing keys null)."""
    records = document[record_path] if record_path else document
    good = [(i, r) for i, r in enumerate(records, start=1) if isinstance(r, dict)]
    good = [(i, r) for i, r in good if len({k for k in r}) == len(r)]  # no repeated key
    keys: dict[str, None] = {}
    for _, record in good:
        keys.update(dict.fromkeys(record))
    return [(i, *[as_text(r.get(k)) for k in keys]) for i, r in good]


def _read(path: Path, scratch: Path) -> tuple[list[tuple[Any, ...]], int] | str:
    reader = JsonReader(path, {}, scratch)
    try:
        result = reader.read()
        frame = pl.DataFrame(result.record_batches().read_all()).sort("_source_row")
        return frame.rows(), result.records or 0
    except SourceError as exc:
        return str(exc).removeprefix(f"{path}: ")
    finally:
        reader.close()


_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(
    records=_RECORDS,
    chunk=st.integers(1, 64),
    indent=st.sampled_from([None, 0, 2]),
    wrapped=st.booleans(),
)
def test_valid_json_reads_as_the_whole_file_parse(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    records: list[Any],
    chunk: int,
    indent: int | None,
    wrapped: bool,
) -> None:
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", chunk)
    folder = tmp_path_factory.mktemp("json")
    document: Any = {"meta": {"n": [1, 2]}, "rows": records} if wrapped else records
    text = _encode(document, indent)
    path = folder / "doc.json"
    path.write_text(text, encoding="utf-8")
    parsed = loads(text)
    got = _read(path, folder)
    expected = _reference(parsed, "rows" if wrapped else None)
    if not expected or len(expected[0]) == 1:
        assert isinstance(got, str)  # no object, or objects without keys: refused
        return
    if wrapped and not all(isinstance(r, dict) for r in records):
        assert isinstance(got, str) and "set the reader option record_path" in got
        return
    assert got == (expected, len(records))


@_SETTINGS
@given(
    records=st.lists(
        st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=3), min_size=1, max_size=4
    ),
    chunk=st.integers(1, 64),
    indent=st.sampled_from([None, 2]),
    wrapped=st.booleans(),
    cut=st.floats(0, 1),
    replacement=st.sampled_from(["", ",", "]", "}", ":", '"', "x", " ", "[", "{", "\n"]),
)
def test_invalid_json_is_refused_as_json_loads_refuses_it(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    records: list[dict[str, Any]],
    chunk: int,
    indent: int | None,
    wrapped: bool,
    cut: float,
    replacement: str,
) -> None:
    """A document cut short, or with one character replaced."""
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", chunk)
    document: Any = {"rows": records} if wrapped else records
    text = _encode(document, indent)
    at = int(cut * (len(text) - 1))
    broken = text[:at] + replacement + (text[at + 1 :] if replacement else "")
    try:
        loads(broken)
    except json.JSONDecodeError as exc:
        expected = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    else:
        return  # still valid JSON: the other test's ground
    folder = tmp_path_factory.mktemp("json")
    path = folder / "broken.json"
    path.write_text(broken, encoding="utf-8")
    if not broken.strip():
        assert _read(path, folder) == "the file holds no JSON (only white space)"
        return
    assert _read(path, folder) == expected
