"""A source path is a name, never a pattern (issue 13, item 1).

polars' scans glob by default (``a[1].csv`` reads ``a1.csv``, ``b*.csv`` merges
files, ``c?.csv`` reads ``cz.csv``), polars and fastexcel expand a leading
``~``, and pyarrow parses a path that does not exist yet as a URI. Every path
jobforge hands them goes through ``jobforge.storage.literal``. Each case below
puts decoy files beside the named one that a glob of its name would match,
and checks that staged holds the named file's rows (values and ``_source_row``
as Python's ``csv`` module reads that exact file) and that the lineage record
pairs them with that file's sha256.
"""

from __future__ import annotations

import csv
import fnmatch
import string
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, Rule, SilverSpec
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.sources.base import sha256_of
from tests.cli_helpers import jobforge
from tests.engine_support import current_frame, lineage_records


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The reference: ``(_source_row, fields)`` as the csv module reads the file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = [r for r in csv.reader(handle, strict=True) if r]
    return list(enumerate(records[1:], start=1))


def _staged(engine: PipelineEngine, table: str) -> list[tuple[int, list[str]]]:
    frame = current_frame(engine, Layer.STAGED, table).sort("_source_row")
    data = [c for c in frame.columns if not c.startswith("_")]
    return [(r[0], list(r[1:])) for r in frame.select("_source_row", *data).rows()]


def _engine(root: Path) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(root, entry_points=False))


def _assert_named_file_staged(engine: PipelineEngine, table: str, path: Path) -> None:
    assert _staged(engine, table) == _csv_rows(path)
    record = lineage_records(engine, table)[-1]
    assert record["source_sha256"] == sha256_of(path)
    assert record["row_count_out"] == len(_csv_rows(path))


