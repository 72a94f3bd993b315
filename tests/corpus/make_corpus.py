"""Write the hostile-input corpus of jobforge's reader tests, deterministically.

    python tests/corpus/make_corpus.py          # (re)writes tests/corpus/files/

Every file is small and committed. Files that must be big (a 10 MB field) or
that cannot be committed (a missing path, a directory, an unreadable file, a
FIFO, symbolic links) are made at test time by the ``make_*`` functions below,
into a temporary folder. The expected outcome of each file is stated in
tests/test_hostile_inputs.py and documented in docs/sources.md.

Running the script twice gives byte-identical files (fixed workbook dates,
no random data), so ``git status`` shows nothing after a re-run.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

BOM = codecs.BOM_UTF8


def _text(value: str) -> bytes:
    return value.encode("utf-8")


def _parquet_bytes(rows: int = 3) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array(list(range(1, rows + 1)), type=pa.int64()),
            "name": pa.array([f"name {i}" for i in range(1, rows + 1)], type=pa.string()),
            "score": pa.array([i * 1.5 for i in range(1, rows + 1)], type=pa.float64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    return sink.getvalue()


def _corrupt_page_parquet() -> bytes:
    """A parquet file whose footer is intact but whose first page header is not."""
    data = bytearray(_parquet_bytes(rows=50))
    for i in range(4, 30):
        data[i] ^= 0xFF
    return bytes(data)


def _xlsx_bytes(build: Callable[[object], None]) -> bytes:
    import xlsxwriter

    sink = io.BytesIO()
    workbook = xlsxwriter.Workbook(sink, {"in_memory": True})
    workbook.set_properties({"created": dt.datetime(2024, 1, 1)})
    build(workbook)
    workbook.close()
    return sink.getvalue()


def _several_sheets(workbook: object) -> None:
    first = workbook.add_worksheet("Jobs")  # type: ignore[attr-defined]
    first.write_row(0, 0, ["code", "title"])
    first.write_row(1, 0, ["0011", "Legislators"])
    first.write_row(2, 0, ["0012", "Senior government managers"])
    second = workbook.add_worksheet("Skills")  # type: ignore[attr-defined]
    second.write_row(0, 0, ["skill", "level"])
    second.write_row(1, 0, ["Reading", 3])
    second.write_row(2, 0, ["Writing", 4])
    second.write_row(3, 0, ["Numeracy", 2.5])
    third = workbook.add_worksheet("Notes")  # type: ignore[attr-defined]
    third.write_row(0, 0, ["note"])
    third.write_row(1, 0, ["first"])


def _empty_first_sheet(workbook: object) -> None:
    workbook.add_worksheet("Empty")  # type: ignore[attr-defined]
    data = workbook.add_worksheet("Data")  # type: ignore[attr-defined]
    data.write_row(0, 0, ["a", "b"])
    data.write_row(1, 0, ["1", "2"])


def _header_only_sheet(workbook: object) -> None:
    sheet = workbook.add_worksheet("Only")  # type: ignore[attr-defined]
    sheet.write_row(0, 0, ["a", "b", "c"])


def _gaps_sheet(workbook: object) -> None:
    sheet = workbook.add_worksheet("Gaps")  # type: ignore[attr-defined]
    sheet.write_row(2, 1, ["name", "n"])  # header on row 3, from column B
    sheet.write_row(3, 1, ["a", 3])
    sheet.write_row(5, 1, ["b", 1.5])  # row 5 left empty


def _wide_csv(columns: int = 5000, rows: int = 2) -> bytes:
    header = ",".join(f"c{i:04d}" for i in range(columns))
    lines = [header] + [
        ",".join(str((r * columns + i) % 10) for i in range(columns)) for r in range(rows)
    ]
    return _text("\n".join(lines) + "\n")


def _deep_json(depth: int = 5000) -> bytes:
    return _text('[{"a": ' + "[" * depth + "]" * depth + "}]")


CORPUS: dict[str, Callable[[], bytes]] = {
    # -- delimited text: shape ------------------------------------------------------
    "empty.csv": lambda: b"",
    "header_only.csv": lambda: _text("id,name,score\n"),
    "header_only_no_newline.csv": lambda: _text("id,name,score"),
    "bom_only.csv": lambda: BOM,
    "bom_quoted_header.csv": lambda: BOM + _text('"id","name"\n1,Ann\n2,Bob\n'),
    "only_newlines.csv": lambda: _text("\n\n\n"),
    "blank_first_line.csv": lambda: _text("\nid,name\n1,Ann\n"),
    "header_only_delimiters.csv": lambda: _text(",,,\n1,2,3,4\n"),
    "whitespace_header.csv": lambda: _text("   \nx\n"),
    "crlf.csv": lambda: _text("id,name\r\n1,Ann\r\n2,Bob\r\n"),
    "mixed_line_endings.csv": lambda: _text("id,name\r\n1,Ann\n2,Bob\r3,Cy\r\n"),
    "cr_only.csv": lambda: _text("id,name\r1,Ann\r2,Bob\r"),
    "no_final_newline.csv": lambda: _text("id,name\n1,Ann\n2,Bob"),
    "blank_lines.csv": lambda: _text("id,name\n1,Ann\n\n2,Bob\n\n\n3,Cy\n\n"),
    "single_column_blank_lines.csv": lambda: _text('v\n1\n\n""\n \n3\n'),
    "ragged_too_many.csv": lambda: _text("id,name\n1,Ann\n2,Bob,extra\n3,Cy\n"),
    "ragged_too_few.csv": lambda: _text("id,name,score\n1,Ann,5\n2\n3,Cy\n4,Di,7\n"),
    "ragged_mixed.csv": lambda: _text('a,b\n1,2\n1,2,3,4\n\n"x,y"\n5,6\n   \n'),
    "trailing_delimiter.csv": lambda: _text("a,b,\n1,2,\n3,4,\n"),
    "unterminated_quote.csv": lambda: _text('id,name\n1,Ann\n2,"Bob\n3,Cy\n'),
    "text_after_closing_quote.csv": lambda: _text('id,name\n1,"Ann"x\n'),
    "embedded_newlines.csv": lambda: _text(
        'id,note\n1,"line one\nline two"\n2,"crlf\r\ninside"\n3,"cr\rinside"\n4,plain\n'
    ),
    "quote_in_unquoted_field.csv": lambda: _text(
        'id,height,remark\n1,5\'10",tall\n2,a"b,c"d\n3, "spaced",x\n'
    ),
    "escaped_quotes.csv": lambda: _text('id,said\n1,"He said ""hi"""\n2,""""\n3,""\n'),
    "quoted_header_with_newline.csv": lambda: _text('"first\nname",last\nAnn,Lee\n'),
    "whitespace_values.csv": lambda: _text("a,b,c\n  lead,trail  ,\t tab \n , ,\n"),
    "quoted_and_unquoted_empty.csv": lambda: _text('a,b,c\n,"",x\n"",,\n'),
    "duplicate_headers.csv": lambda: _text("a,a,,a,b,a__2\n1,2,3,4,5,6\n"),
    "empty_header_names.csv": lambda: _text(",x,\n1,2,3\n"),
    "provenance_header.csv": lambda: _text("id,_source_row\n1,2\n"),
    "formula_like.csv": lambda: _text('a,b\n=1+1,"=HYPERLINK(""http://x"")"\n@SUM(A1),-2\n'),
    "unicode_values.csv": lambda: _text(
        "name,text\n"
        "emoji,\U0001f600\U0001f469\u200d\U0001f4bb\n"
        "rtl,\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627\n"
        "combining,e\u0301\n"
        "separators,a\u2028b\u2029c\u0085d\n"
        "zero width,\u200b\ufeff\n"
    ),
    "control_chars.csv": lambda: _text("a,b\nx\x0by,p\x0cq\n\x1c\x1d\x1e,\x1f\x7f\n"),
    "wide_5000_columns.csv": _wide_csv,
    # -- delimited text: bytes and encodings -----------------------------------------
    "nul_byte.csv": lambda: _text("id,name\n1,A\x00nn\n"),
    "invalid_utf8.csv": lambda: _text("id,name\n1,Ann\n2,") + b"B\xffb\n",
    "truncated_utf8.csv": lambda: _text("id,name\n1,caf") + b"\xc3",
    "latin1.csv": lambda: "id,name,price\n1,Zoë,5 €\n2,Ångström,10\n".encode("cp1252"),
    "latin1_c1_bytes.csv": lambda: b"id,name\n1,x\x81y\n",
    "utf16_bom.csv": lambda: "id,name\n1,Zoë\n".encode("utf-16"),
    "utf16le_no_bom.csv": lambda: "id,name\n1,Ann\n".encode("utf-16-le"),
    "tsv_with_quotes.tsv": lambda: _text(
        'id\tname\tremark\n1\t"Lee, Ann"\t5\'10"\n2\t"tab\tinside"\tsays "hi"\n'
    ),
    "semicolon.csv": lambda: _text("id;name\n1;Ann\n2;Bob\n"),
    # -- extensions that lie -------------------------------------------------------
    "parquet_named.csv": _parquet_bytes,
    "gzip_named.csv": lambda: gzip.compress(_text("id,name\n1,Ann\n"), mtime=0),
    "csv_named.parquet": lambda: _text("id,name\n1,Ann\n"),
    "csv_named.xlsx": lambda: _text("id,name\n1,Ann\n"),
    "xlsx_named.json": lambda: _xlsx_bytes(_header_only_sheet),
    "unknown_extension.dat": lambda: _text("id,name\n1,Ann\n"),
    # -- JSON and NDJSON -------------------------------------------------------------
    "json_scalar.json": lambda: _text("42\n"),
    "json_string.json": lambda: _text('"hello"\n'),
    "json_object_no_records.json": lambda: _text('{"id": 1, "name": "Ann"}\n'),
    "json_object_with_records.json": lambda: _text(
        '{"meta": {"source": "x"}, "rows": [{"id": 1}, {"id": 2}]}'
    ),
    "json_nested.json": lambda: _text(
        json.dumps(
            [
                {"id": 1, "tags": ["a", "b"], "owner": {"name": "Ann", "age": 40}},
                {"id": 2, "tags": [], "owner": None, "extra": True},
            ]
        )
    ),
    "json_mixed_array.json": lambda: _text('[{"a": 1}, 2, "x", null, [1], {"a": "b"}]'),
    "json_empty_array.json": lambda: _text("[]"),
    "json_empty_objects.json": lambda: _text("[{}, {}]"),
    "json_whitespace_only.json": lambda: _text("  \n\t\n"),
    "json_truncated.json": lambda: _text('[{"id": 1}, {"id": 2'),
    "json_repeated_key.json": lambda: _text('[{"id": 1, "id": 2}, {"id": 3}]'),
    "json_numbers.json": lambda: _text(
        '[{"n": 1.10}, {"n": 1e5}, {"n": 123456789012345678901234567890}, {"n": -0.0}]'
    ),
    "json_bom.json": lambda: BOM + _text('[{"id": 1, "name": "Zo\u00eb"}]'),
    "json_deeply_nested.json": _deep_json,
    "json_provenance_key.json": lambda: _text('[{"id": 1, "_batch_id": "mine"}]'),
    "ndjson_one_bad_line.ndjson": lambda: _text(
        '{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bob"\n{"id": 3, "name": "Cy"}\n'
    ),
    "ndjson_not_objects.ndjson": lambda: _text('1\n[1, 2]\n{"id": 3}\n"text"\n'),
    "ndjson_blank_lines.jsonl": lambda: _text('\n{"id": 1}\n\n   \n{"id": 2}\n\n'),
    "ndjson_crlf.ndjson": lambda: _text('{"id": 1}\r\n{"id": 2}\r\n'),
    "ndjson_all_bad.ndjson": lambda: _text("not json\n[1]\n"),
    "ndjson_repeated_key.ndjson": lambda: _text('{"id": 1}\n{"id": 2, "id": 3}\n'),
    # -- parquet -----------------------------------------------------------------------
    "good.parquet": _parquet_bytes,
    "zero_rows.parquet": lambda: _parquet_bytes(rows=0),
    "truncated.parquet": lambda: _parquet_bytes()[: len(_parquet_bytes()) // 2],
    "corrupt_page.parquet": _corrupt_page_parquet,
    # -- Excel ---------------------------------------------------------------------------
    "several_sheets.xlsx": lambda: _xlsx_bytes(_several_sheets),
    "empty_first_sheet.xlsx": lambda: _xlsx_bytes(_empty_first_sheet),
    "header_only.xlsx": lambda: _xlsx_bytes(_header_only_sheet),
    "gaps.xlsx": lambda: _xlsx_bytes(_gaps_sheet),
}


LIBRARY_MADE = frozenset(
    {
        "parquet_named.csv",
        "xlsx_named.json",
        "good.parquet",
        "zero_rows.parquet",
        "truncated.parquet",
        "corrupt_page.parquet",
        "several_sheets.xlsx",
        "empty_first_sheet.xlsx",
        "header_only.xlsx",
        "gaps.xlsx",
    }
)
"""Files written by pyarrow or xlsxwriter: their bytes are deterministic for one
version of those libraries, and may change (not their content) with another."""


def write_corpus(target: Path = FILES) -> list[Path]:
    """Write every corpus file into ``target``; return their paths."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in CORPUS.items():
        path = target / name
        path.write_bytes(build())
        written.append(path)
    return written


