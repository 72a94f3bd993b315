"""Where the CPU of a project's steps goes, layer by layer.

``python benchmarks/step_parts.py --tables 50`` builds the project of
:mod:`project` in a temporary folder (or uses ``--folder``, a built project
not yet run: pass a fresh copy each time), runs ``jobforge run -q -j 1`` in
this process, one table at a time, with the functions every step calls wrapped
in a timer (the real functions: each call's CPU seconds, ``time.process_time``,
so polars' own threads count, and wall seconds added up), and prints for each
layer and part the calls and the milliseconds of CPU and wall time a step.

Parts nest: ``write`` (the executor's files), ``record`` (with the control
totals), ``entry`` (the catalog entry: profile, enrichment, governance),
``stage`` (the journal and renames), ``switch`` (the journal's entry),
``publish`` (the pointer) and ``finish`` (record and entry written) make up a
step; ``totals``, ``profile``, ``enrich``, ``record written`` and ``entry
written`` are inside them; ``fsync`` is every flush, wherever it is.

The audit's own parts are timed apart, as the control totals are: ``seal``
(the record's place in its table's hash chain) and ``chain head`` (the head
written), inside ``record written``. ``fixed`` is a step less its ``write``,
``totals``, ``seal`` and ``chain head``: what a transition costs besides the
table's own rows and the audit features (the records, the catalog entry, the
journal, the pointer, their flushes).

``--again``: run the project once, then give every source its last row once
more (a delivery with one more row: every table changes) and time the second
run, the steps of a project that lives (no first-time catalog files: JSON
Schemas, schema histories, downstream tables).

``--by-position N``: also print each layer's ``fixed`` cost in N groups of its
steps, in the order they ran (each group's median): a cost that grows with the
tables a run has done so far shows as groups that grow from left to right.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import project  # noqa: E402

spent: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
steps: dict[str, int] = defaultdict(int)
layer = ["start"]
each_step: dict[str, list[tuple[float, float]]] = defaultdict(list)
"""Per layer, each step's ``fixed`` CPU and wall seconds, in the order the steps ran."""


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            each = spent[(layer[0], name)]
            each[0] += time.process_time() - cpu
            each[1] += time.perf_counter() - wall
            each[2] += 1

    return call


def patch(owner: object, name: str, part: str) -> None:
    """Replace ``owner.name`` (where the step looks it up) by its timed self."""
    setattr(owner, name, timed(part, getattr(owner, name)))


def wrap() -> None:
    from jobforge.audit import chain
    from jobforge.catalog import entries
    from jobforge.engine import promotion, records, recovery, transition
    from jobforge.hooks.host import PluginHost

    run = transition.Transition.run

    def run_step(self: Any, **kwargs: Any) -> Any:
        before = layer[0]
        layer[0] = self.target.value
        steps[layer[0]] += 1
        for part in ("write", "record", "entry"):
            kwargs[part] = timed(part, kwargs[part])
        store = self.rt.store
        if not hasattr(store.publish, "timed"):  # the table store's pointer switch
            patch(store, "publish", "publish")
            store.publish.timed = True
        catalog = self.rt.config.catalog
        if not hasattr(catalog.save_chain_head, "timed"):  # the audit's chain head, written
            patch(catalog, "save_chain_head", "chain head")
            catalog.save_chain_head.timed = True
        counted = ("step", "write", *AUDIT)
        start = {p: tuple(spent[(layer[0], p)][:2]) for p in counted}
        try:
            return timed("step", run)(self, **kwargs)
        finally:
            delta = {p: [spent[(layer[0], p)][i] - start[p][i] for i in (0, 1)] for p in counted}
            each_step[layer[0]].append(
                tuple(delta["step"][i] - sum(delta[p][i] for p in counted[1:]) for i in (0, 1))
            )
            layer[0] = before

    transition.Transition.run = run_step  # type: ignore[method-assign]
    patch(transition, "finish", "finish")
    patch(recovery.Publication, "stage", "stage")
    patch(recovery.Publication, "before_switch", "switch")
    patch(promotion, "bronze_totals", "totals")
    patch(promotion, "step_totals", "totals")
    patch(entries, "profile_files", "profile")
    patch(PluginHost, "_enrich", "enrich")
    patch(records, "write_record", "record written")
    patch(records, "write_entry_locked", "entry written")
    patch(os, "fsync", "fsync")
    patch(chain, "seal", "seal")


AUDIT = ("totals", "seal", "chain head")
"""The audit features' own parts, left out of ``fixed``."""


def _one_more_row(folder: Path) -> None:
    """Every source CSV of the project gets its last row once more."""
    for source in sorted((folder / "sources").glob("*.csv")):
        data = source.read_bytes()
        last = data.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].lstrip(b"\r")
        ending = b"\r\n" if data.endswith(b"\r\n") else b"\n"
        source.write_bytes(data + last + ending)


def _groups(values: list[tuple[float, float]], count: int) -> list[str]:
    """``values`` cut into ``count`` groups in order; each group's median CPU / wall ms."""
    out = []
    for g in range(count):
        part = values[len(values) * g // count : len(values) * (g + 1) // count]
        if part:
            cpu = statistics.median(v[0] for v in part)
            wall = statistics.median(v[1] for v in part)
            out.append(f"{1000 * cpu:.1f}/{1000 * wall:.1f}")
    return out


def _run(jobforge: Callable[[list[str]], int]) -> int:
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        return jobforge(["run", "-q", "-j", "1"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--folder", type=Path, help="a built project, not yet run")
    parser.add_argument(
        "--again", action="store_true", help="time a second run, every source one row longer"
    )
    parser.add_argument(
        "--by-position",
        type=int,
        default=0,
        metavar="N",
        help="also print each layer's fixed cost in N groups of steps, in the order they ran",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobforge-parts-") as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "project"
            project.build(folder, args.tables)
        from jobforge.cli.app import main as jobforge

        wrap()
        os.chdir(folder)
        if args.again:
            code = _run(jobforge)
            if code != 0:
                print(f"first run: exit {code}")
                return code
            _one_more_row(folder)
            spent.clear()
            steps.clear()
            each_step.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        code = _run(jobforge)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        os.chdir(HERE)
    which = "second run" if args.again else "run"
    print(f"{which}: exit {code}, {wall:.3f} s wall, {cpu:.3f} s cpu (in-process)")
    for name in ("staged", "bronze", "silver", "gold"):
        n = steps.get(name, 0)
        if not n:
            continue
        print(f"{name}: {n} steps")
        mine = {part: v for (where, part), v in spent.items() if where == name}
        for part, (c, w, calls) in sorted(mine.items(), key=lambda kv: -kv[1][0]):
            cpu_ms, wall_ms = 1000 * c / n, 1000 * w / n
            print(f"  {part}: {calls:.0f} calls, {cpu_ms:.1f} ms cpu, {wall_ms:.1f} ms wall")
        left_out = ("write", *AUDIT)
        fixed = [mine["step"][i] - sum(mine[p][i] for p in left_out if p in mine) for i in (0, 1)]
        print(
            f"  fixed (step - write - {' - '.join(AUDIT)}): "
            f"{1000 * fixed[0] / n:.1f} ms cpu, {1000 * fixed[1] / n:.1f} ms wall"
        )
        if args.by_position:
            print(f"  fixed by position (median ms cpu / wall, {args.by_position} groups):")
            print("    " + "  ".join(_groups(each_step[name], args.by_position)))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
