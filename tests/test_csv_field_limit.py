"""A CSV read's ``max_field_chars`` is its own: Python's ``csv`` module keeps one
field limit for the whole process, and a read that set it and left it there
refused the fields of another read with a higher limit (two tables run at once)
and of every later ``csv`` user in the process (the catalog site's quarantine
view read a real project's rows with a limit of 100).
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from jobforge_readers.dialect import Dialect

from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import SourceError
from jobforge.pipeline.config import PipelineConfig

COMMA = Dialect(",", '"')


def test_two_reads_at_once_each_keep_their_own_limit() -> None:
    before = csv.field_size_limit()
    small = COMMA.reader(iter(["a,b\n", "x" * 10 + ",y\n", "x" * 11 + ",y\n"]), 10)
    large = COMMA.reader(iter(["a,b\n", "x" * 500 + ",y\n", "x" * 1001 + ",y\n"]), 1000)
    assert next(small) == ["a", "b"]  # the small read has begun: its limit is in force
    assert next(large) == ["a", "b"]
    assert next(large) == ["x" * 500, "y"]  # 500 > 10: still read, its limit is 1000
    assert next(small) == ["x" * 10, "y"]  # at its limit: read
    with pytest.raises(csv.Error, match=r"^field larger than field limit \(10\)$"):
        next(small)  # one over its own limit, while the large read goes on
    with pytest.raises(csv.Error, match=r"^field larger than field limit \(1000\)$"):
        next(large)
    assert csv.field_size_limit() == before  # both ended: the process's limit is back


def test_reads_on_two_threads_do_not_refuse_each_others_fields() -> None:
    wide = ["a\n"] + ["x" * 5000 + "\n"] * 2000
    narrow = ["a\n"] + ["x" * 5 + "\n"] * 2000 + ["x" * 6 + "\n"]
    outcome: dict[str, object] = {}
    start = threading.Barrier(2)

    def read(name: str, lines: list[str], limit: int) -> None:
        start.wait()
        try:
            outcome[name] = sum(1 for _ in COMMA.reader(iter(lines), limit))
        except csv.Error as exc:
            outcome[name] = str(exc)

    threads = [
        threading.Thread(target=read, args=("wide", wide, 10_000)),
        threading.Thread(target=read, args=("narrow", narrow, 5)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome == {"wide": 2001, "narrow": "field larger than field limit (5)"}


def test_a_read_with_a_low_limit_leaves_the_process_limit_as_it_was(tmp_path: Path) -> None:
    engine = PipelineEngine(PipelineConfig(data_root=tmp_path / "data"))
    long = tmp_path / "long.csv"
    # a line break in a quoted field: read by the csv module, not polars
    long.write_text('id,text\n1,"' + "x" * 99 + '\n"\n')
    before = csv.field_size_limit()
    with pytest.raises(SourceError, match="max_field_chars = 99"):
        engine.ingest(long, "t", options={"max_field_chars": 99})
    assert csv.field_size_limit() == before
    result = engine.ingest(long, "t", options={"max_field_chars": 100})
    assert result.rows == 1
    assert csv.field_size_limit() == before
    # and a csv reader after it reads a field longer than 100 characters
    assert list(csv.reader(["y" * 1000 + "\n"])) == [["y" * 1000]]


def test_a_header_is_read_under_the_reads_field_limit(tmp_path: Path) -> None:
    from jobforge_readers.header import delimited_header

    path = tmp_path / "wide_name.csv"
    name = "n" * 200_000  # above the csv module's default limit (128 KiB)
    path.write_text(f"{name},b\n1,2\n")
    before = csv.field_size_limit()
    assert before < 200_000
    assert delimited_header(path, "utf-8", ",", '"') == [name, "b"]
    with pytest.raises(
        SourceError, match=r"the header cannot be read \(field larger than field limit \(10\)\)"
    ):
        delimited_header(path, "utf-8", ",", '"', field_limit=10)
    assert csv.field_size_limit() == before
