"""The ``csv`` module's path for files that are not plain: one pass, records
streamed to parquet files in the reader's own temporary folder (inside the
engine's scratch folder, in the table's staged folder, when the engine reads;
in the system's temporary folder otherwise), which is gone once the file is
ingested (or refused).

Every test sets Python's temporary folder to one of its own (``tempfile.tempdir``
is per process, so this holds under pytest-xdist) and records the folders the
reader makes (``jobforge-csv-*``, wherever they are) and what each held when it
was removed, to check that exactly those are removed, and where they were.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from jobforge_readers import jobforge_source_reader
from jobforge_readers.delimited import DelimitedReader

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.provenance import ALL_COLUMNS
from jobforge.errors import SourceError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.base import ReadResult, SourceSpec
from jobforge.storage.atomic import TEMP_PREFIX

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


class Made(list[Path]):
    """The folders ``jobforge-csv-*`` made, in order, and the names of the files
    each held when it was removed (``held``)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[Path, list[str]] = {}


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Made:
    """The folders ``jobforge-csv-*`` made during the test; the system's
    temporary folder is one of the test's own."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    folders = Made()
    real = tempfile.TemporaryDirectory

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            if Path(self.name).name.startswith("jobforge-csv-"):
                folders.append(Path(self.name))

        def cleanup(self) -> None:
            folder = Path(self.name)
            if folder in folders:
                folders.held[folder] = sorted(os.listdir(folder))
            super().cleanup()

    monkeypatch.setattr(tempfile, "TemporaryDirectory", Recording)
    return folders


def in_scratch_of(folder: Path, staged_table: Path) -> bool:
    """``folder`` is in the engine's scratch folder of a table: a temporary
    folder (removed after a crash by the next run) in its staged folder."""
    return folder.parent.parent == staged_table and folder.parent.name.startswith(TEMP_PREFIX)


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


def test_a_messy_file_is_staged_as_the_csv_module_reads_it(tmp_path: Path, made: Made) -> None:
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
    # The reader's one folder was made in the engine's scratch folder in the
    # table's staged folder, held the records until staged was written, and is
    # gone with the scratch folder; nothing went to the system's temporary folder.
    assert len(made) == 1 and in_scratch_of(made[0], result.path.parent)
    assert made.held[made[0]] == ["records.parquet", "rejected.parquet"]
    assert not made[0].exists() and not made[0].parent.exists()
    assert sorted(p.name for p in result.path.parent.iterdir()) == [
        "_current.json",
        result.path.name,
    ]
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def _records(read: ReadResult, rejected: bool = False) -> pl.DataFrame:
    """The records (or rejects) of ``read`` from its Arrow stream, which must hold
    what its polars plan holds."""
    stream = read.rejected_batches() if rejected else read.record_batches()
    plan = read.native_plan("polars")
    assert stream is not None and plan is not None
    native = plan.rejected if rejected else plan.records
    assert isinstance(native, pl.LazyFrame)
    arrow = pl.DataFrame(stream.read_all())
    assert arrow.equals(native.collect())
    return arrow


def test_the_reader_scans_files_in_its_folder_until_close(tmp_path: Path, made: Made) -> None:
    source = tmp_path / "messy.csv"
    source.write_bytes(MESSY)
    reader = DelimitedReader(source, {})
    read = reader.read()
    folder = reader.folder
    assert folder is not None and made == [folder]
    assert folder.parent == Path(tempfile.gettempdir())
    assert sorted(p.name for p in folder.iterdir()) == ["records.parquet", "rejected.parquet"]
    assert read.records == 5
    assert list(_records(read).iter_rows()) == MESSY_ROWS
    assert read.rejected is not None
    assert _records(read, rejected=True).select("_source_row", "row").rows() == [
        (3, '["3", "Cy", "extra", "field"]')
    ]
    reader.close()
    assert not folder.exists() and reader.folder is None


def test_a_plain_file_makes_no_folder(tmp_path: Path, made: Made) -> None:
    source = tmp_path / "plain.csv"
    source.write_bytes(b"id,name\n1,Ann\n2,Bob\n")
    reader = DelimitedReader(source, {})
    read = reader.read()
    assert read.details["reader"] == "polars" and read.rejected is None
    assert reader.folder is None and made == []
    reader.close()


def test_cp1252_and_ragged_share_the_one_folder(tmp_path: Path, made: Made) -> None:
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
    # The reader alone used the system's temporary folder, the engine its scratch.
    assert made[0].parent == Path(tempfile.gettempdir())
    assert in_scratch_of(made[1], result.path.parent)
    assert made.held[made[1]] == ["records.parquet", "rejected.parquet", "source.csv"]
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_the_reader_uses_the_scratch_folder_it_is_given(tmp_path: Path, made: Made) -> None:
    """Built by the hook from a spec with a scratch folder: the reader's files
    are made in a folder of its own there, and close() removes that folder but
    not the scratch folder (the engine's); two readers in one scratch folder
    keep apart. Nothing goes to the system's temporary folder."""
    source = tmp_path / "messy.csv"
    source.write_bytes(MESSY)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config = PipelineConfig(tmp_path / "data", entry_points=False)
    spec = SourceSpec(path=source, scratch=scratch)
    first = jobforge_source_reader(spec, config)
    second = jobforge_source_reader(spec, config)
    assert isinstance(first, DelimitedReader) and isinstance(second, DelimitedReader)

    read = first.read()
    again = second.read()
    assert first.folder is not None and second.folder is not None
    assert first.folder != second.folder
    assert made == [first.folder, second.folder]
    assert first.folder.parent == second.folder.parent == scratch
    assert sorted(p.name for p in scratch.iterdir()) == sorted(
        [first.folder.name, second.folder.name]
    )
    for folder in made:
        assert sorted(p.name for p in folder.iterdir()) == ["records.parquet", "rejected.parquet"]
    assert read.details["reader"] == again.details["reader"] == "csv"

    first.close()
    assert not made[0].exists() and first.folder is None
    # The other reader's files are untouched and still read.
    assert list(_records(again).iter_rows()) == MESSY_ROWS
    second.close()
    assert not made[1].exists()
    assert scratch.is_dir() and list(scratch.iterdir()) == []
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_many_records_are_written_in_batches(tmp_path: Path, made: Made) -> None:
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


def test_a_failure_half_way_leaves_nothing(tmp_path: Path, made: Made) -> None:
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
    assert in_scratch_of(made[0], eng.config.staged_path() / "broken")
    assert not made[0].parent.exists()
    assert list(Path(tempfile.gettempdir()).iterdir()) == []
    assert list(eng.config.data_root.rglob("*.parquet")) == []

    # The reader alone removes its folder when read() fails.
    reader = DelimitedReader(source, {})
    with pytest.raises(SourceError):
        reader.read()
    assert reader.folder is None and len(made) == 2 and not made[1].exists()


def test_a_file_the_full_pass_finds_alike_is_read_from_its_records(
    tmp_path: Path, made: Made
) -> None:
    """U+FEFF inside a value: not plain to the fast check, so the csv module's
    pass wrote the records, and they are used, although it found nothing polars
    reads differently (no reason in the details)."""
    source = tmp_path / "feff.csv"
    source.write_text("a,b\n1,x\ufeffy\n2,z\n", encoding="utf-8")
    result = engine(tmp_path).ingest(source, "feff")
    assert result.record is not None
    details = result.record.reader_details
    assert details["reader"] == "csv" and details["polars_differs"] == []
    assert staged_rows(result.path) == [(1, "1", "x\ufeffy"), (2, "2", "z")]
    assert len(made) == 1 and not made[0].exists()
    assert made.held[made[0]] == ["records.parquet"]


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
