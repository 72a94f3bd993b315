"""Bad input, nothing lost (issue 7, part 3).

Every file of the hostile corpus (tests/corpus/files, written by
tests/corpus/make_corpus.py) has one documented outcome (docs/sources.md):

- ingested faithfully: the staged rows are, cell for cell, what the reference
  reads (Python's ``csv`` module for delimited text), odd records are in
  ``quarantine/<table>/staged/`` with their rule and raw record, and staged +
  quarantined == the records in the file; or
- refused: one line naming the file and the problem, and nothing written to
  any layer or to the catalog (checked on the data root's tree), through the
  library and through the ``jobforge`` command in a subprocess (non-zero exit,
  ``error: ...`` as the only line on stderr, no traceback).

The expected rows below were read by hand from the corpus files' bytes (see
make_corpus.py, where each file's content is spelled out).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from jobforge import hookimpl
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.results import IngestResult
from jobforge.errors import ContractError, JobforgeError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.base import ReadResult, sha256_of

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import make_corpus

CORPUS = make_corpus.FILES
JOBFORGE = Path(sys.executable).parent / "jobforge"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))


@pytest.fixture(scope="module")
def refusing_engine(tmp_path_factory: pytest.TempPathFactory) -> PipelineEngine:
    """One engine for the refusal tests: as refusals write nothing, its data
    root must still be empty after every one of them."""
    root = tmp_path_factory.mktemp("refusals") / "data"
    return PipelineEngine(PipelineConfig(root, entry_points=False))


def written_files(root: Path) -> list[str]:
    """Every file under the data root but the lock files and the JSON schemas
    the engine writes when it starts (before any input is read)."""
    skip = {".locks", "schemas"}
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and not skip & set(p.relative_to(root).parts)
    )


def data_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("_")]


def staged(result: IngestResult) -> pl.DataFrame:
    return pl.read_parquet(result.path).sort("_source_row")


def staged_rows(result: IngestResult) -> list[tuple[Any, ...]]:
    """``(_source_row, *data values)`` of every staged row."""
    frame = staged(result)
    return frame.select("_source_row", *data_columns(frame)).rows()


def quarantined(result: IngestResult) -> list[tuple[int, str, str, str]]:
    """``(_source_row, rule_id, message, row)`` of every quarantined row."""
    if result.quarantine_path is None:
        return []
    frame = pl.read_parquet(result.quarantine_path).sort("_source_row")
    assert set(frame["layer"]) == {"staged"}
    return frame.select("_source_row", "rule_id", "message", "row").rows()


def csv_module_read(
    path: Path, *, encoding: str = "utf-8-sig", delimiter: str = ",", quote: str | None = '"'
) -> tuple[list[str], list[tuple[int, list[str]]], list[tuple[int, list[str]]]]:
    """The reference: ``(header, good records, odd records)`` as the ``csv``
    module reads them, records numbered from 1 after the header, blank lines
    (``[]``) skipped and not numbered."""
    outside = csv.field_size_limit(2**31 - 1)  # any field (the module's default: 128 KiB)
    try:
        with path.open(encoding=encoding, newline="") as handle:
            if quote is None:
                reader = csv.reader(
                    handle, delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=True
                )
            else:
                reader = csv.reader(handle, delimiter=delimiter, quotechar=quote, strict=True)
            records = list(reader)
    finally:
        csv.field_size_limit(outside)
    header, body = records[0], [r for r in records[1:] if r]
    good = [(n, r) for n, r in enumerate(body, start=1) if len(r) == len(header)]
    odd = [(n, r) for n, r in enumerate(body, start=1) if len(r) != len(header)]
    return header, good, odd


def assert_faithful_csv(result: IngestResult, path: Path, **dialect: Any) -> None:
    """Staged == the csv module's good records, cell for cell; quarantine ==
    its odd records (raw fields as a JSON array); the ledger adds up."""
    header, good, odd = csv_module_read(path, **dialect)
    frame = staged(result)
    assert len(data_columns(frame)) == len(header)
    assert [(r[0], list(r[1:])) for r in staged_rows(result)] == good
    rejected = quarantined(result)
    assert [(r[0], json.loads(r[3])) for r in rejected] == odd
    assert {r[1] for r in rejected} <= {"ragged_record"}
    assert result.rows == len(good)
    assert result.rows_quarantined == len(odd)
    assert result.record is not None
    assert result.record.row_count_in == len(good) + len(odd)
    assert result.record.row_count_out == len(good)


def assert_refused(
    engine: PipelineEngine, path: Path, fragment: str, **kwargs: Any
) -> JobforgeError:
    root = engine.config.data_root
    before = written_files(root)
    with pytest.raises(JobforgeError) as info:
        engine.ingest(path, "hostile", **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert fragment in message, message
    assert "\n" not in message and "Traceback" not in message
    assert written_files(root) == before == [], written_files(root)
    assert not [p for p in root.rglob("*.parquet")]
    assert not [p for p in root.rglob("_current.json")]
    assert not [p for p in root.rglob(".jobforge-tmp-*")]
    return info.value


def cli(
    args: list[str], cwd: Path, *, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env["JOBFORGE_DISABLE_PLUGINS"] = "example"
    return subprocess.run(
        [*prefix, str(JOBFORGE), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_cli_refuses(
    path: Path,
    fragment: str,
    tmp_path: Path,
    extra: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
) -> None:
    root = tmp_path / "cli-data"
    done = cli(
        ["--data-root", str(root), "ingest", str(path), "--table", "hostile", *extra],
        tmp_path,
        prefix=prefix,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    assert written_files(root) == []


# -- refused files ------------------------------------------------------------------------

# file -> (reader options, a fragment of the one-line message)
REFUSED: dict[str, tuple[dict[str, str], str]] = {
    "empty.csv": ({}, "the file is empty (0 bytes)"),
    "bom_only.csv": ({}, "the file is empty (expected a header row)"),
    "only_newlines.csv": ({}, "line 1 is blank (expected a header row)"),
    "blank_first_line.csv": ({}, "line 1 is blank (expected a header row)"),
    "header_only_delimiters.csv": ({}, "the header row has no column names (4 empty"),
    "whitespace_header.csv": ({}, "the header row has no column names (1 empty"),
    "unterminated_quote.csv": (
        {},
        "malformed CSV in the record starting on line 3: unexpected end of data "
        "(a quoted field is never closed)",
    ),
    "text_after_closing_quote.csv": (
        {},
        "malformed CSV in the record starting on line 2: ',' expected after '\"'",
    ),
    "nul_byte.csv": ({}, "line 2 contains a NUL character"),
    "utf16le_no_bom.csv": ({}, "line 1 contains a NUL character"),
    "invalid_utf8.csv": ({}, "not valid UTF-8 text on line 3 (byte ff)"),
    "truncated_utf8.csv": ({}, "not valid UTF-8 text at the end of the file"),
    "latin1.csv": ({}, "not valid UTF-8 text on line 2 (byte eb); set the reader option encoding"),
    "latin1_c1_bytes.csv": ({"encoding": "cp1252"}, "not valid cp1252 text on line 2 (byte 81)"),
    "utf16_bom.csv": (
        {},
        "starts with a UTF-16 byte order mark, not UTF-8 (set the reader "
        'option encoding = "utf-16")',
    ),
    "provenance_header.csv": ({}, "source column(s) _source_row use names reserved"),
    "parquet_named.csv": ({}, "expected csv, but the file is parquet"),
    "gzip_named.csv": ({}, "expected csv, but the file is gzip"),
    "csv_named.parquet": ({}, "not a readable parquet file (ArrowInvalid: Parquet magic bytes"),
    "truncated.parquet": ({}, "not a readable parquet file (ArrowInvalid: Parquet magic bytes"),
    "corrupt_page.parquet": ({}, "not a readable parquet file ("),
    "csv_named.xlsx": ({}, "not a readable xlsx workbook (CalamineError"),
    "xlsx_named.json": ({}, "expected JSON, but the file is a zip archive (xlsx?)"),
    "unknown_extension.dat": ({}, "no reader for format 'dat'"),
    "json_scalar.json": ({}, "expected a JSON array of objects, the top level is a number"),
    "json_string.json": ({}, "expected a JSON array of objects, the top level is a string"),
    "json_object_no_records.json": (
        {},
        "the top level is an object (set the reader option record_path",
    ),
    "json_empty_array.json": ({}, "the top level is an empty array (no records and no columns"),
    "json_whitespace_only.json": ({}, "the file holds no JSON (only white space)"),
    "json_empty_objects.json": ({}, "the records have no keys (no columns to stage)"),
    "json_truncated.json": ({}, "invalid JSON at line 1 column 21: Expecting ',' delimiter"),
    "json_deeply_nested.json": ({}, "JSON nested too deeply to read"),
    "json_provenance_key.json": ({}, "source column(s) _batch_id use names reserved"),
    "ndjson_all_bad.ndjson": ({}, "no line is a JSON object (2 lines"),
    "empty_first_sheet.xlsx": ({}, "sheet 'Empty' is empty (expected a header row)"),
}


def test_the_corpus_is_what_the_script_writes(tmp_path: Path) -> None:
    written = make_corpus.write_corpus(tmp_path)
    assert len(written) >= 40
    for path in written:
        if path.name not in make_corpus.LIBRARY_MADE:
            assert path.read_bytes() == (CORPUS / path.name).read_bytes(), path.name
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(p.name for p in written)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_one_line_and_nothing_written(
    refusing_engine: PipelineEngine, name: str
) -> None:
    options, fragment = REFUSED[name]
    assert_refused(refusing_engine, CORPUS / name, fragment, options=options)


# Option mistakes are refused like bad files.
@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("crlf.csv", {"delimiter": ";;"}, "delimiter must be one character"),
        ("crlf.csv", {"quote": ","}, "quote must be one character other than the delimiter"),
        ("crlf.csv", {"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ("crlf.csv", {"sheet": "1"}, "unknown csv option(s) sheet"),
        (
            "several_sheets.xlsx",
            {"sheet": "Nope"},
            "no sheet 'Nope'; the sheets are Jobs, Skills, Notes",
        ),
        (
            "several_sheets.xlsx",
            {"sheet": "4"},
            "sheet 4 does not exist (the workbook has 3 sheets",
        ),
        ("json_object_no_records.json", {"record_path": "id"}, "the value of 'id' is a number"),
        (
            "json_nested.json",
            {"record_path": "x"},
            "record_path 'x' given, but the top level is an array",
        ),
        ("good.parquet", {"encoding": "utf-8"}, "parquet takes no reader options"),
    ],
)
def test_bad_reader_options_are_refused(
    refusing_engine: PipelineEngine, name: str, options: dict[str, str], fragment: str
) -> None:
    assert_refused(refusing_engine, CORPUS / name, fragment, options=options)


def test_paths_that_are_not_readable_files(engine: PipelineEngine, tmp_path: Path) -> None:
    work = tmp_path / "made"
    work.mkdir()
    assert_refused(engine, make_corpus.make_missing(work), "no such file")
    assert_refused(engine, make_corpus.make_directory(work), "is a directory, expected a file")
    assert_refused(engine, make_corpus.make_dangling_symlink(work), "no such file")
    assert_refused(engine, make_corpus.make_fifo(work), "is not a regular file (a FIFO")


def _drop_file_permission_override() -> tuple[str, ...]:
    """A command prefix under which even root obeys file modes (root keeps its
    uid but loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: a mode-000 file stays readable")
    caps = "-dac_override,-dac_read_search"
    prefix = (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--")
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE: {probe.stderr.strip()}")
    return prefix


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    """chmod 000. As root the file stays readable, so the library is run in a
    subprocess without root's permission override: the condition is real."""
    work = tmp_path / "made"
    work.mkdir()
    path = make_corpus.make_unreadable(work)
    root = tmp_path / "data"
    code = (
        "import sys\n"
        "from jobforge.engine.pipeline import PipelineEngine\n"
        "from jobforge.errors import JobforgeError\n"
        "from jobforge.pipeline.config import PipelineConfig\n"
        f"engine = PipelineEngine(PipelineConfig({str(root)!r}, entry_points=False))\n"
        "try:\n"
        f"    engine.ingest({str(path)!r}, 'hostile')\n"
        "except JobforgeError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    prefix = _drop_file_permission_override() if IS_ROOT else ()
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == f"{path}: permission denied (the file is not readable)"
    assert written_files(root) == []
    assert_cli_refuses(
        path, "permission denied (the file is not readable)", tmp_path, prefix=prefix
    )


# -- faithful CSV ------------------------------------------------------------------------

# file -> (reader options, staged (_source_row, values...), quarantined (_source_row, fields))
CSV_ACCEPTED: dict[
    str, tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[int, list[str]]]]
] = {
    "header_only.csv": ({}, [], []),
    "header_only_no_newline.csv": ({}, [], []),
    "bom_quoted_header.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob")], []),
    "crlf.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob")], []),
    "mixed_line_endings.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob"), (3, "3", "Cy")], []),
    "cr_only.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob")], []),
    "no_final_newline.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob")], []),
    "blank_lines.csv": ({}, [(1, "1", "Ann"), (2, "2", "Bob"), (3, "3", "Cy")], []),
    "single_column_blank_lines.csv": ({}, [(1, "1"), (2, ""), (3, " "), (4, "3")], []),
    "ragged_too_many.csv": ({}, [(1, "1", "Ann"), (3, "3", "Cy")], [(2, ["2", "Bob", "extra"])]),
    "ragged_too_few.csv": (
        {},
        [(1, "1", "Ann", "5"), (4, "4", "Di", "7")],
        [(2, ["2"]), (3, ["3", "Cy"])],
    ),
    "ragged_mixed.csv": (
        {},
        [(1, "1", "2"), (4, "5", "6")],
        [(2, ["1", "2", "3", "4"]), (3, ["x,y"]), (5, ["   "])],
    ),
    "trailing_delimiter.csv": ({}, [(1, "1", "2", ""), (2, "3", "4", "")], []),
    "embedded_newlines.csv": (
        {},
        [
            (1, "1", "line one\nline two"),
            (2, "2", "crlf\r\ninside"),
            (3, "3", "cr\rinside"),
            (4, "4", "plain"),
        ],
        [],
    ),
    "quote_in_unquoted_field.csv": (
        {},
        [(1, "1", "5'10\"", "tall"), (2, "2", 'a"b', 'c"d'), (3, "3", ' "spaced"', "x")],
        [],
    ),
    "escaped_quotes.csv": ({}, [(1, "1", 'He said "hi"'), (2, "2", '"'), (3, "3", "")], []),
    "quoted_header_with_newline.csv": ({}, [(1, "Ann", "Lee")], []),
    "whitespace_values.csv": ({}, [(1, "  lead", "trail  ", "\t tab "), (2, " ", " ", "")], []),
    "quoted_and_unquoted_empty.csv": ({}, [(1, "", "", "x"), (2, "", "", "")], []),
    "duplicate_headers.csv": ({}, [(1, "1", "2", "3", "4", "5", "6")], []),
    "empty_header_names.csv": ({}, [(1, "1", "2", "3")], []),
    "formula_like.csv": (
        {},
        [(1, "=1+1", '=HYPERLINK("http://x")'), (2, "@SUM(A1)", "-2")],
        [],
    ),
    "unicode_values.csv": (
        {},
        [
            (1, "emoji", "\U0001f600\U0001f469\u200d\U0001f4bb"),
            (2, "rtl", "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"),
            (3, "combining", "e\u0301"),
            (4, "separators", "a\u2028b\u2029c\u0085d"),
            (5, "zero width", "\u200b\ufeff"),
        ],
        [],
    ),
    "control_chars.csv": ({}, [(1, "x\x0by", "p\x0cq"), (2, "\x1c\x1d\x1e", "\x1f\x7f")], []),
    "semicolon.csv": ({}, [(1, "1;Ann"), (2, "2;Bob")], []),
    "tsv_with_quotes.tsv": (
        {},
        [(1, "1", "Lee, Ann", "5'10\""), (2, "2", "tab\tinside", 'says "hi"')],
        [],
    ),
}

