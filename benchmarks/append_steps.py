"""The cost of one append step as a table's history grows.

``python benchmarks/append_steps.py FOLDER --batches K`` appends ``K`` batches
of three rows to the one-table project of ``benchmarks/project_run.py``
(``--batches`` there) in ``FOLDER``, each with ``run_project`` in this one
process, creating the project if ``FOLDER`` has none and else continuing its
history (a copy of a folder made once with ``--batches 1000`` measures the
1001st batch onwards without making the thousand again). For every batch it
prints, for bronze and silver:

- ``step``: the wall time of the whole step, from the report of the step before
  to its own (``run_project``'s ``progress``, called as each step ends): the
  table's pointers read, the up-to-date decision, the write, the record, the
  files renamed, the catalog entry, the version switched, the record and the
  entry written, the journal cleared (every ``fsync`` of the step);
- ``record``: the seconds the step's lineage record gives (what the run report
  shows), which end when the record is built, before its publication;

and at the end the median of each over the batches and of the whole run of a
batch (``run_project`` with the project file read: its three steps, the
project's checks before them and the up-to-date index after), with the CPU
seconds of the process and the load average before and after. Every batch is checked:
every step ``success``, three rows in silver.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from project_run import BATCH_PROJECT  # noqa: E402


def held_batches(folder: Path) -> int:
    """Batches the table already holds in staged (0 for a new project)."""
    pointer = folder / "data" / "staged" / "tiny" / "_current.json"
    if not pointer.exists():
        return 0
    return len(json.loads(pointer.read_text(encoding="utf-8"))["batches"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--batches", type=int, required=True, help="batches to append")
    parser.add_argument("--quiet", action="store_true", help="print the medians only")
    args = parser.parse_args(argv)
    if args.batches < 1:
        parser.error("--batches N: N >= 1")
    from jobforge.project.loader import load_project
    from jobforge.project.runner import StepReport, run_project

    folder: Path = args.folder
    if not (folder / "jobforge.toml").exists():
        (folder / "sources").mkdir(parents=True, exist_ok=True)
        (folder / "jobforge.toml").write_text(BATCH_PROJECT)
    first = held_batches(folder) + 1
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = time.process_time()
    figures: dict[str, list[float]] = {k: [] for k in ("bronze", "silver")}
    records: dict[str, list[float]] = {k: [] for k in ("bronze", "silver")}
    runs: list[float] = []
    for batch in range(first, first + args.batches):
        rows = "".join(f"{code}{batch},{value}\n" for value, code in enumerate("ABC", 1))
        (folder / "sources" / "tiny.csv").write_text("code,value\n" + rows)
        ended: dict[str, float] = {}

        def progress(step: StepReport, ended: dict[str, float] = ended) -> None:
            ended[step.layer] = time.perf_counter()

        began = time.perf_counter()
        report = run_project(load_project(folder / "jobforge.toml"), progress=progress)
        runs.append(1000 * (time.perf_counter() - began))
        steps = {s.layer: s for s in report.steps}
        bad = [(s.layer, s.status, s.error) for s in report.steps if s.status != "success"]
        if bad or steps["silver"].rows_out != 3:
            print(f"batch {batch}: {bad or steps['silver']}", file=sys.stderr)
            return 1
        whole = {
            "bronze": ended["bronze"] - ended["staged"],
            "silver": ended["silver"] - ended["bronze"],
        }
        for layer in figures:
            figures[layer].append(1000 * whole[layer])
            records[layer].append(1000 * steps[layer].seconds)
        if not args.quiet:
            print(
                f"batch {batch}: "
                + ", ".join(
                    f"{layer} step {figures[layer][-1]:.1f} ms (record {records[layer][-1]:.1f})"
                    for layer in figures
                ),
                flush=True,
            )
    cpu = time.process_time() - cpu
    print(
        f"batches {first} to {first + args.batches - 1}: median "
        + ", ".join(
            f"{layer} step {statistics.median(figures[layer]):.1f} ms "
            f"(record {statistics.median(records[layer]):.1f} ms)"
            for layer in figures
        )
        + f", whole run {statistics.median(runs):.1f} ms"
        + f"; cpu {cpu:.2f} s; load {load} -> "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
