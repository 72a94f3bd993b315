"""The ``csv`` module's path for files polars would read differently: one pass,
records streamed to parquet files in the reader's own temporary folder, which
is gone once the file is ingested (or refused).

Every test sets Python's temporary folder to one of its own (``tempfile.tempdir``
is per process, so this holds under pytest-xdist) and records the folders the
reader makes (``jobforge-csv-*``), to check that exactly those are removed.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from jobforge_readers.delimited import DelimitedReader

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.provenance import ALL_COLUMNS
from jobforge.errors import SourceError
from jobforge.pipeline.config import PipelineConfig

# Lines: 1 header, 2-3 a quoted value spanning lines, 4 blank, 5 plain, 6 ragged
# (4 fields), 7 doubled quotes and an empty last value, 8 an LF line end.
MESSY = (
    b"id,name,note\r\n"
    b'1,Ann,"first line\nsecond line"\r\n'
    b"\r\n"
    b"2,Bob,plain\r\n"
    b"3,Cy,extra,field\r\n"
    b'4,"Di ""D""",\r\n'
    b'5,Ed,"a,b"\n'
)
MESSY_ROWS = [
    (1, "1", "Ann", "first line\nsecond line"),
    (2, "2", "Bob", "plain"),
    (4, "4", 'Di "D"', ""),
    (5, "5", "Ed", "a,b"),
]


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders ``jobforge-csv-*`` made during the test, in a temporary folder
    of the test's own."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    folders: list[Path] = []
    real = tempfile.TemporaryDirectory

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            if Path(self.name).name.startswith("jobforge-csv-"):
                folders.append(Path(self.name))

    monkeypatch.setattr(tempfile, "TemporaryDirectory", Recording)
    return folders


def engine(tmp_path: Path) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))


def csv_module_records(
    path: Path, encoding: str = "utf-8-sig", delimiter: str = ","
) -> list[list[str]]:
    with path.open(newline="", encoding=encoding) as handle:
        return [r for r in csv.reader(handle, delimiter=delimiter, strict=True) if r]


def staged_rows(path: Path) -> list[tuple]:
    frame = pl.read_parquet(path).sort("_source_row")
    data = [c for c in frame.columns if c not in ALL_COLUMNS]
    return list(frame.select("_source_row", *data).iter_rows())


def test_a_messy_file_is_staged_as_the_csv_module_reads_it(
    tmp_path: Path, made: list[Path]
) -> None:
    source = tmp_path / "messy.csv"
    source.write_bytes(MESSY)
    result = engine(tmp_path).ingest(source, "messy")

    assert staged_rows(result.path) == MESSY_ROWS
    # Cell for cell the csv module's records of the right width, in order.
    header, *records = csv_module_records(source)
    assert header == ["id", "name", "note"]
    assert [list(r[1:]) for r in MESSY_ROWS] == [r for r in records if len(r) == 3]

    assert result.quarantine_path is not None
    rejected = pl.read_parquet(result.quarantine_path).to_dicts()
    assert [(r["_source_row"], r["rule_id"], r["message"], r["row"]) for r in rejected] == [
        (3, "ragged_record", "record on line 6: expected 3 fields, found 4", json.dumps(records[2]))
    ]
    assert json.loads(rejected[0]["row"]) == ["3", "Cy", "extra", "field"]
    assert (result.rows, result.rows_quarantined) == (4, 1)

    assert result.record is not None
    details = result.record.reader_details
    assert details["reader"] == "csv" and details["blank_lines"] == 1
    assert details["polars_differs"] == [
        "1 record(s) with the wrong number of fields",
        "1 blank line(s)",
        "a quoted field spanning lines",
    ]
    # The reader's one folder was made, and is gone with everything in it.
    assert len(made) == 1 and not made[0].exists()
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_the_reader_scans_files_in_its_folder_until_close(tmp_path: Path, made: list[Path]) -> None:
    source = tmp_path / "messy.csv"
    source.write_bytes(MESSY)
    reader = DelimitedReader(source, {})
    read = reader.read()
    folder = reader.folder
    assert folder is not None and made == [folder]
    assert folder.parent == Path(tempfile.gettempdir())
    assert sorted(p.name for p in folder.iterdir()) == ["records.parquet", "rejected.parquet"]
    assert read.records == 5
    assert list(read.frame.collect().iter_rows()) == MESSY_ROWS
    assert read.rejected is not None
    assert read.rejected.select("_source_row", "row").collect().rows() == [
        (3, '["3", "Cy", "extra", "field"]')
    ]
    reader.close()
    assert not folder.exists() and reader.folder is None


