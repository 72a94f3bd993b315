"""What recording file digests costs a transition, before and after hashing while
writing, in the same run.

For each writer a step uses (polars ``sink_parquet``; a pyarrow
``ParquetWriter``, as the duckdb and spark executors and gold SQL write), the
same rows are written three ways:

- ``plain``: to a path, no digest (the floor);
- ``reread`` (before): to a path, then hashed by reading the file back
  (:func:`jobforge.audit.digest.sha256_file`; the bytes are still in the page
  cache);
- ``sink`` (after): through the hashing sink a step writes through
  (:class:`jobforge.storage.hashing.HashingFile`), no second read.

    python benchmarks/audit_hashing.py [--rows 1000000] [--repeat 3] [--json]

Also the CPU seconds of the sha256 alone over the file's bytes in memory (what
hashing while writing adds at least). Prints the file size, the median wall and
CPU seconds (every thread of the process: less disturbed by other work on the
machine) of each way, and their ratios to ``plain``.
The order of the ways rotates from one repeat to the next, so a load on the
machine falls on all of them; every way must write the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa

from jobforge.audit.digest import sha256_file
from jobforge.storage import literal
from jobforge.storage.hashing import HashingFile

WRITE = {"compression": "zstd", "compression_level": 1}


def _frame(rows: int) -> pl.LazyFrame:
    """Rows shaped like a silver table: codes, titles, counts, wages."""
    return pl.LazyFrame({"i": range(rows)}).select(
        noc_code=pl.col("i").cast(pl.String).str.zfill(5),
        title=pl.format("occupation {}", pl.col("i") % 5000),
        employment=(pl.col("i") * 7919) % 100_000,
        median_wage=((pl.col("i") * 104_729) % 9_000_000) / 100.0,
    )


def _polars(frame: pl.LazyFrame) -> Callable[[Path | HashingFile], None]:
    def write(target: Path | HashingFile) -> None:
        literal.sink_parquet(frame, target, **WRITE)

    return write


def _arrow(table: pa.Table) -> Callable[[Path | HashingFile], None]:
    batches = table.to_batches(max_chunksize=122_880)

    def write(target: Path | HashingFile) -> None:
        with literal.parquet_writer(target, table.schema, **WRITE) as writer:
            for batch in batches:
                writer.write_batch(batch)

    return write


WAYS = ("plain", "reread", "sink")


def _once(
    way: str, write: Callable[[Path | HashingFile], None], path: Path
) -> tuple[float, float, str]:
    """Wall and CPU seconds (every thread of the process) of one way, and the
    digest of the file it wrote."""
    path.unlink(missing_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    if way == "sink":
        with HashingFile(path) as sink:
            write(sink)
        assert sink.digest is not None
        digest = sink.digest[0]
    else:
        write(path)
        digest = sha256_file(path)[0] if way == "reread" else ""
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, digest or sha256_file(path)[0]  # plain: hashed outside the timing


def _ways(
    write: Callable[[Path | HashingFile], None], path: Path, repeat: int
) -> dict[str, list[float]]:
    """Seconds of each way, ``repeat`` times, in a rotated order each time (no way
    is always the first); checks every way wrote the same bytes."""
    samples: dict[str, list[float]] = {k: [] for way in WAYS for k in (way, f"{way}_cpu")}
    digests = set()
    for i in range(repeat):
        for way in WAYS[i % 3 :] + WAYS[: i % 3]:
            wall, cpu, digest = _once(way, write, path)
            samples[way].append(wall)
            samples[f"{way}_cpu"].append(cpu)
            digests.add(digest)
    if len(digests) != 1:
        raise SystemExit(f"the ways wrote different bytes: {sorted(digests)}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    frame = _frame(args.rows)
    writers = {"polars": _polars(frame), "pyarrow": _arrow(frame.collect().to_arrow())}
    figures: dict[str, object] = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as folder:
        for name, write in writers.items():
            path = Path(folder) / f"{name}.parquet"
            samples = _ways(write, path, args.repeat)
            median = {way: statistics.median(s) for way, s in samples.items()}
            data = path.read_bytes()
            hashing = []
            for _ in range(args.repeat):  # the sha256 alone, of the bytes in memory
                start = time.process_time()
                hashlib.sha256(data).hexdigest()
                hashing.append(time.process_time() - start)
            figures[name] = {
                "file_bytes": path.stat().st_size,
                **{f"{way}_s": round(s, 4) for way, s in median.items()},
                "reread_over_plain": round(median["reread"] / median["plain"], 3),
                "sink_over_plain": round(median["sink"] / median["plain"], 3),
                "reread_cpu_over_plain": round(median["reread_cpu"] / median["plain_cpu"], 3),
                "sink_cpu_over_plain": round(median["sink_cpu"] / median["plain_cpu"], 3),
                "sha256_only_cpu_s": round(statistics.median(hashing), 4),
            }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"rows={args.rows} repeat={args.repeat} (median seconds)")
    for name in writers:
        f = figures[name]
        assert isinstance(f, dict)
        print(
            f"{name}: file={f['file_bytes'] / (1 << 20):.1f} MiB plain {f['plain_s']:.3f} s, "
            f"write+reread (before) {f['reread_s']:.3f} s, write through sink (after) "
            f"{f['sink_s']:.3f} s; reread/plain={f['reread_over_plain']:.3f} "
            f"sink/plain={f['sink_over_plain']:.3f}"
        )
        print(
            f"{name} CPU: plain {f['plain_cpu_s']:.3f} s, before {f['reread_cpu_s']:.3f} s, "
            f"after {f['sink_cpu_s']:.3f} s; reread/plain={f['reread_cpu_over_plain']:.3f} "
            f"sink/plain={f['sink_cpu_over_plain']:.3f}; the sha256 alone "
            f"{f['sha256_only_cpu_s']:.3f} s"
        )


if __name__ == "__main__":
    main()