# -- made at test time ---------------------------------------------------------------


def make_big_field(directory: Path, size: int = 10 * 1024 * 1024) -> Path:
    """A CSV whose second record has a ``size``-character quoted field (with
    commas, so it must be quoted), between two ordinary records."""
    path = directory / "big_field.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write('id,blob,tail\n1,small,a\n2,"')
        chunk = "0123456789abcdef,"  # 17 characters
        whole, rest = divmod(size, len(chunk))
        handle.write(chunk * whole + chunk[:rest])
        handle.write('",b\n3,small,c\n')
    return path


def make_long_record(directory: Path, fields: int = 200_000) -> Path:
    """A CSV with a 2-column header and one ragged record of ``fields`` fields."""
    path = directory / "long_record.csv"
    path.write_text("a,b\n1,2\n" + ",".join("x" * 3 for _ in range(fields)) + "\n3,4\n")
    return path


def make_directory(directory: Path) -> Path:
    path = directory / "a_directory.csv"
    path.mkdir()
    return path


def make_missing(directory: Path) -> Path:
    return directory / "does_not_exist.csv"


def make_unreadable(directory: Path) -> Path:
    """A CSV with mode 000 (still readable by root: see the test)."""
    path = directory / "unreadable.csv"
    path.write_text("id,name\n1,Ann\n")
    path.chmod(0)
    return path


def make_fifo(directory: Path) -> Path:
    path = directory / "fifo.csv"
    os.mkfifo(path)
    return path


def make_dangling_symlink(directory: Path) -> Path:
    path = directory / "dangling.csv"
    path.symlink_to(directory / "nowhere.csv")
    return path


def make_symlink_outside(directory: Path, outside: Path) -> Path:
    """``directory/linked.csv`` -> a CSV in ``outside`` (another folder)."""
    outside.mkdir(parents=True, exist_ok=True)
    target = outside / "target.csv"
    target.write_text("id,name\n1,Ann\n2,Bob\n")
    path = directory / "linked.csv"
    path.symlink_to(target)
    return path


if __name__ == "__main__":
    for written in write_corpus():
        print(f"{written.stat().st_size:>8}  {written.relative_to(HERE)}")
