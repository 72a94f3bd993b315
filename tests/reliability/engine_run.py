"""One pipeline process for the concurrency tests (run as a script).

    engine_run.py pipeline ROOT TABLE SOURCE [--sleep S] [--force] [--to staged]
                  [--gap S] [--lock-timeout S] [--ready FILE --go FILE]
    engine_run.py silver-loop ROOT TABLE --times N
    engine_run.py gold-loop ROOT NAME INPUT --times N

``--sleep`` makes every transition of the process wait S seconds in
``jobforge_before_transition`` (inside the table lock), so that runs are long
enough to overlap; ``--gap`` runs the three steps one by one under
``engine.lock`` with S seconds between them (outside any step: only the run's
lock keeps other processes out then); ``--ready``/``--go`` line processes up after their imports.
The last line printed is a JSON summary; an expected jobforge error is printed
as ``error: ...`` with exit code 1, like the command line does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from jobforge import hookimpl


class Sleeper:
    """Makes each transition wait inside its table lock."""

    jobforge_plugin_name = "sleeper"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @hookimpl
    def jobforge_before_transition(self, event: object) -> None:
        time.sleep(self.seconds)


def _wait_for(go: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{go} never appeared")
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.steps import GoldSpec, Rule, SilverSpec
    from jobforge.errors import JobforgeError
    from jobforge.pipeline.config import PipelineConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["pipeline", "silver-loop", "gold-loop"])
    parser.add_argument("root", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--to", default="silver")
    parser.add_argument("--gap", type=float, default=0.0)
    parser.add_argument("--lock-timeout", type=float, default=120.0)
    parser.add_argument("--times", type=int, default=1)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--go", type=Path)
    parser.add_argument("--format", default="parquet", help="[storage] format: the table store")
    args = parser.parse_args(argv)

    plugins = [Sleeper(args.sleep)] if args.sleep else []
    config = PipelineConfig(
        args.root, plugins=plugins, entry_points=False, storage_format=args.format
    )
    engine = PipelineEngine(config, lock_timeout=args.lock_timeout)
    if args.ready is not None:
        args.ready.write_text(str(os.getpid()))
        _wait_for(args.go)
    summary: dict[str, object] = {"pid": os.getpid(), "start": time.time()}
    try:
        if args.command == "pipeline":
            table, source = args.names
            batches = []
            for _ in range(args.times):
                if args.to == "staged":
                    batches.append(engine.ingest(source, table, force=args.force).batch_id)
                elif args.gap:
                    with engine.lock(table):
                        batch = engine.ingest(source, table, force=args.force).batch_id
                        time.sleep(args.gap)
                        engine.promote_to_bronze(table, batch_id=batch)
                        time.sleep(args.gap)
                        engine.promote_to_silver(table, batch_id=batch)
                    batches.append(batch)
                else:
                    batches.append(
                        engine.run_full_pipeline(source, table, force=args.force).batch_id
                    )
            summary["batch_id"], summary["batches"] = batches[-1], batches
        elif args.command == "silver-loop":
            (table,) = args.names
            keep_all = SilverSpec(dedupe="none")
            drop_units = SilverSpec(
                dedupe="none", rules=[Rule(id="not_unit_group", expression="Level <> '5'")]
            )
            counts = []
            for index in range(args.times):
                result = engine.promote_to_silver(table, keep_all if index % 2 else drop_units)
                counts.append(result.record.ledger.rows_out)
            summary["rows_out"] = counts
        else:
            name, source_table = args.names
            spec = GoldSpec(name=name, inputs=[source_table], sql=f"SELECT * FROM {source_table}")
            seen = []
            for _ in range(args.times):
                record = engine.promote_to_gold(spec).record
                seen.append([record.row_count_in, record.row_count_out, record.source_files])
            summary["gold"] = seen
    except JobforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary["end"] = time.time()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
