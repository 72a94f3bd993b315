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
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
        try:
            return timed("step", run)(self, **kwargs)
        finally:
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--folder", type=Path, help="a built project, not yet run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobforge-parts-") as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "project"
            project.build(folder, args.tables)
        from jobforge.cli.app import main as jobforge

        wrap()
        os.chdir(folder)
        cpu, wall = time.process_time(), time.perf_counter()
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            code = jobforge(["run", "-q", "-j", "1"])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        os.chdir(HERE)
    print(f"run: exit {code}, {wall:.3f} s wall, {cpu:.3f} s cpu (in-process)")
    for name in ("staged", "bronze", "silver", "gold"):
        n = steps.get(name, 0)
        if not n:
            continue
        print(f"{name}: {n} steps")
        for (where, part), (c, w, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
            if where == name:
                cpu_ms, wall_ms = 1000 * c / n, 1000 * w / n
                print(f"  {part}: {calls:.0f} calls, {cpu_ms:.1f} ms cpu, {wall_ms:.1f} ms wall")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