# the same files with other options: (name, options, reference dialect, staged, quarantined)
CSV_WITH_OPTIONS: list[
    tuple[str, dict[str, str], dict[str, Any], list[tuple[Any, ...]], list[tuple[int, list[str]]]]
] = [
    (
        "semicolon.csv",
        {"delimiter": ";"},
        {"delimiter": ";"},
        [(1, "1", "Ann"), (2, "2", "Bob")],
        [],
    ),
    (
        "tsv_with_quotes.tsv",
        {"quote": ""},
        {"delimiter": "\t", "quote": None},
        [(1, "1", '"Lee, Ann"', "5'10\"")],
        [(2, ["2", '"tab', 'inside"', 'says "hi"'])],
    ),
    (
        "latin1.csv",
        {"encoding": "cp1252"},
        {"encoding": "cp1252"},
        [(1, "1", "Zo\u00eb", "5 \u20ac"), (2, "2", "\u00c5ngstr\u00f6m", "10")],
        [],
    ),
    # latin-1 never fails: cp1252's euro sign (byte 0x80) is the C1 control U+0080
    (
        "latin1.csv",
        {"encoding": "latin-1"},
        {"encoding": "latin-1"},
        [(1, "1", "Zo\u00eb", "5 \x80"), (2, "2", "\u00c5ngstr\u00f6m", "10")],
        [],
    ),
    (
        "latin1_c1_bytes.csv",
        {"encoding": "latin-1"},
        {"encoding": "latin-1"},
        [(1, "1", "x\x81y")],
        [],
    ),
    ("utf16_bom.csv", {"encoding": "utf-16"}, {"encoding": "utf-16"}, [(1, "1", "Zo\u00eb")], []),
]


