"""Crash safety: the demo pipeline run as a real process and killed with SIGKILL,
with each table store (``lab`` is parametrized: parquet files and pointers, Delta
tables).

Two ways of choosing the moment:

- by time: the uninterrupted run is timed first, then runs are killed at evenly
  spaced fractions of that duration (52 moments, half from an empty data root,
  half on top of a complete previous run, so that a previous version exists: that
  run's project declares other descriptions, so every promotion publishes again,
  since a run in which nothing changed publishes nothing);
- by step: ``tests/reliability/kill_at_rename.py`` kills the process just before
  its N-th ``os.replace``; every publication step ends in one, so evenly spaced
  N visit the states between steps (files renamed but pointer not switched,
  pointer switched but no lineage record, ...).

After every kill the data root is checked (tests/reliability/warehouse.py):
every parquet file reads in full, every JSON file validates, every pointer
lists complete files whose rows are the rows of an uninterrupted run (the
previous version or the new one), every data file is listed, recorded or
journaled. Then the pipeline is run again to completion: nothing is left
(no journal, no temporary file anywhere under the data root), every version has its
lineage record and catalog entry, and the gold tables equal the uninterrupted
run's, row for row (run timestamps and batch ids aside).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobforge.storage.atomic import (
    atomic_write_text,
    remove_stale_temporaries_of,
    temporary_path_for,
)
from jobforge.storage.versions import new_batch_file_name

from .reliability import warehouse
from .reliability.warehouse import GOLD_TABLES, check_consistency, snapshot

KILL_SCRIPT = Path(__file__).parent / "reliability" / "kill_at_rename.py"
TIMED_KILLS = 26
"""Per scenario (empty data root, previous run present): 52 moments in all."""
STEP_KILLS = 12
"""Rename points per scenario, evenly spaced over all of the run's renames."""
COMMIT_KILLS = 4
"""Delta store: points just after a Delta commit per scenario, evenly spaced over them."""
WORKERS = 2


@dataclass
class Lab:
    project: Path
    changed: Path
    """The project with every table's description changed: a run of it on top of
    a run of :attr:`project` publishes every promotion again (nothing is re-ingested)."""
    base: Path
    reference: dict[tuple[str, str], list[str]]
    """Rows of every table of an uninterrupted run."""
    previous: Path
    """A trial folder holding one complete run: the state "previous version"."""
    seconds: dict[str, float]
    renames: dict[str, int]
    """Kill points of a run: every ``os.replace``, and every Delta commit."""
    commits: dict[str, list[int]]
    """The kill points just after a Delta commit (none with the parquet store)."""


def _command(*args: str) -> list[str]:
    return [*args, "run", "-q"]


def _jobforge_args(lab: Lab, scenario: str) -> list[str]:
    project = lab.changed if scenario == "rerun" else lab.project
    return ["--project", str(project / "jobforge.toml"), "--data-root", "data"]


def _changed_project(base: Path, project: Path) -> Path:
    changed = base / "project-changed"
    shutil.copytree(project, changed)
    toml = changed / "jobforge.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count('\ndescription = "') >= 5  # every table's metadata
    toml.write_text(text.replace('\ndescription = "', '\ndescription = "(2) '), encoding="utf-8")
    return changed


def _prepare(lab_base: Path, scenario: str, name: str, previous: Path | None) -> Path:
    trial = lab_base / name
    if scenario == "rerun":
        assert previous is not None
        shutil.copytree(previous, trial, symlinks=True)
    else:
        trial.mkdir()
    return trial


def _counted_run(lab_project: Path, trial: Path) -> tuple[float, int, list[int]]:
    """Run to completion through the kill script in count mode: (seconds, kill
    points, which of those points are just after a Delta commit)."""
    count = trial / "renames.txt"
    env = warehouse.subprocess_env(JOBFORGE_TEST_COUNT_RENAMES=str(count))
    args = ["--project", str(lab_project / "jobforge.toml"), "--data-root", "data"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(KILL_SCRIPT), *_command(*args)],
        cwd=trial,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    renames = int(count.read_text())
    kinds = Path(f"{count}.kinds").read_text(encoding="utf-8").splitlines()
    count.unlink()
    Path(f"{count}.kinds").unlink()
    Path(f"{count}.targets").unlink()
    assert len(kinds) == renames
    return seconds, renames, [n for n, kind in enumerate(kinds, start=1) if kind == "delta commit"]


