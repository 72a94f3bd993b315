"""Time and peak memory of ``jobforge query`` writing a large result.

``python benchmarks/query_stream.py --rows 100000000`` runs, each in its own
process on an empty data root, ``jobforge query "SELECT range FROM range(N)"``
in every output format (csv, json and table to /dev/null, parquet to a file
under ``--workdir``) and prints, per format, the wall seconds and the child's
peak RSS (``ru_maxrss`` from ``wait4``). The last line is::

    rows=N csv_s=... csv_peak_mib=... json_s=... ... parquet_peak_mib=...
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobforge.testing.usage import MeasuredProcess

JOBFORGE = shutil.which("jobforge", path=str(Path(sys.executable).parent)) or "jobforge"


def measure(rows: int, fmt: str, workdir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one ``jobforge query`` of ``rows`` rows."""
    args = [
        JOBFORGE,
        "--data-root",
        str(workdir / "data"),
        "query",
        f"SELECT range FROM range({rows})",
        "--format",
        fmt,
        "--timeout",
        "0",
    ]
    out = workdir / "result.parquet"
    if fmt == "parquet":
        args += ["--output", str(out)]
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        process = MeasuredProcess(args, stdout=sink, stderr=subprocess.PIPE)
        assert process.stderr is not None
        errors = process.stderr.read().decode()
        usage = process.wait()
    seconds = time.perf_counter() - started
    if usage.returncode != 0:
        raise SystemExit(f"{fmt}: jobforge query failed: {errors.strip()}")
    out.unlink(missing_ok=True)
    return seconds, usage.peak_mib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--formats", default="csv,json,parquet,table")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jobforge-query-"))
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    figures = []
    for fmt in args.formats.split(","):
        seconds, peak = measure(args.rows, fmt, workdir)
        print(f"{fmt}: {args.rows} rows in {seconds:.2f} s, peak {peak:.0f} MiB", flush=True)
        figures.append(f"{fmt}_s={seconds:.2f} {fmt}_peak_mib={peak:.0f}")
    print(f"rows={args.rows} " + " ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