def test_a_plain_file_makes_no_folder(tmp_path: Path, made: list[Path]) -> None:
    source = tmp_path / "plain.csv"
    source.write_bytes(b"id,name\n1,Ann\n2,Bob\n")
    reader = DelimitedReader(source, {})
    read = reader.read()
    assert read.details["reader"] == "polars" and read.rejected is None
    assert reader.folder is None and made == []
    reader.close()


def test_cp1252_and_ragged_share_the_one_folder(tmp_path: Path, made: list[Path]) -> None:
    source = tmp_path / "cp1252.csv"
    # é is 0xE9 and the euro sign 0x80 in cp1252; record 2 has too few fields.
    source.write_bytes(
        b'name;price\r\ncaf\xe9;3 \x80\r\nlonely\r\n"cr\xe8me\nbr\xfbl\xe9e";5 \x80\r\n'
    )
    options = {"delimiter": ";", "encoding": "cp1252"}

    reader = DelimitedReader(source, options)
    read = reader.read()
    assert reader.folder is not None
    assert sorted(p.name for p in reader.folder.iterdir()) == [
        "records.parquet",
        "rejected.parquet",
        "source.csv",
    ]
    assert read.records == 3 and read.rejected is not None
    reader.close()
    assert made and not made[0].exists()

    result = engine(tmp_path).ingest(source, "prices", options=options)
    assert staged_rows(result.path) == [(1, "café", "3 €"), (3, "crème\nbrûlée", "5 €")]
    assert result.quarantine_path is not None
    rejected = pl.read_parquet(result.quarantine_path)
    assert rejected.select("_source_row", "message", "row").rows() == [
        (2, "record on line 3: expected 2 fields, found 1", '["lonely"]')
    ]
    assert result.record is not None
    assert result.record.reader_details["encoding"] == "cp1252"
    assert result.record.reader_details["reader"] == "csv"
    # The csv module on the original bytes, decoded as cp1252, agrees.
    records = csv_module_records(source, "cp1252", ";")
    assert [tuple(r) for r in records[1:] if len(r) == 2] == [
        tuple(r[1:]) for r in staged_rows(result.path)
    ]
    assert len(made) == 2 and not any(p.exists() for p in made)
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_many_records_are_written_in_batches(tmp_path: Path, made: list[Path]) -> None:
    """120 001 records (more than two batches), a ragged one at 60 000 and a
    value spanning lines at 120 001: every record in its place."""
    source = tmp_path / "long.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        handle.write("n,square\n")
        for n in range(1, 120_001):
            handle.write(f"{n},{n * n}\n" if n != 60_000 else "60000,x,y\n")
        handle.write('120001,"last\nline"\n')

    reader = DelimitedReader(source, {})
    read = reader.read()
    assert reader.folder is not None
    meta = pq.read_metadata(reader.folder / "records.parquet")
    assert meta.num_rows == 120_000 and meta.num_row_groups >= 3
    assert read.records == 120_001
    reader.close()

    result = engine(tmp_path).ingest(source, "long")
    frame = pl.read_parquet(result.path).sort("_source_row")
    assert frame.height == 120_000 and result.rows_quarantined == 1
    rows = frame["_source_row"].to_list()
    assert rows == [n for n in range(1, 120_002) if n != 60_000]
    assert frame["n"].to_list() == [str(n) for n in rows]
    assert frame.row(59_998, named=True)["square"] == str(59_999 * 59_999)
    assert frame.row(59_999, named=True)["square"] == str(60_001 * 60_001)
    assert frame.row(-1, named=True)["square"] == "last\nline"
    assert result.quarantine_path is not None
    assert pl.read_parquet(result.quarantine_path)["message"].to_list() == [
        "record on line 60001: expected 2 fields, found 3"
    ]
    assert not any(p.exists() for p in made)