@pytest.fixture(scope="module", params=warehouse.STORES)
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Lab:
    """Uninterrupted runs, two at a time as the trials run: their duration, their
    renames, and the rows every later run must reproduce; once with each table
    store (parquet pointers, Delta commits)."""
    base = tmp_path_factory.mktemp(f"crash-{request.param}")
    project = warehouse.make_project(base, request.param)
    changed = _changed_project(base, project)
    fresh = [base / "reference-1", base / "reference-2"]
    for folder in fresh:
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        fresh_runs = list(pool.map(lambda f: _counted_run(project, f), fresh))
    for folder in fresh:
        check_consistency(folder / "data", recovered=True, cwd=folder)
    reference = snapshot(fresh[0] / "data")
    assert snapshot(fresh[1] / "data") == reference  # the pipeline is deterministic
    assert set(GOLD_TABLES) <= {table for layer, table in reference if layer == "gold"}
    rerun = [base / "rerun-1", base / "rerun-2"]
    for folder in rerun:
        shutil.copytree(fresh[0], folder, symlinks=True)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        rerun_runs = list(pool.map(lambda f: _counted_run(changed, f), rerun))
    for folder in rerun:
        check_consistency(folder / "data", recovered=True, cwd=folder)
        assert snapshot(folder / "data") == reference
    assert fresh_runs[0][1] == fresh_runs[1][1] and rerun_runs[0][1] == rerun_runs[1][1]
    assert rerun_runs[0][1] > fresh_runs[0][1] // 2  # the rerun publishes again
    commits = {"fresh": fresh_runs[0][2], "rerun": rerun_runs[0][2]}
    assert bool(commits["fresh"]) == (request.param == "delta")  # one per Delta commit
    return Lab(
        project=project,
        changed=changed,
        base=base,
        reference=reference,
        previous=fresh[0],
        seconds={
            "fresh": sum(s for s, _, _ in fresh_runs) / 2,
            "rerun": sum(s for s, _, _ in rerun_runs) / 2,
        },
        renames={"fresh": fresh_runs[0][1], "rerun": rerun_runs[0][1]},
        commits=commits,
    )


@dataclass
class Outcome:
    name: str
    killed: bool
    phases: frozenset[str]
    """Publication phases of the journals the kill left (empty: none)."""
    temporaries: int
    point: str = ""
    """``rename`` or ``delta commit``: the kind of point a step or commit kill stopped at."""