@pytest.mark.parametrize("name", sorted(CSV_ACCEPTED))
def test_csv_is_ingested_as_the_csv_module_reads_it(engine: PipelineEngine, name: str) -> None:
    options, rows, odd = CSV_ACCEPTED[name]
    path = CORPUS / name
    result = engine.ingest(path, "hostile", options=options)
    assert staged_rows(result) == rows
    assert [(r[0], json.loads(r[3])) for r in quarantined(result)] == odd
    dialect = {"delimiter": "\t"} if name.endswith(".tsv") else {}
    assert_faithful_csv(result, path, **dialect)
    if odd:
        assert result.record is not None and result.record.status == "partial"
        assert all(r[1] == "ragged_record" for r in quarantined(result))


@pytest.mark.parametrize(
    ("name", "options", "dialect", "rows", "odd"),
    CSV_WITH_OPTIONS,
    ids=[f"{c[0]}-{next(iter(c[1].values()))}" for c in CSV_WITH_OPTIONS],
)
def test_csv_reader_options(
    engine: PipelineEngine,
    name: str,
    options: dict[str, str],
    dialect: dict[str, Any],
    rows: list[tuple[Any, ...]],
    odd: list[tuple[int, list[str]]],
) -> None:
    path = CORPUS / name
    result = engine.ingest(path, "hostile", options=options)
    assert staged_rows(result) == rows
    assert [(r[0], json.loads(r[3])) for r in quarantined(result)] == odd
    assert_faithful_csv(result, path, **dialect)