def test_a_failure_half_way_leaves_nothing(tmp_path: Path, made: list[Path]) -> None:
    """A quote never closed after more than a batch of records, one ragged: one
    line naming the file and line; no folder, no parquet file anywhere."""
    source = tmp_path / "broken.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        handle.write("a,b\n1,2,3\n")
        handle.writelines(f"{n},x\n" for n in range(60_000))
        handle.write('3,"never\nclosed\n')
    eng = engine(tmp_path)
    with pytest.raises(SourceError) as info:
        eng.ingest(source, "broken")
    assert str(info.value) == (
        f"{source}: malformed CSV in the record starting on line 60003: "
        "unexpected end of data (a quoted field is never closed)"
    )
    assert len(made) == 1 and not made[0].exists()
    assert list(Path(tempfile.gettempdir()).iterdir()) == []
    assert list(eng.config.data_root.rglob("*.parquet")) == []

    # The reader alone removes its folder when read() fails.
    reader = DelimitedReader(source, {})
    with pytest.raises(SourceError):
        reader.read()
    assert reader.folder is None and len(made) == 2 and not made[1].exists()


def test_a_file_the_full_pass_finds_alike_is_read_by_polars(
    tmp_path: Path, made: list[Path]
) -> None:
    """U+FEFF inside a value: not plain to the fast check, but nothing polars
    reads differently: polars reads it, as the details say."""
    source = tmp_path / "feff.csv"
    source.write_text("a,b\n1,x\ufeffy\n2,z\n", encoding="utf-8")
    result = engine(tmp_path).ingest(source, "feff")
    assert result.record is not None and result.record.reader_details["reader"] == "polars"
    assert staged_rows(result.path) == [(1, "1", "x\ufeffy"), (2, "2", "z")]
    assert len(made) == 1 and not made[0].exists()


def test_the_benchmark_generator_messy_option(tmp_path: Path) -> None:
    """``generate.py --messy``: the same rows as without it but for a line break in
    about 1 notes in 1000, the same counts, and the file takes the csv-module path."""
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "generate.py"
    metas = {}
    for name, extra in (("plain", []), ("messy", ["--messy"])):
        out = str(tmp_path / f"{name}.csv")
        done = subprocess.run(
            [sys.executable, str(bench), "--rows", "20000", "--out", out, *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        metas[name] = json.loads(done.stdout)
    plain = csv_module_records(tmp_path / "plain.csv")
    messy = csv_module_records(tmp_path / "messy.csv")
    assert len(plain) == len(messy) == 20_001 and plain[0] == messy[0]
    broken = [i for i, (p, m) in enumerate(zip(plain, messy, strict=True)) if p != m]
    assert all(
        plain[i][:-1] == messy[i][:-1] and messy[i][-1] == plain[i][-1].replace(" (#", "\nsee (#")
        for i in broken
    )
    assert 10 <= len(broken) == metas["messy"]["multiline_notes"] <= 40
    assert "messy" not in metas["plain"] and "multiline_notes" not in metas["plain"]
    assert metas["messy"]["messy"] is True
    for key in ("rows", "duplicates", "bad_wage_rows", "empty_wages"):
        assert metas["messy"][key] == metas["plain"][key], key

    result = engine(tmp_path).ingest(tmp_path / "messy.csv", "occupations")
    assert result.rows == 20_000 and result.rows_quarantined == 0
    assert result.record is not None
    assert result.record.reader_details["reader"] == "csv"
    # A multi-line note whose phrase has quotes is also a quote outside one line.
    quoted = any('"' in messy[i][-1] for i in broken)
    assert result.record.reader_details["polars_differs"] == [
        "a quoted field spanning lines",
        *(["a value containing the quote character"] if quoted else []),
    ]