def _trial(lab: Lab, scenario: str, how: str, value: float) -> Outcome:
    name = f"{scenario}-{how}-{value:g}"
    trial = _prepare(lab.base, scenario, name, lab.previous)
    root = trial / "data"
    before = warehouse.pointers(root) if scenario == "rerun" else {}
    args = _jobforge_args(lab, scenario)
    if how == "time":
        process = subprocess.Popen(
            warehouse.jobforge_command(*_command(*args)),
            cwd=trial,
            env=warehouse.subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(value)
        process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=120)
    else:
        note = trial / "kill-note.txt"
        at = "JOBFORGE_TEST_KILL_AT_COMMIT" if how == "commit" else "JOBFORGE_TEST_KILL_AT_RENAME"
        env = warehouse.subprocess_env(**{at: str(int(value))}, JOBFORGE_TEST_KILL_NOTE=str(note))
        code = subprocess.run(
            [sys.executable, str(KILL_SCRIPT), *_command(*args)],
            cwd=trial,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        ).returncode
        assert code == -signal.SIGKILL, f"{name}: the run was not killed (exit {code})"
    killed = code == -signal.SIGKILL
    point = note.read_text(encoding="utf-8") if how != "time" else ""

    # -- right after the kill ----------------------------------------------------------
    findings = check_consistency(root, recovered=False, cwd=trial)
    for key, current in warehouse.pointers(root).items():
        # whatever version is current is complete: its rows are an uninterrupted run's
        assert warehouse.table_rows(root, *key) == lab.reference[key], f"{name}: {key}"
        if key in before:  # the previous version, or the one after it
            old = before[key]
            assert current == old or (
                current.version == old.version + 1 and current.record_id != old.record_id
            ), f"{name}: {key} went from version {old.version} to {current.version}"
    phases = {j.phase for j in findings.journals.values()}

    # -- the next run completes and leaves nothing behind --------------------------------
    done = subprocess.run(
        warehouse.jobforge_command(*_command(*args)),
        cwd=trial,
        env=warehouse.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{name}: the run after the kill failed: {done.stderr}"
    check_consistency(root, recovered=True, cwd=trial)
    after = snapshot(root)
    assert after == lab.reference, f"{name}: tables differ from the uninterrupted run"
    outcome = Outcome(name, killed, frozenset(phases), len(findings.temporaries), point)
    shutil.rmtree(trial)
    return outcome


def _run_all(lab: Lab, plans: list[tuple[str, str, float]]) -> list[Outcome]:
    """Run every trial; report every failing one (not only the first)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(_trial, lab, *plan) for plan in plans]
        outcomes, failures = [], []
        for plan, future in zip(plans, futures, strict=True):
            try:
                outcomes.append(future.result())
            except Exception as exc:
                failures.append(f"{plan}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {len(plans)} trials failed:\n" + "\n".join(failures)
    return outcomes


@pytest.mark.slow
def test_killed_at_evenly_spaced_moments(lab: Lab) -> None:
    plans = [
        (scenario, "time", round(lab.seconds[scenario] * (i + 0.5) / TIMED_KILLS, 3))
        for scenario in ("fresh", "rerun")
        for i in range(TIMED_KILLS)
    ]
    outcomes = _run_all(lab, plans)
    assert len({(o.name) for o in outcomes}) == 2 * TIMED_KILLS >= 50
    killed = [o for o in outcomes if o.killed]
    # the moments cover the run: kills land before it ends, some mid-publication (a
    # loaded machine runs slower or faster than the timed runs: not every moment is
    # inside the run, and the later ones may come after its end)
    seconds = lab.seconds
    assert len(killed) >= 20, f"{len(killed)} of {len(outcomes)} killed; timed runs {seconds}"
    assert any(o.phases for o in killed), "no kill landed inside a transition"


@pytest.mark.slow
def test_killed_before_each_publication_step(lab: Lab) -> None:
    plans = [
        (scenario, "rename", 1 + (lab.renames[scenario] - 1) * i // (STEP_KILLS - 1))
        for scenario in ("fresh", "rerun")
        for i in range(STEP_KILLS)
    ]
    # Delta store: also just after some Delta commits (version switched, rows set
    # apart, journal and record not yet), evenly spread over the run's commits: the
    # K-th commit, not the rename point the counted run had there (with two tables
    # at a time, which point is a commit changes from run to run)
    plans += [
        (scenario, "commit", 1 + (len(points) - 1) * i // (COMMIT_KILLS - 1))
        for scenario, points in lab.commits.items()
        if points
        for i in range(COMMIT_KILLS)
    ]
    plans = list(dict.fromkeys(plans))
    outcomes = _run_all(lab, plans)
    assert all(o.killed for o in outcomes)
    phases = Counter(phase for o in outcomes for phase in o.phases)
    # between them, the kills caught a transition in every phase of its publication
    assert {"running", "publishing", "switching"} <= set(phases), phases
    after_commit = [o for o in outcomes if o.point == "delta commit"]
    commit_plans = [p for p in plans if p[1] == "commit"]
    assert len(commit_plans) == (2 * COMMIT_KILLS if any(lab.commits.values()) else 0)
    assert len(after_commit) >= len(commit_plans)  # each commit kill landed after a commit


def test_a_kill_while_gold_adds_itself_to_an_upstream_entry_leaves_nothing(
    tmp_path: Path,
) -> None:
    """A gold build writes its upstream tables' entries (their ``downstream_tables``).
    Killed just before it renames one into place, the run after it recovers the
    gold table, while the upstream table is up to date and is never locked: the
    temporary the kill left of the upstream entry must go all the same."""
    project = warehouse.make_project(tmp_path, "parquet")
    args = ["--project", str(project / "jobforge.toml"), "--data-root", "data"]
    run = [*args, "run", "-q", "--jobs", "1"]  # one table at a time: the renames in order
    counted, killed = tmp_path / "counted", tmp_path / "killed"
    counted.mkdir()
    count = counted / "renames.txt"
    done = subprocess.run(
        [sys.executable, str(KILL_SCRIPT), *run],
        cwd=counted,
        env=warehouse.subprocess_env(JOBFORGE_TEST_COUNT_RENAMES=str(count)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    targets = Path(f"{count}.targets").read_text(encoding="utf-8").splitlines()
    entry = "data/catalog/tables/silver/employment.json"
    writes = [n for n, target in enumerate(targets, start=1) if target.endswith(entry)]
    gold_records = [
        n for n, target in enumerate(targets, start=1) if "/catalog/lineage/dim_noc/" in target
    ]
    # the silver entry is written by its own promotion, then by the gold builds
    # (dim_noc is built from it): the last write after dim_noc's record is a gold one
    assert gold_records and writes[-1] > gold_records[0], (writes, gold_records)
    killed.mkdir()
    code = subprocess.run(
        [sys.executable, str(KILL_SCRIPT), *run],
        cwd=killed,
        env=warehouse.subprocess_env(JOBFORGE_TEST_KILL_AT_RENAME=str(writes[-1])),
        capture_output=True,
        timeout=300,
        check=False,
    ).returncode
    assert code == -signal.SIGKILL
    left = check_consistency(killed / "data", recovered=False, cwd=killed)
    assert [p.name for p in left.temporaries if p.name.endswith("-employment.json.tmp")]
    again = subprocess.run(
        warehouse.jobforge_command(*args, "run", "-q"),
        cwd=killed,
        env=warehouse.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    check_consistency(killed / "data", recovered=True, cwd=killed)  # no temporary anywhere
    assert snapshot(killed / "data") == snapshot(counted / "data")
    saved = json.loads((killed / entry).read_text(encoding="utf-8"))
    assert (
        saved["downstream_tables"] == json.loads((counted / entry).read_text())["downstream_tables"]
    )


def test_a_delta_log_without_a_commit_is_no_version(tmp_path: Path) -> None:
    """A kill while delta-rs writes a table's first commit leaves ``_delta_log/``
    holding only the commit's temporary: no version, for the harness as for
    delta-rs."""
    pytest.importorskip("deltalake")
    log = tmp_path / "silver" / "employment" / "_delta_log"
    log.mkdir(parents=True)
    (log / "_commit_0b1c.json.tmp").write_text('{"commitInfo": {}}\n', encoding="utf-8")
    assert warehouse.pointer(tmp_path, "silver", "employment") is None
    assert warehouse.pointers(tmp_path) == {}


# -- the pieces the harness relies on (fast) ---------------------------------------------
def test_temporary_files_match_no_reader_pattern(tmp_path: Path) -> None:
    final = tmp_path / "noc.json"
    tmp = temporary_path_for(final)
    tmp.write_text("{")  # a write cut short
    atomic_write_text(final, "{}\n")
    assert tmp.name.startswith(".jobforge-tmp-") and tmp.name.endswith("-noc.json.tmp")
    assert sorted(tmp_path.glob("*.json")) == [final]
    assert sorted(tmp_path.glob("*")) == [tmp, final]  # pathlib globs do list dot-files


def test_stale_temporaries_are_removed_for_one_file_only(tmp_path: Path) -> None:
    """In a folder shared by tables (catalog/tables/<layer>/), the run on ``a``
    removes the temporaries of ``a.json``, not those of ``b-a.json``."""
    mine, theirs = (
        temporary_path_for(tmp_path / "a.json"),
        temporary_path_for(tmp_path / "b-a.json"),
    )
    mine.write_text("{")
    theirs.write_text("{")
    assert remove_stale_temporaries_of(tmp_path, "a.json") == 1
    assert not mine.exists() and theirs.exists()


def test_a_batch_published_again_gets_a_new_file_name(tmp_path: Path) -> None:
    table, quarantine = tmp_path / "t", tmp_path / "q"
    table.mkdir()
    quarantine.mkdir()
    assert new_batch_file_name("b1", 1, [table, quarantine]) == "batch=b1.parquet"
    (table / "batch=b1.parquet").write_bytes(b"")
    assert new_batch_file_name("b1", 2, [table, quarantine]) == "batch=b1-v2.parquet"
    (quarantine / "batch=b1-v2.parquet").write_bytes(b"")  # taken in any folder counts
    name = new_batch_file_name("b1", 2, [table, quarantine])
    assert name.startswith("batch=b1-v2-") and name.endswith(".parquet")