def test_header_names_follow_the_documented_rule(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "duplicate_headers.csv", "dupes")
    # raw header: a,a,,a,b,a__2 -- a__2 is a name in the file, so it is not reused
    assert data_columns(staged(result)) == ["a", "a__3", "column_3", "a__4", "b", "a__2"]
    assert result.record is not None
    assert result.record.header_mapping == {"2:a": "a__3", "3:": "column_3", "4:a": "a__4"}
    empty = engine.ingest(CORPUS / "empty_header_names.csv", "empties")
    assert data_columns(staged(empty)) == ["column_1", "x", "column_3"]
    newline = engine.ingest(CORPUS / "quoted_header_with_newline.csv", "newline")
    assert data_columns(staged(newline)) == ["first\nname", "last"]
    bom = engine.ingest(CORPUS / "bom_quoted_header.csv", "bom")
    assert data_columns(staged(bom)) == ["id", "name"]


def test_header_only_file_stages_zero_rows_with_its_columns(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "header_only.csv", "empty_table")
    frame = staged(result)
    assert frame.height == 0
    assert data_columns(frame) == ["id", "name", "score"]
    assert result.quarantine_path is None
    assert result.record is not None
    assert (result.record.row_count_in, result.record.row_count_out) == (0, 0)
    assert result.record.status == "success"
    current = engine.current("staged", "empty_table")
    assert current is not None and current.row_count == 0


