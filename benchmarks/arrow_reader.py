"""Peak memory of ingesting a file through a reader that gives Arrow batches only.

``python benchmarks/arrow_reader.py --rows 500000,2000000`` writes, for each row
count, a CSV of that many rows (five text columns, about 60 bytes a row) and
ingests it, each run in its own process measured by ``jobforge.testing.usage``
(a fresh launcher, so the figure is the run's alone), with a reader plugin
defined here that offers no native plan, so every executor reads its Arrow
stream:

- ``stream``: the reader's stream is ``pyarrow.csv.open_csv``, one block (1 MiB)
  of the file parsed per batch as the executor asks for it;
- ``whole``: the baseline, the same reader holding the whole file as one Arrow
  table (``pyarrow.csv.read_csv``) before the executor reads it.

It runs under the polars and DuckDB executors (``--executors``) and prints the
seconds and the peak resident memory of each run. A stream consumed in batches
keeps the peak flat as the file grows; the ``whole`` baseline grows with it.
The last line is::

    rows=N,M polars_stream_mib=a,b polars_whole_mib=c,d ... ratio_polars_stream=b/a ...

(``ratio_<executor>_<reader>``: the peak at the last row count over the peak at the
first; figures and the way to read them in docs/performance.md.)
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jobforge import hookimpl
from jobforge.testing.usage import MeasuredProcess

COLUMNS = ["code", "title", "group", "level", "note"]


def write_source(path: Path, rows: int) -> None:
    """A CSV of ``rows`` rows of text, the same for every run."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow([f"{i:08d}", f"title of row {i}", f"g{i % 97}", str(i % 5), "n" * 12])


class ArrowCsvReader:
    """A third-party style reader: Arrow batches only (no native plan)."""

    format = "csv"

    def __init__(self, path: Path, whole: bool) -> None:
        self.path = path
        self.whole = whole

    def read(self) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        from jobforge.plugin import SOURCE_ROW, ReadResult

        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()))
        options = pacsv.ReadOptions(block_size=1 << 20)

        def numbered(batches: Any) -> Any:
            first = 1
            for batch in batches:
                rows = pa.array(range(first, first + batch.num_rows), pa.int64())
                first += batch.num_rows
                yield batch.append_column(SOURCE_ROW, rows)

        def stream() -> pa.RecordBatchReader:
            if self.whole:
                table = pacsv.read_csv(self.path, read_options=options, convert_options=convert)
                source: Any = table.to_reader()
            else:
                source = pacsv.open_csv(self.path, read_options=options, convert_options=convert)
            schema = source.schema.append(pa.field(SOURCE_ROW, pa.int64()))
            return pa.RecordBatchReader.from_batches(schema, numbered(source))

        return ReadResult(batches=stream)


class ArrowCsvPlugin:
    jobforge_plugin_name = "arrow-csv"

    def __init__(self, whole: bool) -> None:
        self.whole = whole

    @hookimpl(tryfirst=True)
    def jobforge_source_reader(self, source: Any) -> Any:
        return ArrowCsvReader(source.path, self.whole)


def child(source: Path, data: Path, executor: str, mode: str) -> int:
    """One ingestion (run in the measured process)."""
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.pipeline.config import PipelineConfig

    config = PipelineConfig(
        data, entry_points=False, executor=executor, plugins=[ArrowCsvPlugin(mode == "whole")]
    )
    result = PipelineEngine(config).ingest(source, "t")
    assert result.record is not None and result.record.reader == "arrow-csv"
    print(result.rows)
    return 0


def measure(source: Path, workdir: Path, executor: str, mode: str) -> tuple[float, float, int]:
    """Seconds, peak MiB and rows staged of one ingestion in its own process."""
    data = Path(tempfile.mkdtemp(prefix=f"{executor}-{mode}-", dir=workdir))
    command = [sys.executable, __file__, "--child", str(source), str(data), executor, mode]
    started = time.perf_counter()
    process = MeasuredProcess(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    usage = process.wait()
    seconds = time.perf_counter() - started
    if usage.returncode != 0:
        raise SystemExit(f"{executor} {mode}: the ingestion failed: {err.decode().strip()}")
    return seconds, usage.peak_mib, int(out.decode().split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="500000,2000000")
    parser.add_argument("--executors", default="polars,duckdb")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        source, data, executor, mode = args.child
        return child(Path(source), Path(data), executor, mode)
    counts = [int(n) for n in args.rows.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jobforge-arrow-reader-"))
    workdir.mkdir(parents=True, exist_ok=True)
    peaks: dict[str, list[float]] = {}
    for rows in counts:
        source = workdir / f"source-{rows}.csv"
        write_source(source, rows)
        size = source.stat().st_size / (1 << 20)
        for executor in args.executors.split(","):
            for mode in ("stream", "whole"):
                seconds, peak, staged = measure(source, workdir, executor, mode)
                if staged != rows:
                    raise SystemExit(f"{executor} {mode}: staged {staged} rows of {rows}")
                peaks.setdefault(f"{executor}_{mode}", []).append(peak)
                print(
                    f"{executor} {mode}: {rows} rows ({size:.0f} MiB of CSV) in "
                    f"{seconds:.2f} s, peak {peak:.0f} MiB",
                    flush=True,
                )
        source.unlink()
    figures = [f"{k}_mib={','.join(f'{p:.0f}' for p in v)}" for k, v in peaks.items()]
    ratios = [f"ratio_{k}={v[-1] / v[0]:.2f}" for k, v in peaks.items()]
    print(f"rows={args.rows} " + " ".join(figures + ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
