"""Concurrency: several real processes on one data root at once.

Each process is ``tests/reliability/engine_run.py`` (the Python API in its own
interpreter). A plugin makes every transition wait inside its table lock, so
runs last long enough to overlap; the overlap, or its absence, is read from
the lineage records' ``started_at``/``completed_at`` (stamped inside the lock).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from itertools import combinations, pairwise
from pathlib import Path

import pytest

from .conftest import REAL_DATA
from .reliability import warehouse
from .reliability.warehouse import check_consistency, lineage_records

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "reliability" / "engine_run.py"
NOC = REAL_DATA / "noc_structure_en.csv"
SOURCES = {
    "noc_structure": (REAL_DATA / "noc_structure_en.csv", 822),
    "employment": (REAL_DATA / "employment_emploi_2024_2033_noc2021.csv", 533),
    "noc_onet": (REAL_DATA / "noc2021_onet26.csv", 1467),
    "abilities": (REAL_DATA / "abilities_oasis_2023_v1.0.csv", 900),
}
"""Row counts from Python's csv module (records after the header)."""


@pytest.fixture(params=warehouse.STORES)
def storage(request: pytest.FixtureRequest) -> str:
    """Every test runs against each table store: the processes' ``[storage] format``."""
    return str(request.param)


def _start(tmp_path: Path, storage: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--format", storage],
        cwd=tmp_path,
        env=warehouse.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 180) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _start_together(
    tmp_path: Path, storage: str, runs: list[list[str]]
) -> list[subprocess.Popen[str]]:
    """Start every process, wait until each finished its imports, then let them go."""
    go = tmp_path / "go"
    processes = []
    for index, args in enumerate(runs):
        ready = tmp_path / f"ready-{index}"
        processes.append(_start(tmp_path, storage, *args, "--ready", str(ready), "--go", str(go)))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(len(runs))):
        assert time.monotonic() < deadline, "the processes did not start"
        assert all(p.poll() is None for p in processes), "a process died while starting"
        time.sleep(0.02)
    go.touch()
    return processes


def _interval(record) -> tuple[float, float]:
    return record.started_at.timestamp(), record.completed_at.timestamp()


def test_runs_on_different_tables_proceed_in_parallel(storage: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    runs = [
        ["pipeline", str(root), table, str(source), "--sleep", "1.5", "--to", "staged"]
        for table, (source, _rows) in SOURCES.items()
    ]
    summaries = [_finish(p) for p in _start_together(tmp_path, storage, runs)]
    assert len({s["pid"] for s in summaries}) == 4
    records = [r for r in lineage_records(root) if r.record_type == "ingestion"]
    assert sorted((r.table_name, r.row_count_out) for r in records) == sorted(
        (table, rows) for table, (_source, rows) in SOURCES.items()
    )
    # each ingestion held its table's lock for >= 1.5 s, and all four at the same time
    intervals = [_interval(r) for r in records]
    assert all(end - start >= 1.5 for start, end in intervals)
    assert max(start for start, _ in intervals) < min(end for _, end in intervals)
    check_consistency(root, recovered=True, cwd=tmp_path)


@pytest.mark.parametrize(
    "how",
    [
        # run_full_pipeline: a waiting process gets the table between two steps of a
        # run only if the run's lock is missing AND it wins the race for the lock in
        # the microseconds between them (likely over the 16 gaps, not certain)
        [],
        # the steps one by one under engine.lock with 0.3 s between them: a missing
        # run lock lets the waiting processes in every time
        ["--gap", "0.3"],
    ],
    ids=["run_full_pipeline", "engine_lock"],
)
def test_runs_on_one_table_are_serialised_and_consistent(
    storage: str, tmp_path: Path, how: list[str]
) -> None:
    """Four processes each run the pipeline of one table twice (ingest with
    --force, bronze, silver), all at once."""
    root = tmp_path / "data"
    runs = [
        ["pipeline", str(root), "noc", str(NOC), "--sleep", "0.2", "--force", "--times", "2", *how]
        for _ in range(4)
    ]
    summaries = [_finish(p) for p in _start_together(tmp_path, storage, runs)]
    batches = {b for s in summaries for b in s["batches"]}
    assert len(batches) == 8  # --force: each run ingested its own batch

    records = [r for r in lineage_records(root) if r.table_name == "noc"]
    kinds = sorted(r.target_layer for r in records)
    assert kinds == ["bronze"] * 8 + ["silver"] * 8 + ["staged"] * 8
    assert all(r.status == "success" for r in records)
    # no two transitions on the table ever held its lock at the same time, and a
    # run's three steps were not interleaved with another run's
    for first, second in combinations(sorted(_interval(r) for r in records), 2):
        assert first[1] <= second[0], (first, second)
    runs = sorted(
        (min(_interval(r)[0] for r in mine), max(_interval(r)[1] for r in mine))
        for mine in ([r for r in records if r.batch_id == b] for b in batches)
    )
    for first, second in pairwise(runs):
        assert first[1] <= second[0], (first, second)
    # ledgers balance (the models refuse an unbalanced one) and count every row
    assert all(r.row_count_in == r.row_count_out == 822 for r in records)
    staged = warehouse.pointer(root, "staged", "noc")
    assert staged is not None and staged.version == 8
    assert {b.batch_id for b in staged.batches} == batches and staged.row_count == 8 * 822
    for layer in ("bronze", "silver"):
        current = warehouse.pointer(root, layer, "noc")
        assert current is not None and current.version == 8 and current.row_count == 822
        # the current version is the one whose transition finished last
        last = max((r for r in records if r.target_layer == layer), key=lambda r: r.started_at)
        assert current.record_id == last.transition_id
    check_consistency(root, recovered=True, cwd=tmp_path)


def _holding(
    tmp_path: Path, storage: str, root: Path, table: str, seconds: float
) -> subprocess.Popen[str]:
    """A process that takes ``table``'s lock and keeps it for ``seconds``."""
    process = _start(
        tmp_path,
        storage,
        "pipeline",
        str(root),
        table,
        str(NOC),
        "--sleep",
        str(seconds),
        "--to",
        "staged",
    )
    holder = root / ".locks" / f"{table}.holder"
    journal = root / ".locks" / f"{table}.journal"  # written once its transition began
    deadline = time.monotonic() + 60
    while not (
        holder.exists() and f"pid {process.pid} " in holder.read_text() and journal.exists()
    ):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)
    return process