def test_ragged_records_are_quarantined_with_rule_and_raw_record(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "ragged_too_few.csv", "ragged")
    assert result.quarantine_path is not None
    assert result.quarantine_path.parent == engine.config.quarantine_path() / "ragged" / "staged"
    assert quarantined(result) == [
        (2, "ragged_record", "record on line 3: expected 3 fields, found 1", '["2"]'),
        (3, "ragged_record", "record on line 4: expected 3 fields, found 2", '["3", "Cy"]'),
    ]
    frame = pl.read_parquet(result.quarantine_path)
    assert set(frame["_batch_id"]) == {result.batch_id}
    assert set(frame["table_name"]) == {"ragged"}
    assert result.record is not None
    assert (result.record.row_count_in, result.record.rows_quarantined) == (4, 2)


def test_blank_lines_are_skipped_and_counted(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "blank_lines.csv", "blanks")
    assert result.record is not None
    assert result.record.reader_details["blank_lines"] == 4
    assert result.record.status == "success"
    assert result.quarantine_path is None


def test_fast_and_reference_readers_are_chosen_as_documented(engine: PipelineEngine) -> None:
    expected = {
        "crlf.csv": "polars",
        "no_final_newline.csv": "polars",
        "quoted_and_unquoted_empty.csv": "polars",
        "cr_only.csv": "csv",
        "embedded_newlines.csv": "csv",
        "quote_in_unquoted_field.csv": "csv",
        "blank_lines.csv": "csv",
        "ragged_too_many.csv": "csv",
    }
    for index, (name, reader) in enumerate(expected.items()):
        result = engine.ingest(CORPUS / name, f"t{index}")
        assert result.record is not None
        assert result.record.reader_details["reader"] == reader, name