@pytest.mark.parametrize(
    ("name", "decoys"),
    [
        ("a[1].csv", ["a1.csv"]),
        ("b*.csv", ["b1.csv", "b2.csv", "b.csv"]),
        ("c?.csv", ["cz.csv", "c1.csv"]),
        ("d{x,y}.csv", ["dx.csv", "dy.csv"]),
        ("e[!a].csv", ["eb.csv"]),
    ],
)
def test_a_csv_name_with_glob_characters_reads_that_file(
    tmp_path: Path, name: str, decoys: list[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    named = _write(folder / name, [["id", "v"], ["1", f"from {name}"]])
    for index, decoy in enumerate(decoys):
        _write(folder / decoy, [["id", "v"], [str(10 + index), f"decoy {decoy}"]])
    engine = _engine(tmp_path / "data")
    result = engine.ingest(named, "t")
    assert result.rows == 1
    assert _staged(engine, "t") == [(1, ["1", f"from {name}"])]
    _assert_named_file_staged(engine, "t", named)


def test_a_csv_read_by_the_csv_module_is_the_named_file_too(tmp_path: Path) -> None:
    """A file that is not plain (a quoted line break, a ragged record) goes to the
    csv module's reader, whose parquet files are scanned from the scratch folder."""
    named = tmp_path / "m[1]*.csv"
    named.write_text('id,v\n1,"two\nlines"\n2,x,extra\n3,ok\n', encoding="utf-8")
    _write(tmp_path / "m1x.csv", [["id", "v"], ["9", "decoy"]])
    engine = _engine(tmp_path / "data")
    result = engine.ingest(named, "t")
    assert result.record is not None and result.record.reader_details["reader"] == "csv"
    assert _staged(engine, "t") == [(1, ["1", "two\nlines"]), (3, ["3", "ok"])]
    assert result.rows_quarantined == 1


def test_a_parquet_name_with_glob_characters_reads_that_file(tmp_path: Path) -> None:
    pl.DataFrame({"id": [1, 2], "v": ["p[1] a", "p[1] b"]}).write_parquet(tmp_path / "p[1].parquet")
    pl.DataFrame({"id": [7], "v": ["decoy"]}).write_parquet(tmp_path / "p1.parquet")
    engine = _engine(tmp_path / "data")
    engine.ingest(tmp_path / "p[1].parquet", "p")
    frame = current_frame(engine, Layer.STAGED, "p").sort("_source_row")
    assert frame.select("_source_row", "id", "v").rows() == [(1, 1, "p[1] a"), (2, 2, "p[1] b")]
    assert lineage_records(engine, "p")[-1]["source_sha256"] == sha256_of(tmp_path / "p[1].parquet")


def test_json_ndjson_and_xlsx_names_with_glob_characters(tmp_path: Path) -> None:
    import xlsxwriter

    (tmp_path / "j[1].json").write_text('[{"v": "named"}]', encoding="utf-8")
    (tmp_path / "j1.json").write_text('[{"v": "decoy"}]', encoding="utf-8")
    (tmp_path / "n*.ndjson").write_text('{"v": "named"}\n', encoding="utf-8")
    (tmp_path / "n1.ndjson").write_text('{"v": "decoy"}\n', encoding="utf-8")
    for name, value in (("x[1].xlsx", "named"), ("x1.xlsx", "decoy")):
        book = xlsxwriter.Workbook(str(tmp_path / name))
        sheet = book.add_worksheet("S")
        sheet.write_row(0, 0, ["v"])
        sheet.write_row(1, 0, [value])
        book.close()
    engine = _engine(tmp_path / "data")
    for name, table in (("j[1].json", "j"), ("n*.ndjson", "n"), ("x[1].xlsx", "x")):
        engine.ingest(tmp_path / name, table)
        assert _staged(engine, table) == [(1, ["named"])], name


def test_a_relative_path_starting_with_a_tilde_is_not_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~/x.csv`` given relative to the current folder is the file in the folder
    named ``~``, not in $HOME (polars and fastexcel would expand it)."""
    home = tmp_path / "home"
    home.mkdir()
    _write(home / "x.csv", [["v"], ["home decoy"]])
    pl.DataFrame({"v": ["home decoy"]}).write_parquet(home / "x.parquet")
    work = tmp_path / "work"
    (work / "~").mkdir(parents=True)
    _write(work / "~" / "x.csv", [["v"], ["named"]])
    pl.DataFrame({"v": ["named"]}).write_parquet(work / "~" / "x.parquet")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    engine = _engine(Path("~data"))
    engine.ingest(Path("~/x.csv"), "c")
    engine.ingest(Path("~/x.parquet"), "p")
    assert _staged(engine, "c") == [(1, ["named"])]
    assert current_frame(engine, Layer.STAGED, "p")["v"].to_list() == ["named"]
    assert (work / "~data" / "staged").is_dir()
    assert sorted(p.name for p in home.iterdir()) == ["x.csv", "x.parquet"]


def test_a_data_root_whose_path_has_glob_characters_runs_every_layer(tmp_path: Path) -> None:
    """Staged, the catalog's profile, bronze (casts, quarantine), silver (rules,
    de-duplication by row hash) all read and write under ``x[1]*?``; decoy
    folders that a glob of it would match are left untouched."""
    root = tmp_path / "x[1]*?" / "data"
    decoy = tmp_path / "x1ab" / "data"
    decoy.mkdir(parents=True)
    source = _write(
        tmp_path / "jobs.csv",
        [["id", "wage"], ["1", "10"], ["2", "x"], ["3", "-5"], ["1", "10"], ["4", "40"]],
    )
    messy = tmp_path / "messy.csv"
    messy.write_text('id,wage\n5,"5\n0"\n6,60\n', encoding="utf-8")
    engine = _engine(root)
    engine.ingest(source, "jobs")
    engine.ingest(messy, "messy")
    bronze = engine.promote_to_bronze("jobs", BronzeSchema(cast={"wage": "int"}))
    ledger = bronze.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (5, 4, 1)
    silver = engine.promote_to_silver(
        "jobs", SilverSpec(dedupe="row", rules=[Rule(id="pos", expression="wage >= 0")])
    )
    ledger = silver.record.ledger
    assert (ledger.rows_in, ledger.rows_out) == (4, 2)
    assert (ledger.rows_quarantined, ledger.rows_deduplicated) == (1, 1)
    rows = current_frame(engine, Layer.SILVER, "jobs").sort("_source_row")
    assert rows.select("id", "wage", "_source_row").rows() == [("1", 10, 1), ("4", 40, 5)]
    assert _staged(engine, "messy") == [(1, ["5", "5\n0"]), (2, ["6", "60"])]
    assert list(decoy.iterdir()) == []
    assert not list(root.rglob(".jobforge-tmp-*"))


def test_the_command_reads_a_name_with_glob_characters_and_a_leading_dash(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "-a[1].csv", [["v"], ["named"]])
    _write(tmp_path / "-a1.csv", [["v"], ["decoy"]])
    done = jobforge("ingest", "--table", "t", "--", "-a[1].csv", cwd=tmp_path)
    assert done.code == 0, done.err
    query = jobforge(
        "query", "SELECT v, _source_row FROM staged.t", "--format", "csv", cwd=tmp_path
    )
    assert query.code == 0, query.err
    assert query.out.splitlines() == ["v,_source_row", "named,1"]


# -- the fuzz test ---------------------------------------------------------------------------

_HOSTILE = "[]*?{}!\\ -,^$.%#:'\"~"
_NAME_CHARS = st.sampled_from(list(_HOSTILE) + list("ab1")) | st.characters(
    blacklist_categories=("Cs",), blacklist_characters="/\x00"
)
_VALUES = st.text(
    alphabet=st.sampled_from([*string.ascii_letters, *" ,\"'\n\r\t", "é", "日", "\u2028"]),
    max_size=8,
)


def _decoys(name: str) -> list[str]:
    """File names a glob of ``name`` would match (by fnmatch's rules, and with a
    ``{x,y}`` alternative taken): each metacharacter replaced by text it matches."""
    out: set[str] = set()
    for star, mark in (("", "q"), ("zz", "Q"), ("a", "1")):
        text, i = "", 0
        while i < len(name):
            char = name[i]
            if char == "*":
                text += star
            elif char == "?":
                text += mark
            elif char == "[":
                end = name.find("]", i + 2)
                if end == -1:
                    text += char
                else:
                    inside = name[i + 1 : end]
                    if inside[:1] in ("!", "^"):
                        text += "~" if "~" not in inside else "\u00e6"
                    else:
                        text += inside[0]
                    i = end
            elif char == "{" and "}" in name[i:]:
                end = name.index("}", i)
                text += name[i + 1 : end].split(",")[0]
                i = end
            else:
                text += char
            i += 1
        out.add(text)
    out.add("".join(c for c in name if c not in "[]*?{}!"))
    matching = {d for d in out if fnmatch.fnmatchcase(d, name) or "{" in name}
    return sorted(d for d in matching if d != name and d not in (".", ".."))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stem=st.text(_NAME_CHARS, min_size=1, max_size=12).filter(
        lambda s: len((s + ".csv").encode("utf-8", "surrogatepass")) < 200
    ),
    rows=st.lists(st.lists(_VALUES, min_size=2, max_size=2), min_size=1, max_size=4),
)
def test_fuzz_staged_rows_are_always_those_of_the_named_file(
    tmp_path_factory: pytest.TempPathFactory, stem: str, rows: list[list[str]]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    sources = folder / "in"
    sources.mkdir()
    name = stem + ".csv"
    named = _write(sources / name, [["k", "v"], *rows])
    decoys = [d for d in _decoys(name) if not (sources / d).exists()]
    for index, decoy in enumerate(decoys):
        _write(sources / decoy, [["k", "v"], [f"decoy{index}", decoy]])
    engine = _engine(folder / "data")
    engine.ingest(named, "t")
    _assert_named_file_staged(engine, "t", named)
    staged_values = {v for _, fields in _staged(engine, "t") for v in fields}
    assert not {f"decoy{i}" for i in range(len(decoys))} & staged_values


def test_no_code_calls_the_globbing_functions_directly() -> None:
    """Every polars scan, pyarrow footer read or writer in jobforge and its bundled
    plugins goes through ``jobforge.storage.literal`` (``literal.sink_parquet``, or
    a sink passed ``literal.text``; a pyarrow call may instead name the local file
    system itself)."""
    import re

    repo = Path(__file__).resolve().parent.parent
    direct = re.compile(
        r"\bpl\.(scan_parquet|scan_csv|scan_ndjson|read_parquet|read_csv|read_excel|"
        r"read_parquet_schema)\(|\bpq\.(read_metadata|read_schema|read_table|ParquetFile|"
        r"ParquetWriter)\(|"
        r"fastexcel\.read_excel\((?!literal\.text)|(?<!\bliteral)\.sink_parquet\((?!literal\.text|\s*$)"
    )
    found = []
    for folder in ("src/jobforge", "plugins"):
        for path in sorted((repo / folder).rglob("*.py")):
            if path.name == "literal.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                # pyarrow given the local file system (or a file object) takes it literally
                literal_arrow = "filesystem=" in line or "BytesIO()" in line
                if direct.search(line) and not literal_arrow:
                    found.append(f"{path.relative_to(repo)}:{number}: {line.strip()}")
    assert found == []