def test_lock_timeout_names_the_holder(storage: str, tmp_path: Path) -> None:
    project = warehouse.make_project(tmp_path, storage)
    toml = project / "jobforge.toml"
    toml.write_text(
        toml.read_text().replace('mode = "replace"', 'mode = "replace"\nlock_timeout_s = 0.5')
    )
    root = project / "data"
    holder = _holding(tmp_path, storage, root, "noc_structure", 8)
    started = time.monotonic()
    done = subprocess.run(
        warehouse.jobforge_command("run", "-q", "--table", "noc_structure"),
        cwd=project,
        env=warehouse.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    waited = time.monotonic() - started
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: table 'noc_structure' is locked by ")
    assert f"pid {holder.pid} on " in line and "gave up after 0.5 s" in line
    assert "Traceback" not in done.stderr
    assert waited < 7  # it gave up, it did not wait for the holder


def test_a_killed_holder_does_not_block_the_next_run(storage: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    holder = _holding(tmp_path, storage, root, "noc", 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    journal = warehouse.journals(root)["noc"]  # it died inside its transition
    assert journal.phase == "running"

    started = time.monotonic()
    summary = _finish(
        _start(tmp_path, storage, "pipeline", str(root), "noc", str(NOC), "--lock-timeout", "10")
    )
    assert time.monotonic() - started < 10
    records = {r.ingestion_id: r for r in lineage_records(root) if r.record_type == "ingestion"}
    # the killed run's ingestion is recorded as failed, by the run that took the lock next
    killed = records[journal.record_id]
    assert killed.status == "failed" and killed.errors[0].startswith("interrupted:")
    assert [r.status for r in records.values() if r.batch_id == summary["batch_id"]] == ["success"]
    check_consistency(root, recovered=True, cwd=tmp_path)


def test_gold_reads_a_consistent_silver_while_silver_is_published(
    storage: str, tmp_path: Path
) -> None:
    """One process publishes silver ``noc`` 12 times (all 822 rows, then the 306
    that are not unit groups, alternately); three others build gold tables from it
    meanwhile. Every gold build read one whole version: the rows its input
    pointer announced are the rows it got."""
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.pipeline.config import PipelineConfig

    root = tmp_path / "data"
    engine = PipelineEngine(PipelineConfig(root, entry_points=False, storage_format=storage))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    runs = [["silver-loop", str(root), "noc", "--times", "12", "--sleep", "0.2"]] + [
        ["gold-loop", str(root), f"copy_{i}", "noc", "--times", "12", "--sleep", "0.1"]
        for i in range(3)
    ]
    summaries = [_finish(p) for p in _start_together(tmp_path, storage, runs)]
    writer, readers = summaries[0], summaries[1:]
    assert writer["rows_out"] == [306, 822] * 6
    seen = [(rows_in, rows_out) for r in readers for rows_in, rows_out, _ in r["gold"]]
    assert len(seen) == 36
    assert all(rows_in == rows_out and rows_in in (306, 822) for rows_in, rows_out in seen)
    # the readers ran while the writer published (both versions were read)
    assert {rows for rows, _ in seen} == {306, 822}
    check_consistency(root, recovered=True, cwd=tmp_path)


def test_concurrent_project_runs_on_the_same_tables_all_succeed(
    storage: str, tmp_path: Path
) -> None:
    """Four ``jobforge run --full-refresh`` of the demo project at once: each
    ingests its own batch of every source, and each table's ingestion and
    promotions run as one, so no run promotes a batch another run replaced."""
    project = warehouse.make_project(tmp_path, storage)
    processes = [
        subprocess.Popen(
            warehouse.jobforge_command("run", "-q", "--full-refresh"),
            cwd=project,
            env=warehouse.subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    root = project / "data"
    check_consistency(root, recovered=True, cwd=project)
    for table, rows in (("noc_structure", 822), ("employment", 533)):
        staged = warehouse.pointer(root, "staged", table)
        assert (staged.version, len(staged.batches), staged.row_count) == (4, 4, 4 * rows)
        assert warehouse.pointer(root, "bronze", table).version == 4
        assert warehouse.pointer(root, "silver", table).version == 4
    gold = {t: warehouse.pointer(root, "gold", t) for t in warehouse.GOLD_TABLES}
    assert {t: (v.version, v.row_count) for t, v in gold.items()} == {
        "dim_noc": (4, 516),
        "fact_employment_projection": (4, 5335),
        "occupation_outlook": (4, 485),
    }
