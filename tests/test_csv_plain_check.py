"""The fast recognition of plain CSV files gives the ``csv`` module's answers.

``check_records`` first tries ``_plain_file_check`` (one polars pass with a
regular expression per line) and falls back to ``_full_check`` (the ``csv``
module over every record). Whenever the fast check answers, its answer must be
exactly the full check's; the property test throws near-plain files at both.
The reader's one pass (``write_records``: the full check that also writes the
records) must give the full check's answer and the ``csv`` module's records;
``check_records`` given a folder writes them exactly when the fast check does
not answer.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobforge_readers.csv_records import (
    Dialect,
    RecordCheck,
    _full_check,
    _plain_file_check,
    _RecordSink,
    check_records,
    write_records,
)
from jobforge_readers.dialect import FIELD_LIMIT

from jobforge.errors import SourceError

COMMA = Dialect(delimiter=",", quote='"')
DIALECTS = [COMMA, Dialect(delimiter=";", quote='"'), Dialect(delimiter=",", quote=None)]


def _outcome(check, path: Path, dialect: Dialect) -> object:
    try:
        return check(path, dialect)
    except (SourceError, UnicodeDecodeError) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize(
    ("content", "records"),
    [
        (b"a,b\n1,2\n3,4\n", 2),
        (b"a,b\r\n1,2\r\n3,4", 2),
        (b'\xef\xbb\xbfa,b\n"x, y",2\n,\n', 2),
        (b"only\nvalue\n   \n", 2),
        (b'a,b\n"say ""hi""",2\n""""," "" "\n', 2),  # quotes doubled inside quoted values
    ],
)
def test_plain_files_are_recognised_with_the_full_answer(
    tmp_path: Path, content: bytes, records: int
) -> None:
    path = tmp_path / "plain.csv"
    path.write_bytes(content)
    fast = _plain_file_check(path, COMMA)
    assert fast is not None
    assert fast == _full_check(path, COMMA)
    assert fast.records == records and fast.polars_safe


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\n1,2\n\n3,4\n",  # blank line
        b"a,b\n1,2\n3\n",  # too few fields
        b"a,b\n1,2,3\n",  # too many
        b'a,b\n"1\n2",3\n',  # quoted field spanning lines
        b'a,b\nx"y,2\n',  # a quote inside an unquoted value
        b"a,b\n1,2\r3,4\n",  # a lone carriage return
        b"a,b\n1,2\r",  # ... at the very end
        b"a,b\n1,2\x00",  # a NUL at the very end
        b"a,b\n\xef\xbb\xbf1,2\n",  # a byte order mark starting a record
        b'a,b\n"1"x,2\n',  # text after a closing quote
        b"a\n1\n\n",  # one column, blank line
        b"a,b\n",  # no record
    ],
)
def test_anything_unusual_goes_to_the_full_check(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    assert _outcome(_plain_file_check, path, COMMA) is None
    assert _outcome(check_records, path, COMMA) == _outcome(_full_check, path, COMMA)


def test_text_that_is_not_utf8_fails_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b\n1,\xff\n")
    failed = _outcome(_full_check, path, COMMA)
    assert failed[0] == "UnicodeDecodeError"  # type: ignore[index]
    assert _outcome(check_records, path, COMMA) == failed


_FIELD_TEXT = st.text(alphabet="ab é,;\"'\t\r\n\x00\ufeff", max_size=4)
_PLAIN_TEXT = st.text(alphabet="ab é", max_size=4)


@st.composite
def _near_plain_files(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(min_value=1, max_value=4))

    def field() -> str:
        kind = draw(st.sampled_from(["plain", "plain", "quoted", "odd"]))
        if kind == "plain":
            return draw(_PLAIN_TEXT)
        if kind == "quoted":
            inner = draw(st.sampled_from(["", ",", ";", '""']))
            return '"' + draw(_PLAIN_TEXT) + inner + '"'
        return draw(_FIELD_TEXT)

    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        count = width if draw(st.integers(0, 9)) else draw(st.integers(0, 5))
        lines.append(",".join(field() for _ in range(count)))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    header = ",".join(f"h{i}" for i in range(width))
    ending = draw(st.sampled_from(["", "\n", "\r\n", "\r", "\n\n", "\x00"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return (bom + header + eol + eol.join(lines) + ending).encode()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=_near_plain_files())
def test_whenever_the_fast_check_answers_it_is_the_full_answer(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "near_plain.csv"
    path.write_bytes(content)
    for dialect in DIALECTS:
        fast = _outcome(_plain_file_check, path, dialect)
        full = _outcome(_full_check, path, dialect)
        if fast is not None:
            assert fast == full, (content, dialect)
        assert _outcome(check_records, path, dialect) == full
        # Given a folder: the same answer, the records written exactly when the
        # fast check does not answer.
        with tempfile.TemporaryDirectory() as folder:
            asked: list[Path] = []

            def give(asked: list[Path] = asked, folder: str = folder) -> Path:
                asked.append(Path(folder))
                return Path(folder)

            decided = _outcome(lambda p, d: check_records(p, d, give), path, dialect)
            assert decided == full, (content, dialect)
            if isinstance(decided, RecordCheck):
                assert (decided.files is None) == (fast is not None) == (asked == [])
                if decided.files is not None:
                    assert decided.files.records == Path(folder) / "records.parquet"
                    assert decided.files.records.is_file()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=_near_plain_files())
def test_counting_delimiters_answers_as_the_counting_pattern(
    tmp_path: Path, content: bytes
) -> None:
    """Wide files count a line's fields by its delimiters outside quoted fields
    instead of by the pattern: forced here on narrow files, both ways give the
    same answer, and whenever it answers it is the full check's."""
    path = tmp_path / "near_plain.csv"
    path.write_bytes(content)
    for dialect in DIALECTS:
        by_pattern = _outcome(_plain_file_check, path, dialect)
        by_delimiters = _outcome(lambda p, d: _plain_file_check(p, d, counted=False), path, dialect)
        assert by_delimiters == by_pattern, (content, dialect)
        if by_delimiters is not None:
            assert by_delimiters == _outcome(_full_check, path, dialect), (content, dialect)


