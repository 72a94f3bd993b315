"""The silver step of the benchmark alone: its CPU seconds, each polars plan's share
(every read of bronze and every write), and its peak memory.

``python benchmarks/silver_passes.py --rows 1000000 --repeat 5`` builds the dataset
of :mod:`run` (once, under ``--workdir``), ingests it and promotes it to bronze
with the benchmark's casts, then promotes bronze to silver ``--repeat`` times
(``force=True``, after one untimed run) with the benchmark's silver (whole-row
de-duplication, the wage rule). ``pl.LazyFrame.collect`` and ``sink_parquet``
are wrapped to note the CPU seconds (``time.process_time``: all threads) and
wall seconds of each call, by the line of ``jobforge_polars`` that made it; the
real functions run, nothing is faked. Prints each plan's mean per step, then
the step's mean (each step's ledger checked against the generated counts); then
runs one more step in a child process measured by
:mod:`jobforge.testing.usage` and prints its peak RSS. The last line::

    rows=N silver_cpu_s=... silver_s=... plans_cpu_s=... silver_peak_mib=...
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import run  # noqa: E402

from jobforge.testing.usage import run_measured  # noqa: E402


def _silver() -> Any:
    from jobforge.engine.steps import Rule, SilverSpec

    rule = Rule(id="wage_non_negative", expression=run.WAGE_RULE, message="negative wage")
    return SilverSpec(dedupe="row", rules=[rule])


def _engine(root: Path) -> Any:
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.pipeline.config import PipelineConfig

    return PipelineEngine(PipelineConfig(root, entry_points=False))


def build(csv: Path, root: Path) -> None:
    """Staged and bronze of ``csv`` under the data root ``root`` (made afresh)."""
    from jobforge.engine.steps import BronzeSchema

    shutil.rmtree(root, ignore_errors=True)
    engine = _engine(root)
    engine.ingest(csv, run.TABLE, "labour")
    engine.promote_to_bronze(run.TABLE, BronzeSchema(cast=dict(generate.CASTS)))


def _noting(calls: list[tuple[str, float, float]]) -> None:
    """Wrap the polars calls that run a plan, noting (caller, CPU s, wall s)."""
    import polars as pl

    def wrapped(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
            stack = traceback.extract_stack(limit=6)[:-1]
            ours = [f for f in stack if "jobforge_polars" in f.filename]
            where = ours[-1] if ours else stack[-1]
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return real(self, *args, **kwargs)
            finally:
                calls.append(
                    (
                        f"{name} {Path(where.filename).name}:{where.lineno}",
                        time.process_time() - cpu,
                        time.perf_counter() - wall,
                    )
                )

        return call

    for name in ("collect", "sink_parquet"):
        setattr(pl.LazyFrame, name, wrapped(name, getattr(pl.LazyFrame, name)))


def check(ledger: Any, meta: dict) -> None:
    """The silver step's ledger against what the generator made."""
    rows, dups, bad = meta["rows"], meta["duplicates"], meta["bad_wage_rows"]
    got = (ledger.rows_in, ledger.rows_out, ledger.rows_deduplicated, ledger.rows_quarantined)
    if got != (rows, rows - dups - bad, dups, bad):
        raise run.CheckFailed(
            f"silver ledger (in, out, deduplicated, quarantined) {got}, expected "
            f"{(rows, rows - dups - bad, dups, bad)}"
        )


def measure(root: Path, repeat: int, meta: dict) -> tuple[float, float, float]:
    """Print each plan's mean CPU and wall seconds per step; (step CPU s, step s,
    plans CPU s), means over ``repeat`` steps, each step's ledger checked."""
    calls: list[tuple[str, float, float]] = []
    _noting(calls)
    engine, spec = _engine(root), _silver()
    engine.promote_to_silver(run.TABLE, spec, force=True)  # warm-up
    per_plan: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    cpu_total = wall_total = 0.0
    for _ in range(repeat):
        calls.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        result = engine.promote_to_silver(run.TABLE, spec, force=True)
        cpu_total += time.process_time() - cpu
        wall_total += time.perf_counter() - wall
        check(result.record.ledger, meta)
        for where, c, w in calls:
            plan = per_plan[where]
            plan[0] += 1
            plan[1] += c
            plan[2] += w
    plans = 0.0
    print(f"per silver step, mean of {repeat}:  cpu s   wall s  calls  plan")
    for where, (n, c, w) in sorted(per_plan.items(), key=lambda kv: -kv[1][1]):
        plans += c / repeat
        print(f"{c / repeat:36.3f} {w / repeat:8.3f} {n / repeat:6.0f}  {where}")
    return cpu_total / repeat, wall_total / repeat, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/jobforge-bench"))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _engine(args.child).promote_to_silver(run.TABLE, _silver(), force=True)
        return 0
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows >= 1 and --repeat >= 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv, meta = run.dataset(args.rows, args.seed, args.workdir)
    root = args.workdir / "silver-passes"
    build(csv, root)
    try:
        cpu, wall, plans = measure(root, args.repeat, meta)
        usage = run_measured([sys.executable, __file__, "--child", str(root)])
        if usage.returncode != 0:
            raise run.CheckFailed(f"the measured silver step failed (exit {usage.returncode})")
    except run.CheckFailed as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"rows={meta['rows']} silver_cpu_s={cpu:.3f} silver_s={wall:.3f} "
        f"plans_cpu_s={plans:.3f} silver_peak_mib={usage.peak_mib:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
