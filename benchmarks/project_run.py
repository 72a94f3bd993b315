"""``benchmarks/run.py --project``: a project of many small tables, side by side.

Builds the project of :mod:`project` (``--tables`` source tables) under
``--workdir`` and measures, each in its own process, for ``--repeat`` rounds
after ``--warmup`` rounds (every round starts from an empty data root):

- ``floor``: every source copied once to parquet by polars in one process
  (``pl.scan_csv(f).sink_parquet(out, compression="zstd")``);
- ``cold``: ``jobforge run -q --json`` on the empty data root;
- ``nochange``: ``jobforge run -q --json`` again, nothing changed;
- ``onechange``: ``jobforge run -q --json`` after one source changed;
- ``alone``: the changed table alone, ``jobforge run -q --json`` cold on a
  project of that one source table (its source as changed, its declaration,
  no gold table; :func:`project.build_alone`): one table's work in a process of
  its own, what ``onechange`` is set against (``onechange_ratio``). Beside each
  of these two runs the seconds of the steps that ran, as their records give
  them, are printed (``steps``; up to each record's making, so without each
  step's publication): the rest is mostly the process (interpreter, imports,
  the project read, every source hashed).

Seconds are the wall time of the whole process (interpreter start, imports,
work), measured by this parent; the median of the timed rounds. Each run's
CPU seconds (user and system, all threads, from ``wait4``) are printed too: a
machine busy with other work disturbs them less than the wall time. Every run's
report is checked before anything is printed: each source table's staged,
quarantined, de-duplicated and silver counts and each gold table's rows as
computed by :mod:`project` with Python's ``csv`` module, every step of the
no-change run up to date, and only the changed table and the gold table built
from it run after the change, and the table alone counts as it does in the
project. The files a run leaves under the data root
that were not there before are counted (``files_written``).

Per-step cost: each step's seconds as the run report gives them (the step's
own record), for the first and the last ten source tables of the cold run, by
layer; ``--batches N`` also runs one three-row table in append mode N times in
one process and reports the steps' seconds at batch 1, 10, 100, 1000 (those
<= N): on a table that small, the step's time is its fixed cost. A step's record
gives its seconds up to the record's making, before the publication; for the
appended table the whole bronze and silver steps are shown too (``whole``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import project

from jobforge.testing.usage import MeasuredProcess

HERE = Path(__file__).resolve().parent


class CheckFailed(Exception):
    """A run's counts do not match what the project's files hold."""


def _expect(what: str, got: object, expected: object) -> None:
    if got != expected:
        raise CheckFailed(f"{what}: got {got}, expected {expected}")


def _jobforge() -> list[str]:
    return [sys.executable, "-m", "jobforge"]


def _timed(command: list[str], cwd: Path, log: Path) -> tuple[float, float, str, float]:
    """Run ``command``; (wall seconds, peak RSS MiB, its stdout, its CPU seconds)."""
    start = time.perf_counter()
    with log.open("ab") as sink:
        process = MeasuredProcess(command, cwd=cwd, stdout=subprocess.PIPE, stderr=sink)
        out = process.stdout.read() if process.stdout else b""
        usage = process.wait()
    seconds = time.perf_counter() - start
    if usage.returncode != 0:
        raise CheckFailed(f"{' '.join(command[-4:])} failed (exit {usage.returncode}); see {log}")
    return seconds, usage.peak_mib, out.decode(), usage.cpu_s


def _files(root: Path) -> set[str]:
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


FLOOR = """
import sys, time
from pathlib import Path
import polars as pl
start = time.perf_counter()
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for source in sorted(Path(sys.argv[1]).glob("*.csv")):
    pl.scan_csv(source).sink_parquet(out / (source.stem + ".parquet"), compression="zstd")
print(time.perf_counter() - start)
"""


AUDITED_RUN = """
import json, sys, threading, time
from jobforge.audit import chain
from jobforge.engine import control_totals
from jobforge_catalog_json.store import JsonCatalogStore
from jobforge.cli.app import main