def _written(path: Path, dialect: Dialect) -> object:
    """``write_records``' check and the rows of its files, or its error."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            check = write_records(path, dialect, Path(folder))
        except (SourceError, UnicodeDecodeError) as exc:
            return (type(exc).__name__, str(exc))
        files = check.files
        assert files is not None and files.records.parent == Path(folder)
        records = pl.read_parquet(files.records).rows()
        rejected = pl.read_parquet(files.rejected).rows() if files.rejected else []
    return check, records, rejected


def _csv_module(path: Path, dialect: Dialect) -> tuple[list[tuple], list[tuple]]:
    """What the ``csv`` module reads: (records of the header's width, numbered;
    the others as (number, rule, message, JSON)), blank lines skipped."""
    csv.field_size_limit(FIELD_LIMIT)
    quoting = {"quotechar": dialect.quote} if dialect.quote else {"quoting": csv.QUOTE_NONE}
    good, odd = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=dialect.delimiter, strict=True, **quoting)
        width = len(next(reader))
        number = 0
        for fields in reader:
            if not fields:
                continue
            number += 1
            if len(fields) == width:
                good.append((number, *fields))
            else:
                line = reader.line_num - _line_ends(fields)
                message = f"record on line {line}: expected {width} fields, found {len(fields)}"
                odd.append(
                    (number, "ragged_record", message, json.dumps(fields, ensure_ascii=False))
                )
    return good, odd


def _line_ends(fields: list[str]) -> int:
    """Line ends inside a record's values (its first line is ``line_num`` minus these)."""
    return sum(v.count("\n") + v.count("\r") - v.count("\r\n") for v in fields)


def test_the_one_pass_of_a_messy_file(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    # Lines: 1 header, 2-3 record 1, 4 blank, 5-6 record 2 (ragged), 7 record 3.
    path.write_bytes(b'a,b\n"1\n2",3\n\nx,"y\r\nz",w\n4,"q""q"\n')
    check, records, rejected = _written(path, COMMA)  # type: ignore[misc]
    assert check == _full_check(path, COMMA)
    assert (check.records, check.blank_lines, check.odd_records) == (3, 1, 1)
    assert records == [(1, "1\n2", "3"), (3, "4", 'q"q')]
    assert rejected == [
        (
            2,
            "ragged_record",
            "record on line 5: expected 2 fields, found 3",
            '["x", "y\\r\\nz", "w"]',
        )
    ]
    assert (records, rejected) == _csv_module(path, COMMA)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=_near_plain_files())
def test_the_one_pass_checks_as_the_full_check_and_keeps_the_csv_records(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "near_plain.csv"
    path.write_bytes(content)
    for dialect in DIALECTS:
        full = _outcome(_full_check, path, dialect)
        written = _written(path, dialect)
        if isinstance(full, tuple):  # an error: the same one
            assert written == full, (content, dialect)
            continue
        check, records, rejected = written  # type: ignore[misc]
        assert check == full, (content, dialect)
        assert (records, rejected) == _csv_module(path, dialect), (content, dialect)


@pytest.mark.parametrize(
    ("content", "written"),
    [
        (b"a,b\n1,2\n3,4\n", False),  # plain: polars reads it
        (b"a,b\n1,2\n\n3,4\n", True),  # a blank line
        (b"a,b\n1,x\xef\xbb\xbfy\n", True),  # a U+FEFF in a value: polars reads it alike
        (b"a,b\n", True),  # no record
    ],
)
def test_check_records_writes_only_what_is_not_plain(
    tmp_path: Path, content: bytes, written: bool
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    folder = tmp_path / "records"
    asked: list[int] = []

    def give() -> Path:
        asked.append(1)
        folder.mkdir()
        return folder

    check = check_records(path, COMMA, give)
    assert check == _full_check(path, COMMA)
    assert len(asked) == int(written)
    if not written:
        assert check.files is None and not folder.exists()
        return
    assert check.files is not None
    assert check.files.records == folder / "records.parquet" and check.files.rejected is None
    rows = pl.read_parquet(check.files.records).rows()
    assert (rows, []) == _csv_module(path, COMMA)


def test_the_sink_closes_both_files_when_closing_one_fails(tmp_path: Path) -> None:
    """Fault injection (a full disk cannot be had in a test): closing the
    records file raises; the rejected file is closed all the same (its footer
    written: it reads back) and the error is raised."""
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b\n1,2\n3\n")
    sink = _RecordSink(tmp_path)
    check = _full_check(path, COMMA, sink)
    assert (check.records, check.odd_records) == (2, 1)
    writer = sink._records
    assert writer is not None
    real_close = writer.close

    def failing_close() -> None:
        real_close()
        raise OSError("No space left on device")

    writer.close = failing_close  # type: ignore[method-assign]
    with pytest.raises(OSError, match="No space left on device"):
        sink.close(complete=True)
    assert sink._rejected is not None and not sink._rejected.is_open
    assert pq.read_table(tmp_path / "rejected.parquet").to_pylist() == [
        {
            "_source_row": 2,
            "rule_id": "ragged_record",
            "message": "record on line 3: expected 2 fields, found 1",
            "row": '["3"]',
        }
    ]
