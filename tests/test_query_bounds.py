"""Issue 13, item 3: the query engine has a time limit (DuckDB's interrupt), a
memory limit, and streams results in batches so that output size never sets
memory; the table format shows a capped number of rows and says how many it
left out."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import ConfigError, QueryError
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine
from jobforge.query.limits import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S
from jobforge.testing.usage import MeasuredProcess

from .cli_helpers import JOBFORGE, jobforge
from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
# 822 ** 4 = 4.6e11 rows: hours of work, however fast the machine
CROSS_JOIN = (
    "SELECT count(*) FROM staged.noc a, staged.noc b, staged.noc c, staged.noc d "
    "WHERE a._source_row + b._source_row + c._source_row + d._source_row > 0"
)
TIMEOUT_LINE = (
    "error: query stopped: it ran longer than its time limit of 1 s "
    "(--timeout SECONDS, or QueryEngine(timeout=...); 0 for no limit)"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with noc_structure_en.csv (822 records) through silver as ``noc``."""
    root = tmp_path_factory.mktemp("bounds") / "data"
    PipelineEngine(PipelineConfig(root, entry_points=False)).run_full_pipeline(
        NOC, "noc", dedupe="none"
    )
    return root


@pytest.fixture
def engine(root: Path) -> Iterator[QueryEngine]:
    with QueryEngine(PipelineConfig(root, entry_points=False), timeout=1) as engine:
        yield engine


# -- time ------------------------------------------------------------------------------
def test_the_defaults_are_the_documented_ones(root: Path) -> None:
    assert (DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_LIMIT) == (60.0, "2GB")
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert engine.timeout == 60.0
        # DuckDB shows 2GB (10^9 bytes) as 1.8 GiB
        assert engine.query("SELECT current_setting('memory_limit')").item() == "1.8 GiB"


def test_a_self_cross_join_is_stopped_by_the_time_limit(engine: QueryEngine) -> None:
    with pytest.raises(QueryError) as caught:
        engine.query(CROSS_JOIN)
    assert str(caught.value) == TIMEOUT_LINE.removeprefix("error: ")
    # the connection is usable again, and the stopped query's timer is gone
    assert engine.query("SELECT count(*) FROM staged.noc").item() == 822


def test_the_time_limit_covers_reading_a_stream(engine: QueryEngine) -> None:
    """The limit runs until the last batch is read: a reader that takes too
    long between batches is stopped too."""
    with engine.stream("SELECT range FROM range(10000000)", batch_rows=1000) as result:
        read = 0
        with pytest.raises(QueryError, match="ran longer than its time limit of 1 s"):
            for batch in result:
                read += batch.num_rows
                time.sleep(0.05)
    assert 0 < read < 10_000_000
    assert engine.query("SELECT 42").item() == 42


def test_a_finished_query_is_never_interrupted_later(engine: QueryEngine) -> None:
    """The timer of a statement that finished cannot stop the next one: here
    the next one has no limit and runs past the moment the first one's timer
    would have fired."""
    assert engine.query("SELECT count(*) FROM silver.noc").item() == 822
    engine.timeout = None
    with engine.stream("SELECT range FROM range(4000)", batch_rows=100) as result:
        read = 0
        for batch in result:
            read += batch.num_rows
            time.sleep(0.05)  # 40 batches: 2 s, past the first statement's 1 s
    assert read == 4000


def test_no_time_limit_and_bad_values(root: Path) -> None:
    config = PipelineConfig(root, entry_points=False)
    for value in (None, 0):
        with QueryEngine(config, timeout=value) as engine:
            assert engine.timeout is None
            assert engine.query("SELECT count(*) FROM bronze.noc").item() == 822
    for bad in (-1, float("nan")):
        with pytest.raises(QueryError, match="invalid timeout"):
            QueryEngine(config, timeout=bad)
    with pytest.raises(ConfigError, match=r"memory_limit='lots'.*Memory must have a number"):
        QueryEngine(config, memory_limit="lots")


def test_the_command_line_stops_a_cross_join_with_one_line(root: Path) -> None:
    done = jobforge("--data-root", str(root), "query", CROSS_JOIN, "--timeout", "1", cwd=root)
    assert done.code == 1
    assert done.err.splitlines() == [TIMEOUT_LINE]
    assert done.out == ""


# -- memory ------------------------------------------------------------------------------
def test_the_memory_limit_stops_a_query_that_needs_more(root: Path) -> None:
    done = jobforge(
        "--data-root",
        str(root),
        "query",
        "SELECT list(range) AS everything FROM range(50000000)",
        "--memory-limit",
        "64MB",
        cwd=root,
    )
    assert done.code == 1
    (line,) = done.err.splitlines()
    assert line.startswith("error: Out of Memory Error: ")
    assert "61.0 MiB" in line  # 64MB as DuckDB counts it


