"""Which files and folders one ``jobforge run`` flushes to disk, step by step.

Builds the project of :mod:`project` (``--tables``, default 6) in a temporary
folder and runs ``jobforge run -q -j 1`` in this process with ``os.fsync`` and
``os.replace`` wrapped (they count and note the path, then call the real
function: nothing is faked). Prints, for the first source table's staged,
bronze and silver steps and for the first gold table, every ``fsync`` and
every rename in order, paths relative to the data root, with the pointer's
rename (the commit point) marked; then the totals for the whole run::

    python benchmarks/fsyncs.py --tables 6

A step runs from its table's journal's first write to the journal's removal
(``os.unlink`` is wrapped too, for the journals only).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import project

Event = tuple[str, str]
"""(``fsync``, ``rename`` or ``unlink`` (of a journal), path relative to the data root)."""


def _path_of(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"<fd {fd}>"


def trace(folder: Path) -> list[Event]:
    """Run the project in ``folder`` in this process; the fsyncs and renames, in order."""
    from jobforge.cli.app import main as jobforge_main

    events: list[Event] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, os.unlink
    data = str((folder / "data").resolve())

    def rel(path: str) -> str:
        path = os.path.abspath(path)
        return os.path.relpath(path, data) if path.startswith(data) else path

    def fsync(fd: int) -> None:
        events.append(("fsync", rel(_path_of(fd))))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("rename", rel(os.fspath(dst))))
        real_replace(src, dst)

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if os.fspath(path).endswith(".journal"):
            events.append(("unlink", rel(os.fspath(path))))
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    os.fsync, os.replace, os.unlink = fsync, replace, unlink  # type: ignore[assignment]
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = jobforge_main(["run", "-q", "-j", "1"])
    finally:
        os.chdir(cwd)
        os.fsync, os.replace, os.unlink = real_fsync, real_replace, real_unlink  # type: ignore[assignment]
    if code != 0:
        raise SystemExit(f"jobforge run failed (exit {code})")
    return events


def step_of(events: list[Event], table: str, layer: str) -> list[Event]:
    """The events of ``table``'s step into ``layer``: from its journal's first
    write to the journal's removal (after its lineage record and catalog entry)."""
    journal = f".locks/{table}.journal"
    pointer = f"{layer}/{table}/_current.json"
    commit = events.index(("rename", pointer))
    start = max(
        (i + 1 for i in range(commit) if events[i] == ("unlink", journal)),
        default=0,
    )
    start = next(i for i in range(start, commit) if events[i] == ("rename", journal))
    if (
        start > 0
        and events[start - 1][0] == "fsync"
        and events[start - 1][1].endswith(f"-{table}.journal.tmp")
    ):
        start -= 1  # the journal's bytes, flushed before its rename
    end = events.index(("unlink", journal), commit)
    return events[start : end + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=6)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        expected = project.build(folder, args.tables)
        events = trace(folder)
        first = project.table_name(0)
        gold = sorted(expected.gold)[0]
        for table, layer in [
            (first, "staged"),
            (first, "bronze"),
            (first, "silver"),
            (gold, "gold"),
        ]:
            step = step_of(events, table, layer)
            pointer = f"{layer}/{table}/_current.json"
            syncs = sum(1 for kind, _ in step if kind == "fsync")
            print(f"\n{layer} step of {table}: {syncs} fsyncs")
            for kind, path in step:
                mark = "   <- commit point" if (kind, path) == ("rename", pointer) else ""
                print(f"  {kind:6} {path}{mark}")
        steps = sum(
            1 for kind, path in events if kind == "rename" and path.endswith("_current.json")
        )
        syncs = sum(1 for kind, _ in events if kind == "fsync")
        print(f"\nwhole run: {syncs} fsyncs, {steps} steps, {syncs / steps:.1f} fsyncs per step")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
