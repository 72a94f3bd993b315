"""Where an append step's time goes as a table's history grows.

``python benchmarks/append_parts.py FOLDER --batches K`` runs
:mod:`append_steps` (same arguments) with some of the functions every step
calls wrapped in a timer (the real functions, each call's wall time added up),
and prints, for each, its milliseconds per batch (the three steps of one batch
together) and its calls per batch, after one batch that is not counted. Run it
on a copy of a folder with 100 batches and of one with 1000: a part whose
milliseconds grow with the batches is work that grows with the table's history.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import append_steps  # noqa: E402

spent: dict[str, list[float]] = {}


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    spent[name] = [0.0, 0]

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name][0] += time.perf_counter() - start
            spent[name][1] += 1

    return call


def main(argv: list[str]) -> int:
    from jobforge.audit import chain
    from jobforge.catalog import entries, profile
    from jobforge.engine import entries as engine_entries
    from jobforge.engine import ingestion, promotion, records, recovery
    from jobforge.project import runner
    from jobforge.storage import versions

    versions.read_current = timed("pointer read", versions.read_current)
    versions.publish = timed("pointer written", versions.publish)
    profile.profile_files = timed("profile of the version's files", profile.profile_files)
    entries.profile_files = profile.profile_files
    engine_entries.build_layer_entry = timed(
        "catalog entry built (with the profile)", engine_entries.build_layer_entry
    )
    promotion.build_layer_entry = engine_entries.build_layer_entry
    ingestion.build_layer_entry = engine_entries.build_layer_entry
    promotion.batch_files = timed("batch files listed", promotion.batch_files)
    chain.write_record = timed("record sealed and written", chain.write_record)
    records.write_record = chain.write_record
    records.write_entry_locked = timed("catalog entry written", records.write_entry_locked)
    recovery.Publication.stage = timed("journal and renames", recovery.Publication.stage)
    runner._keep_index = timed("(run) up-to-date index kept", runner._keep_index)
    # One batch first, not counted: in a copied folder the footer summaries' cache
    # names the files of the original (other paths, inodes), so the first step reads
    # every footer once.
    code = append_steps.main([argv[0], "--batches", "1", "--quiet"])
    for each in spent.values():
        each[:] = [0.0, 0]
    code = code or append_steps.main(argv)
    batches = int(argv[argv.index("--batches") + 1])
    for name, (seconds, calls) in spent.items():
        print(f"{name}: {1000 * seconds / batches:.1f} ms a batch, {calls / batches:.1f} calls")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
