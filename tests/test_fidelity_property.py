"""Fidelity, property-based: any table of strings written as CSV by Python's
``csv`` module comes back from staged cell for cell (docs/sources.md).

Strings are arbitrary Unicode (commas, quotes, ``\\n``, ``\\r``, tabs, leading
and trailing spaces, empty strings, line and paragraph separators...) except
NUL, which jobforge refuses in text files. Header names are arbitrary too,
duplicates and empty ones included; staged names follow the documented rule
(empty -> ``column_<n>``, a repeat -> ``<name>__<k>``), and a header with no
non-blank name is refused.

Both readers behind the CSV format are held to the ``csv`` module: polars'
scanner (used for a file :func:`check_records` finds plain) and the records the
``csv`` module's pass writes (used for every other file).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jobforge_readers.csv_records import (
    Dialect,
    _plain_file_check,
    check_records,
    write_records,
)

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.provenance import ALL_COLUMNS
from jobforge.errors import SourceError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.headers import normalise_headers

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SPECIAL = [
    "",
    " ",
    ",",
    ";",
    "\t",
    "|",
    '"',
    "'",
    "\n",
    "\r",
    "\r\n",
    "\n\r",
    "  a  ",
    '""',
    "a,b",
    'x"y',
    '"q"',
    "\u2028",
    "\x85",
    "\ufeff",
    "=1+1",
    "\\",
    "#",
]

CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
CELL = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(alphabet=CHARS, max_size=10),
    st.text(alphabet=st.sampled_from(list(',;"\n\r \t|ab')), max_size=8),
)
# (delimiter, line terminator, quoting): with "\n" as terminator the csv module
# leaves a lone "\r" unquoted, so only QUOTE_ALL round-trips there.
DIALECT_LIST = [
    (d, t, q)
    for d in (",", ";", "\t", "|")
    for t, q in (("\r\n", csv.QUOTE_MINIMAL), ("\r\n", csv.QUOTE_ALL), ("\n", csv.QUOTE_ALL))
]
DIALECTS = st.sampled_from(DIALECT_LIST)


@st.composite
def tables(draw: Any, cell: st.SearchStrategy[str] = CELL) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(min_value=1, max_value=5))
    header = draw(st.lists(cell, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=6))
    return header, rows


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], dialect: tuple[str, str, int]
) -> None:
    delimiter, terminator, quoting = dialect
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)


def usable(header: list[str]) -> bool:
    """Headers the documented rules accept (the others are refused or excluded)."""
    return any(name.strip() for name in header)


_COUNTER = itertools.count()


@pytest.fixture(scope="module")
def engine() -> Iterator[PipelineEngine]:
    with tempfile.TemporaryDirectory(prefix="jobforge-fidelity-") as root:
        yield PipelineEngine(PipelineConfig(Path(root) / "data", entry_points=False))


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="jobforge-fidelity-src-") as folder:
        yield Path(folder)


def read_records(path: Path, dialect: Dialect) -> tuple[list[tuple], list[tuple], list[str]]:
    """The rows of the records and rejected files the ``csv`` module's pass
    writes for ``path``, and the raw header."""
    with tempfile.TemporaryDirectory() as folder:
        check = write_records(path, dialect, Path(folder))
        assert check.files is not None
        records = pl.read_parquet(check.files.records).rows()
        rejected = pl.read_parquet(check.files.rejected).rows() if check.files.rejected else []
    return records, rejected, check.header


def _ingest_and_compare(
    engine: PipelineEngine,
    scratch: Path,
    header: list[str],
    rows: list[list[str]],
    dialect: tuple[str, str, int],
) -> str:
    """Write, ingest, compare; return the reader used ("polars" or "csv"),
    checked to be "polars" exactly when the file is plain."""
    n = next(_COUNTER)
    path = scratch / f"table_{n}.csv"
    write_csv(path, header, rows, dialect)
    options = {"delimiter": dialect[0]}
    if not usable(header):
        with pytest.raises(SourceError) as info:
            engine.ingest(path, f"t{n}", options=options)
        assert str(info.value) == (
            f"{path}: the header row has no column names ({len(header)} empty or blank names)"
        )
        return "refused"
    result = engine.ingest(path, f"t{n}", options=options)
    frame = pl.read_parquet(result.path).sort("_source_row")
    names, mapping = normalise_headers(header)
    data = [c for c in frame.columns if c not in ALL_COLUMNS]
    assert data == names
    assert [row[: len(names)] for row in frame.rows()] == [tuple(r) for r in rows]
    assert frame["_source_row"].to_list() == list(range(1, len(rows) + 1))
    assert result.rows == len(rows) and result.rows_quarantined == 0
    assert result.record is not None and result.record.header_mapping == mapping
    reader = result.record.reader_details["reader"]
    plain = _plain_file_check(path, Dialect(delimiter=dialect[0], quote='"')) is not None
    assert reader == ("polars" if plain else "csv")
    return str(reader)


@SETTINGS
@given(table=tables(), dialect=DIALECTS)
def test_any_table_of_strings_comes_back_from_staged(
    engine: PipelineEngine,
    scratch: Path,
    table: tuple[list[str], list[list[str]]],
    dialect: tuple[str, str, int],
) -> None:
    header, rows = table
    assume(not header[0].startswith("\ufeff"))  # a leading BOM is not part of a name
    assume(not set(header) & ALL_COLUMNS)  # provenance names are refused (tested apart)
    _ingest_and_compare(engine, scratch, header, rows, dialect)


# Cells without quotes or line breaks: files that polars' scanner may read.
PLAIN_CELL = st.text(
    alphabet=st.characters(blacklist_characters='\x00"\r\n', blacklist_categories=("Cs",)),
    max_size=10,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(table=tables(PLAIN_CELL), dialect=DIALECTS)
def test_the_fast_polars_path_is_as_faithful(
    engine: PipelineEngine,
    scratch: Path,
    table: tuple[list[str], list[list[str]]],
    dialect: tuple[str, str, int],
) -> None:
    header, rows = table
    assume(usable(header) and not header[0].startswith("\ufeff"))
    assume(not set(header) & ALL_COLUMNS)
    # Polars reads these files unless the fast check cannot tell them plain: no
    # record, or a U+FEFF in a value; then the csv module's records are used.
    plain = bool(rows) and not any("\ufeff" in cell for row in rows for cell in row)
    expected = "polars" if plain else "csv"
    assert _ingest_and_compare(engine, scratch, header, rows, dialect) == expected


@settings(max_examples=300, deadline=None)
@given(table=tables(), dialect=DIALECTS)
def test_both_readers_agree_with_the_csv_module(
    table: tuple[list[str], list[list[str]]], dialect: tuple[str, str, int]
) -> None:
    """At the reader level: what check_records finds polars reads alike, polars
    reads as the csv module does; the records the csv module's pass writes
    always are the csv module's."""
    header, rows = table
    assume(usable(header) and not header[0].startswith("\ufeff"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        write_csv(path, header, rows, dialect)
        rules = Dialect(delimiter=dialect[0], quote='"')
        check = check_records(path, rules)
        assert check.header == header
        assert check.records == len(rows) and check.odd_records == 0
        records, rejected, raw = read_records(path, rules)
        assert raw == header and rejected == []
        assert records == [(n, *r) for n, r in enumerate(rows, start=1)]
        if check.polars_safe:
            names = [f"c{i}" for i in range(len(header))]
            fast = pl.scan_csv(
                path,
                has_header=True,
                new_columns=names,
                separator=dialect[0],
                infer_schema=False,
                empty_string_is_null=False,
                raise_if_empty=False,
            ).collect()
            assert fast.rows() == [tuple(r) for r in rows]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(
        st.dictionaries(st.text(alphabet=CHARS, min_size=1, max_size=6), CELL, max_size=4),
        min_size=1,
        max_size=5,
    )
)
def test_any_ndjson_of_strings_comes_back_from_staged(
    engine: PipelineEngine, scratch: Path, records: list[dict[str, str]]
) -> None:
    keys = list(dict.fromkeys(k for r in records for k in r))
    assume(keys and not set(keys) & ALL_COLUMNS and not keys[0].startswith("\ufeff"))
    n = next(_COUNTER)
    path = scratch / f"records_{n}.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = engine.ingest(path, f"j{n}")
    frame = pl.read_parquet(result.path).sort("_source_row")
    names, _ = normalise_headers(keys)
    assert [c for c in frame.columns if c not in ALL_COLUMNS] == names
    expected = [tuple(r.get(k) for k in keys) for r in records]
    assert [row[: len(names)] for row in frame.rows()] == expected


def test_the_writer_quotes_what_it_must() -> None:
    """The property rests on the csv module round-tripping these dialects."""
    for delimiter, terminator, quoting in DIALECT_LIST:
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting).writerow(
            ["a\rb", "", " "]
        )
        back = next(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=delimiter))
        assert back == ["a\rb", "", " "]
