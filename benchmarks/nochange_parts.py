"""Where a no-change run's time goes, part by part.

``python benchmarks/nochange_parts.py FOLDER [--repeat N]`` runs, in this
process and in the order ``jobforge run`` takes them, the parts of a run of
the project in ``FOLDER`` that the up-to-date index answers (run the project
once or twice first, so that the index is kept), and prints the wall
milliseconds of each, the median over ``--repeat`` processes:

- ``imports``: the modules the ``run`` command imports;
- ``load``: ``jobforge.toml`` parsed and validated;
- ``config``: the pipeline configuration (the data root checked apart from
  the sources);
- ``checks``: the project checks before a run (every layout folder apart
  from the sources, no source inside a folder jobforge writes; this builds
  the plugin host);
- ``key``, ``glossary``, ``lookup``: the index's key, the glossary written if
  it changed, the index checked (every source hashed, every pointer and record
  it kept hashed, every folder listed).

Each repetition is a new process (``-c`` of this file's ``_parts``), so the
imports are a cold process's. The run's report and run record are not
included. Exits 1 if the index did not answer (the project has changed since
its last run, or no run kept the index).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PARTS = ["imports", "load", "config", "checks", "key", "glossary", "lookup"]


def _parts(folder: str) -> None:
    import time

    started = time.perf_counter()
    import jobforge.cli.app  # noqa: F401
    from jobforge.project import uptodate
    from jobforge.project.loader import load_project
    from jobforge.project.runner import (
        check_project_run,
        project_config,
        selected_tables,
        table_inputs,
        write_glossary,
    )

    marks = [time.perf_counter()]
    project = load_project(Path(folder) / "jobforge.toml")
    marks.append(time.perf_counter())
    config = project_config(project)
    marks.append(time.perf_counter())
    tables = selected_tables(project, None)
    check_project_run(project, config, tables)
    marks.append(time.perf_counter())
    key = uptodate.index_key(project, config)
    marks.append(time.perf_counter())
    write_glossary(project, config)
    marks.append(time.perf_counter())
    inputs = {name: table_inputs(project, name) for name in tables}
    kept = uptodate.answered(config, key, tables, inputs) or {}
    marks.append(time.perf_counter())
    seconds = [b - a for a, b in zip([started, *marks], marks, strict=False)]
    print(json.dumps({"answered": len(kept) == len(tables), "seconds": seconds}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    code += f"import nochange_parts; nochange_parts._parts({str(args.folder.resolve())!r})"
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        result = json.loads(out.splitlines()[-1])
        if not result["answered"]:
            print(f"{args.folder}: the up-to-date index did not answer; run the project first")
            return 1
        runs.append(result["seconds"])
    medians = [statistics.median(run[i] for run in runs) * 1000 for i in range(len(PARTS))]
    shown = ", ".join(f"{name} {ms:.1f}" for name, ms in zip(PARTS, medians, strict=True))
    print(f"median ms over {args.repeat} processes: {shown}; sum {sum(medians):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