def _expected_csv(rows: int) -> tuple[int, int]:
    """Lines and bytes of ``range\\n0\\n1\\n...`` up to ``rows - 1``."""
    size = len("range\n")
    low = 0
    digits = 1
    while low < rows:
        high = min(rows, 10**digits)
        size += (high - low) * (digits + 1)
        low, digits = high, digits + 1
    return rows + 1, size


def _export_peak_mib(root: Path, rows: int) -> float:
    """Run ``SELECT range FROM range(rows) --format csv`` in a child process, read
    and check its output line by line count and byte for byte size, and return
    the child's peak RSS in MiB (measured by a fresh launcher, so that this test
    session's own memory does not count in: see :mod:`jobforge.testing.usage`)."""
    command = [
        JOBFORGE,
        "--data-root",
        str(root),
        "query",
        f"SELECT range FROM range({rows})",
        "--format",
        "csv",
        "--timeout",
        "0",
    ]
    env = {**os.environ, "JOBFORGE_DISABLE_PLUGINS": "example"}
    process = MeasuredProcess(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    lines = size = 0
    first = last = b""
    while chunk := process.stdout.read(1 << 20):
        if not first:
            first = chunk[:20]
        lines += chunk.count(b"\n")
        size += len(chunk)
        last = (last + chunk)[-20:]
    usage = process.wait()
    assert usage.returncode == 0, process.stderr.read()
    assert (lines, size) == _expected_csv(rows)
    assert first.startswith(b"range\n0\n1\n2\n")
    assert last.endswith(f"\n{rows - 2}\n{rows - 1}\n".encode())
    return usage.peak_mib


def test_a_1e8_row_csv_export_streams_in_bounded_memory(root: Path) -> None:
    """``SELECT range FROM range(100000000) --format csv`` peaked at 2.7 GB before
    results were streamed. Its peak now does not grow with the output: ten times
    the rows (889 MB of CSV) cost at most a few MiB more than a tenth of them,
    in the same conditions (about 200 MiB each on a quiet machine; more on a
    loaded one, but the two alike), and always far below the output's size."""
    small = _export_peak_mib(root, 10_000_000)
    large = _export_peak_mib(root, 100_000_000)
    assert large < small * 1.25 + 32, f"peak RSS {small:.0f} MiB for 1e7 rows, {large:.0f} for 1e8"
    assert large < 640, f"peak RSS {large:.0f} MiB for 889 MB of output"


def test_stream_yields_bounded_batches_and_query_a_frame(engine: QueryEngine) -> None:
    with engine.stream("SELECT range AS n FROM range(250000)", batch_rows=100_000) as result:
        assert result.schema == pa.schema([pa.field("n", pa.int64())])
        sizes = [b.num_rows for b in result]
    assert max(sizes) <= 100_000 and sum(sizes) == 250_000 and result.rows == 250_000
    frame = engine.query("SELECT range AS n FROM range(250000)")
    assert frame.height == 250_000 and frame["n"].sum() == 249_999 * 250_000 // 2


# -- the table format's cap -----------------------------------------------------------------
def test_the_table_format_shows_at_most_max_rows_and_counts_the_rest(root: Path) -> None:
    done = jobforge(
        "--data-root", str(root), "query", "SELECT range AS n FROM range(2500)", cwd=root
    )
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0] == "n" and lines[1:] == [str(i) for i in range(1000)]  # default cap
    assert done.err.splitlines() == [
        "note: 1000 of 2500 rows shown, 1500 not shown "
        "(--max-rows N to show more, --format csv or --output FILE for all)"
    ]
    capped = jobforge(
        "--data-root",
        str(root),
        "query",
        'SELECT "Code - NOC 2021 V1.0" AS code FROM silver.noc ORDER BY _source_row',
        "--max-rows",
        "3",
        cwd=root,
    )
    # the first three records of noc_structure_en.csv
    assert capped.out.splitlines() == ["code", "0", "00", "000"]
    assert "note: 3 of 822 rows shown, 819 not shown" in capped.err
    everything = jobforge(
        "--data-root", str(root), "query", "SELECT range FROM range(10)", cwd=root
    )
    assert everything.out.splitlines()[1:] == [str(i) for i in range(10)]
    assert everything.err == ""


def test_a_closed_reader_of_standard_output_stops_quietly(root: Path) -> None:
    """``jobforge query ... | head``: no traceback when head stops reading."""
    done = subprocess.run(
        f"'{JOBFORGE}' --data-root '{root}' query 'SELECT range FROM range(50000000)' "
        "--format csv | head -3",
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, "JOBFORGE_DISABLE_PLUGINS": "example"},
        timeout=120,
        check=False,
    )
    assert done.stdout.splitlines() == ["range", "0", "1"]
    assert done.stderr == ""