spent = {"chain": [0.0, 0.0, 0], "control_totals": [0.0, 0.0, 0]}
lock = threading.Lock()  # tables may run on several threads: CPU is each call's thread's

def timed(kind, function):
    def call(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                spent[kind][0] += time.perf_counter() - wall
                spent[kind][1] += time.thread_time() - cpu
                spent[kind][2] += 1
    return call

chain.seal = timed("chain", chain.seal)
JsonCatalogStore.save_chain_head = timed("chain", JsonCatalogStore.save_chain_head)
control_totals.measure = timed("control_totals", control_totals.measure)
OUT = sys.argv[1]
sys.argv = ["jobforge", *sys.argv[2:]]
code = main()
with open(OUT, "w") as out:
    json.dump(spent, out)
sys.exit(code)
"""
"""A cold run whose audit features are timed inside: the hash chain (sealing a
record: its chain head and its inputs' records read, the record hashed; and
the new chain head written) and the control totals (measured by each step
that declares them; reconciling them is arithmetic on the ledger). Seconds
(wall and CPU of this process) and calls go to the file named by the first
argument. The functions are the real ones, each wrapped in a timer."""


def check_cold(steps: list[dict], expected: project.Expected) -> None:
    by = {(s["table"], s["layer"]): s for s in steps}
    failed = [f"{s['layer']}.{s['table']}: {s['error']}" for s in steps if s["status"] == "failed"]
    if failed:
        raise CheckFailed(f"failed steps: {failed[:3]}")
    for name, counts in expected.sources.items():
        staged, bronze, silver = by[(name, "staged")], by[(name, "bronze")], by[(name, "silver")]
        _expect(f"{name} staged rows", staged["rows_out"], counts.staged)
        _expect(f"{name} bronze rows", bronze["rows_out"], counts.staged)
        _expect(f"{name} silver quarantined", silver["rows_quarantined"], counts.quarantined)
        _expect(f"{name} silver deduplicated", silver["rows_deduplicated"], counts.deduplicated)
        _expect(f"{name} silver rows", silver["rows_out"], counts.silver)
    for name, rows in expected.gold.items():
        _expect(f"{name} gold rows", by[(name, "gold")]["rows_out"], rows)
    _expect("steps", len(steps), 3 * len(expected.sources) + len(expected.gold))


def check_nochange(steps: list[dict], expected: project.Expected) -> None:
    ran = [f"{s['layer']}.{s['table']}" for s in steps if s["status"] != "up to date"]
    _expect("steps run with nothing changed", ran, [])
    _expect("steps", len(steps), 3 * len(expected.sources) + len(expected.gold))


def check_onechange(steps: list[dict], expected: project.Expected, changed: str) -> None:
    ran = sorted(f"{s['layer']}.{s['table']}" for s in steps if s["status"] != "up to date")
    golds = sorted(f"gold.{g}" for g, inputs in expected.gold_inputs.items() if changed in inputs)
    _expect(
        "steps run after one change",
        ran,
        sorted([f"staged.{changed}", f"bronze.{changed}", f"silver.{changed}", *golds]),
    )
    check_cold([s for s in steps if s["status"] != "up to date"], _only(expected, changed))


def _only(expected: project.Expected, name: str) -> project.Expected:
    golds = {g: r for g, r in expected.gold.items() if name in expected.gold_inputs[g]}
    return project.Expected(sources={name: expected.sources[name]}, gold=golds)


def step_costs(steps: list[dict], tables: list[str]) -> dict[str, tuple[float, float]]:
    """Median step milliseconds by layer: (first ten source tables, last ten)."""
    first, last = set(tables[:10]), set(tables[-10:])
    costs = {}
    for layer in ("staged", "bronze", "silver"):
        head = [s["seconds"] for s in steps if s["layer"] == layer and s["table"] in first]
        tail = [s["seconds"] for s in steps if s["layer"] == layer and s["table"] in last]
        costs[layer] = (1000 * statistics.median(head), 1000 * statistics.median(tail))
    return costs


def round_trip(folder: Path, tables: int, log: Path, jobs: int | None = None) -> dict:
    """One round: a fresh project and data root, then floor, cold, nochange, onechange,
    and the changed table alone."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    expected = project.build(folder, tables)
    data = folder / "data"
    result: dict = {}
    floor_out = folder / "floor"
    seconds, peak, out, cpu = _timed(
        [sys.executable, "-c", FLOOR, str(folder / "sources"), str(floor_out)], folder, log
    )
    made = sorted(p.name for p in floor_out.glob("*.parquet"))
    _expect("floor files", len(made), tables)
    result["floor"] = (seconds, peak, float(out), cpu)
    given = ["--jobs", str(jobs)] if jobs is not None else []
    command = [*_jobforge(), "run", "-q", "--json", *given]
    audit = folder / "audit-seconds.json"
    audited = [sys.executable, "-c", AUDITED_RUN, str(audit), "run", "-q", "--json", *given]
    for kind in ("cold", "nochange", "onechange"):
        if kind == "onechange":
            changed = project.change_one(folder, expected)
        before = _files(data)
        seconds, peak, out, cpu = _timed(audited if kind == "cold" else command, folder, log)
        steps = json.loads(out)
        written = len(_files(data) - before)
        if kind == "cold":
            check_cold(steps, expected)
            result["steps"] = step_costs(steps, list(expected.sources))
            result["audit"] = json.loads(audit.read_text())
            _expect("records chained", result["audit"]["chain"][2] > 0, True)
            _expect(
                "steps measuring control totals",
                result["audit"]["control_totals"][2],
                len(expected.totalled),
            )
        elif kind == "nochange":
            check_nochange(steps, expected)
        else:
            check_onechange(steps, expected, changed)
        result[kind] = (seconds, peak, written, cpu)
        if kind == "onechange":
            result["onechange_steps"] = _step_seconds(steps)
    # One table's work: the changed table alone (its source as changed), cold, in a
    # process of its own, as the project's runs are.
    alone = folder / "alone"
    expected_alone = project.build_alone(alone, folder, changed, expected)
    seconds, peak, out, cpu = _timed(command, alone, log)
    steps = json.loads(out)
    check_cold(steps, expected_alone)
    result["alone"] = (seconds, peak, len(_files(alone / "data")), cpu)
    result["alone_steps"] = _step_seconds(steps)
    return result


def _step_seconds(steps: list[dict]) -> float:
    """The seconds of a run's steps that ran, as their records give them."""
    return sum(s["seconds"] for s in steps if s["status"] != "up to date")


BATCHES = """
import json, sys, time
from pathlib import Path
from jobforge.project.loader import load_project
from jobforge.project.runner import run_project
folder, count = Path(sys.argv[1]), int(sys.argv[2])
marks = {1, 10, 100, 1000, count}
costs = {}
for batch in range(1, count + 1):
    rows = "".join(f"{code}{batch},{value}\\n" for value, code in enumerate("ABC", 1))
    (folder / "sources" / "tiny.csv").write_text("code,value\\n" + rows)
    ended = {}
    report = run_project(
        load_project(folder / "jobforge.toml"),
        progress=lambda step: ended.__setitem__(step.layer, time.perf_counter()),
    )
    steps = {s.layer: s for s in report.steps}
    bad = [s for s in report.steps if s.status != "success"]
    if bad or steps["silver"].rows_out != 3:
        sys.exit(f"batch {batch}: {[(s.layer, s.status, s.error) for s in bad]}")
    if batch in marks:
        costs[batch] = {layer: steps[layer].seconds for layer in ("staged", "bronze", "silver")}
        costs[batch]["bronze whole"] = ended["bronze"] - ended["staged"]
        costs[batch]["silver whole"] = ended["silver"] - ended["bronze"]
print(json.dumps(costs))
"""
"""``--batches``: each step's seconds as its record gives them (they end when the
record is built, before the publication: the files renamed, the catalog entry,
the pointer switched, the record and entry written, the journal cleared), and,
for bronze and silver, the whole step: from the report of the step before to its
own (``progress`` is called as each step ends; one table runs on one thread)."""

BATCH_PROJECT = """[project]
name = "bench-batches"
mode = "append"

[tables.tiny]
source = "sources/tiny.csv"

[tables.tiny.bronze]
cast = { value = "int" }

[tables.tiny.silver]
dedupe = ["code"]
rules = [{ id = "positive", expression = "value > 0", message = "value must be positive" }]
"""


def batches(folder: Path, count: int, log: Path) -> dict[int, dict[str, float]]:
    """Steps' seconds at batch 1, 10, 100, 1000 of an appended three-row table
    (see :data:`BATCHES`)."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(BATCH_PROJECT)
    _, _, out, _ = _timed([sys.executable, "-c", BATCHES, str(folder), str(count)], folder, log)
    return {int(k): v for k, v in json.loads(out).items()}


def main(
    tables: int, repeat: int, warmup: int, batch_count: int, workdir: Path, jobs: int | None = None
) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "project-children.log"
    folder = workdir / f"project-{tables}"
    print(
        f"project: {tables} source tables, {project.gold_count(tables)} gold tables, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    rounds: list[dict] = []
    try:
        for index in range(warmup + repeat):
            result = round_trip(folder, tables, log, jobs)
            label = "run" if index >= warmup else "warm-up"
            floor, cold, nochange, onechange, alone = (
                result[k] for k in ("floor", "cold", "nochange", "onechange", "alone")
            )
            print(
                f"{label}: floor {floor[0]:.3f} s (cpu {floor[3]:.3f} s, work {floor[2]:.3f} s), "
                f"cold {cold[0]:.3f} s (cpu {cold[3]:.3f} s), "
                f"nochange {nochange[0]:.3f} s (cpu {nochange[3]:.3f} s, "
                f"{nochange[2]} files written), "
                f"onechange {onechange[0]:.3f} s (cpu {onechange[3]:.3f} s, "
                f"steps {result['onechange_steps']:.3f} s), "
                f"alone {alone[0]:.3f} s (cpu {alone[3]:.3f} s, "
                f"steps {result['alone_steps']:.3f} s)",
                flush=True,
            )
            if index >= warmup:
                rounds.append(result)
        history = batches(workdir / "project-batches", batch_count, log) if batch_count else {}
    except CheckFailed as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(workdir / "project-batches", ignore_errors=True)
    print("checks: counts of every step of every run are as the project's files give")
    for kind, (wall, cpu, calls) in rounds[-1]["audit"].items():
        print(
            f"audit {kind}: {wall:.3f} s ({cpu:.3f} s cpu, {calls} calls) of the cold run's "
            f"{rounds[-1]['cold'][0]:.3f} s ({rounds[-1]['cold'][3]:.3f} s cpu)"
        )
    last = rounds[-1]["steps"]
    for layer, (head, tail) in last.items():
        print(f"step {layer}: first ten tables {head:.1f} ms, last ten {tail:.1f} ms")
    for batch, costs in sorted(history.items()):
        print(
            f"batch {batch}: "
            + ", ".join(f"{layer} {1000 * s:.1f} ms" for layer, s in costs.items())
        )

    def med(kind: str, at: int = 0) -> float:
        return statistics.median(r[kind][at] for r in rounds)

    floor, cold, nochange = med("floor"), med("cold"), med("nochange")
    onechange, alone = med("onechange"), med("alone")
    print(
        f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"jobs {jobs if jobs is not None else 'default'}",
        flush=True,
    )
    print(
        f"tables={tables} floor_s={floor:.3f} cold_s={cold:.3f} cold_ratio={cold / floor:.2f} "
        f"nochange_s={nochange:.3f} onechange_s={onechange:.3f} alone_s={alone:.3f} "
        f"onechange_ratio={onechange / alone:.2f} "
        f"nochange_files={max(r['nochange'][2] for r in rounds)} "
        f"cold_peak_mib={max(r['cold'][1] for r in rounds):.0f}"
    )
    return 0