def test_five_thousand_columns(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "wide_5000_columns.csv", "wide")
    frame = staged(result)
    columns = data_columns(frame)
    assert len(columns) == 5000
    assert columns[0] == "c0000" and columns[-1] == "c4999"
    # value (r * 5000 + i) % 10 == i % 10
    assert frame["c1234"].to_list() == ["4", "4"]
    assert frame["c4999"].to_list() == ["9", "9"]
    # Plain: polars reads it (the plain check counts the fields of so wide a line
    # by its delimiters, a pattern repeated 5000 times being too big for polars).
    assert result.record is not None
    assert result.record.reader_details["reader"] == "polars"
    assert_faithful_csv(result, CORPUS / "wide_5000_columns.csv")


def test_a_ten_megabyte_field(engine: PipelineEngine, tmp_path: Path) -> None:
    path = make_corpus.make_big_field(tmp_path)
    result = engine.ingest(path, "big")
    frame = staged(result)
    blob = frame["blob"].to_list()
    assert [len(v) for v in blob] == [5, 10 * 1024 * 1024, 5]
    assert blob[1].startswith("0123456789abcdef,0123") and blob[1].count(",") == 616_809
    assert frame["tail"].to_list() == ["a", "b", "c"]
    assert_faithful_csv(result, path)


def test_a_record_of_two_hundred_thousand_fields(engine: PipelineEngine, tmp_path: Path) -> None:
    path = make_corpus.make_long_record(tmp_path)
    result = engine.ingest(path, "long")
    assert staged_rows(result) == [(1, "1", "2"), (3, "3", "4")]
    [(row, rule, message, raw)] = quarantined(result)
    assert (row, rule) == (2, "ragged_record")
    assert message == "record on line 3: expected 2 fields, found 200000"
    assert json.loads(raw) == ["xxx"] * 200_000


def test_a_symlink_to_a_file_elsewhere_is_read_and_recorded_as_given(
    engine: PipelineEngine, tmp_path: Path
) -> None:
    work = tmp_path / "made"
    work.mkdir()
    link = make_corpus.make_symlink_outside(work, tmp_path / "elsewhere")
    result = engine.ingest(link, "linked")
    assert staged_rows(result) == [(1, "1", "Ann"), (2, "2", "Bob")]
    assert result.record is not None
    assert result.record.source_file == link.as_posix()
    assert result.record.source_sha256 == sha256_of(tmp_path / "elsewhere" / "target.csv")
    assert set(staged(result)["_source_file"]) == {link.as_posix()}


# -- JSON, NDJSON, parquet, Excel ---------------------------------------------------------

# file -> (options, staged (_source_row, values...), quarantined (_source_row, rule, message, raw))
OTHER_ACCEPTED: dict[str, tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {
    "json_object_with_records.json": ({}, [(1, "1"), (2, "2")], []),
    "json_nested.json": (
        {},
        [
            (1, "1", '["a","b"]', '{"name":"Ann","age":40}', None),
            (2, "2", "[]", None, "true"),
        ],
        [],
    ),
    "json_mixed_array.json": (
        {},
        [(1, "1"), (6, "b")],
        [
            (2, "not_an_object", "expected an object, found a number", "2"),
            (3, "not_an_object", "expected an object, found a string", '"x"'),
            (4, "not_an_object", "expected an object, found null", "null"),
            (5, "not_an_object", "expected an object, found an array", "[1]"),
        ],
    ),
    "json_repeated_key.json": (
        {},
        [(2, "3")],
        [(1, "repeated_key", "key 'id' occurs more than once", '{"id":1,"id":2}')],
    ),
    "json_numbers.json": (
        {},
        [(1, "1.10"), (2, "1e5"), (3, "123456789012345678901234567890"), (4, "-0.0")],
        [],
    ),
    "json_bom.json": ({}, [(1, "1", "Zo\u00eb")], []),
    "ndjson_one_bad_line.ndjson": (
        {},
        [(1, "1", "Ann"), (3, "3", "Cy")],
        [
            (
                2,
                "invalid_json",
                "invalid JSON at column 24: Expecting ',' delimiter",
                '{"id": 2, "name": "Bob"',
            )
        ],
    ),
    "ndjson_not_objects.ndjson": (
        {},
        [(3, "3")],
        [
            (1, "not_an_object", "expected an object, found a number", "1"),
            (2, "not_an_object", "expected an object, found an array", "[1, 2]"),
            (4, "not_an_object", "expected an object, found a string", '"text"'),
        ],
    ),
    "ndjson_blank_lines.jsonl": ({}, [(2, "1"), (5, "2")], []),
    "ndjson_crlf.ndjson": ({}, [(1, "1"), (2, "2")], []),
    "ndjson_repeated_key.ndjson": (
        {},
        [(1, "1")],
        [(2, "repeated_key", "key 'id' occurs more than once", '{"id": 2, "id": 3}')],
    ),
    "good.parquet": ({}, [(1, 1, "name 1", 1.5), (2, 2, "name 2", 3.0), (3, 3, "name 3", 4.5)], []),
    "zero_rows.parquet": ({}, [], []),
    "several_sheets.xlsx": (
        {},
        [(1, "0011", "Legislators"), (2, "0012", "Senior government managers")],
        [],
    ),
    "header_only.xlsx": ({}, [], []),
    "gaps.xlsx": ({}, [(1, "a", "3"), (2, None, None), (3, "b", "1.5")], []),
}


@pytest.mark.parametrize("name", sorted(OTHER_ACCEPTED))
def test_other_formats_are_ingested_as_documented(engine: PipelineEngine, name: str) -> None:
    options, rows, rejected = OTHER_ACCEPTED[name]
    result = engine.ingest(CORPUS / name, "hostile", options=options)
    assert staged_rows(result) == rows
    assert quarantined(result) == rejected
    assert result.record is not None
    assert result.record.row_count_in == len(rows) + len(rejected)
    assert result.record.status == ("partial" if rejected else "success")


def test_json_columns_and_record_path(engine: PipelineEngine) -> None:
    nested = engine.ingest(CORPUS / "json_nested.json", "nested")
    assert data_columns(staged(nested)) == ["id", "tags", "owner", "extra"]
    under_key = engine.ingest(CORPUS / "json_object_with_records.json", "under_key")
    assert under_key.record is not None
    assert under_key.record.reader_details == {"record_path": "rows"}
    blanks = engine.ingest(CORPUS / "ndjson_blank_lines.jsonl", "blanks")
    assert blanks.record is not None
    assert blanks.record.reader_details == {"blank_lines": 4}


def test_excel_sheets(engine: PipelineEngine) -> None:
    path = CORPUS / "several_sheets.xlsx"
    by_name = engine.ingest(path, "skills", options={"sheet": "Skills"})
    assert staged_rows(by_name) == [
        (1, "Reading", "3"),
        (2, "Writing", "4"),
        (3, "Numeracy", "2.5"),
    ]
    assert by_name.record is not None
    assert by_name.record.reader_details == {
        "sheet": "Skills",
        "sheets": ["Jobs", "Skills", "Notes"],
    }
    by_number = engine.ingest(path, "notes", options={"sheet": "3"})
    assert staged_rows(by_number) == [(1, "first")]
    second = engine.ingest(CORPUS / "empty_first_sheet.xlsx", "second", options={"sheet": 2})
    assert staged_rows(second) == [(1, "1", "2")]
    assert data_columns(staged(second)) == ["a", "b"]


def test_parquet_keeps_its_types(engine: PipelineEngine) -> None:
    result = engine.ingest(CORPUS / "good.parquet", "typed")
    schema = staged(result).schema
    assert (schema["id"], schema["name"], schema["score"]) == (pl.Int64, pl.String, pl.Float64)


# -- the engine's own conservation check ---------------------------------------------------


class _MiscountingReader:
    """A reader plugin whose record count disagrees with the rows it returns."""

    format = "csv"

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ReadResult:
        table = pa.table({"_source_row": [1, 2], "a": ["x", "y"]})
        return ReadResult(batches=table.to_reader, records=3)


class _MiscountingPlugin:
    @hookimpl(tryfirst=True)
    def jobforge_source_reader(self, source: Any, config: Any) -> Any:
        return _MiscountingReader(source.path)


def test_rows_that_do_not_add_up_are_refused(tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "data", plugins=[_MiscountingPlugin()], entry_points=False)
    engine = PipelineEngine(config)
    before = written_files(config.data_root)
    path = CORPUS / "crlf.csv"
    with pytest.raises(ContractError) as info:
        engine.ingest(path, "miscounted")
    assert str(info.value) == (
        f"{path}: the reader counted 3 records, but 2 were staged and 0 quarantined; "
        "nothing was written"
    )
    assert written_files(config.data_root) == before == []


# -- the command line ----------------------------------------------------------------------

CLI_REFUSED = sorted(REFUSED)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLI_REFUSED)
def test_cli_refuses_every_refused_file(name: str, tmp_path: Path) -> None:
    options, fragment = REFUSED[name]
    extra = tuple(x for k, v in options.items() for x in ("--option", f"{k}={v}"))
    assert_cli_refuses(CORPUS / name, fragment, tmp_path, extra)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("unterminated_quote.csv", "a quoted field is never closed"),
        ("latin1.csv", "not valid UTF-8 text on line 2 (byte eb)"),
        ("truncated.parquet", "not a readable parquet file"),
        ("json_scalar.json", "expected a JSON array of objects"),
    ],
)
def test_cli_refusal_is_one_line_without_traceback(
    name: str, fragment: str, tmp_path: Path
) -> None:
    assert_cli_refuses(CORPUS / name, fragment, tmp_path)


def test_cli_refuses_paths_that_are_not_files(tmp_path: Path) -> None:
    work = tmp_path / "made"
    work.mkdir()
    assert_cli_refuses(make_corpus.make_missing(work), "no such file", tmp_path)
    assert_cli_refuses(make_corpus.make_directory(work), "is a directory", tmp_path)


def test_cli_ingests_a_ragged_file_and_reports_the_quarantine(tmp_path: Path) -> None:
    root = tmp_path / "cli-data"
    done = cli(
        [
            "--data-root",
            str(root),
            "ingest",
            str(CORPUS / "ragged_mixed.csv"),
            "--table",
            "ragged",
            "--json",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows"], summary["rows_quarantined"]) == (2, 3)
    assert len(list((root / "quarantine" / "ragged" / "staged").glob("batch=*.parquet"))) == 1
