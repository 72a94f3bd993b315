"""What publishing a Spark result costs the driver, before and after a version
became Spark's part files, in the same run.

The part files stand in for what Spark's tasks wrote (pyarrow writes them, zstd,
as Spark's default codec here: the driver's cost does not depend on who wrote
them). For the same parts, two ways:

- ``copy`` (before): every part read batch by batch and written through the
  engine's hashing sink into one file (the former ``write_one_file``);
- ``move`` (after): every part renamed into place and hashed once by one
  streaming read (:func:`jobforge.audit.digest.sha256_file`), as the engine
  hashes a file Spark wrote (Spark gives no way to hash while it writes).

    python benchmarks/spark_parts.py [--rows 1000000] [--parts 8] [--repeat 3]

Prints the bytes, the median wall and CPU seconds of each way and the ratio of
``move`` to ``copy``. The parts are written again before each way and repeat
(the page cache holds them in both cases); the order of the ways alternates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jobforge.audit.digest import sha256_file
from jobforge.storage.hashing import HashingFile


def _parts(folder: Path, rows: int, parts: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = rows // parts
    paths = []
    for index in range(parts):
        start = index * size
        table = pa.table(
            {
                "_source_row": pa.array(range(start, start + size), pa.int64()),
                "code": pa.array([f"c{i % 9973}" for i in range(start, start + size)]),
                "n": pa.array([i * 0.5 for i in range(start, start + size)]),
            }
        )
        path = folder / f"part-{index:05d}.parquet"
        pq.write_table(table, path, compression="zstd")
        paths.append(path)
    return paths


def copy(parts: list[Path], out: Path) -> None:
    schema = pq.read_schema(parts[0])
    with HashingFile(out / "one.parquet") as sink, pq.ParquetWriter(sink, schema) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches():
                writer.write_batch(batch)


def move(parts: list[Path], out: Path) -> None:
    for index, part in enumerate(parts):
        target = out / f"batch=b.part-{index:05d}.parquet"
        os.replace(part, target)
        sha256_file(target)


def _timed(
    way: Callable[[list[Path], Path], None], root: Path, args: argparse.Namespace
) -> tuple[float, float, int]:
    parts = _parts(root / "spark", args.rows, args.parts)
    size = sum(p.stat().st_size for p in parts)
    out = root / "layer"
    out.mkdir(exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    way(parts, out)
    return time.perf_counter() - wall, time.process_time() - cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"copy": [], "move": []}
    size = 0
    ways = {"copy": copy, "move": move}
    for repeat in range(args.repeat):
        order = list(ways) if repeat % 2 == 0 else list(reversed(ways))
        for name in order:
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu, size = _timed(ways[name], Path(tmp), args)
            figures[name].append((wall, cpu))
    print(f"rows {args.rows}, parts {args.parts}, part bytes {size}")
    medians = {}
    for name, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = (wall, cpu)
        print(f"{name:5s} wall {wall:.3f} s  cpu {cpu:.3f} s")
    (cw, cc), (mw, mc) = medians["copy"], medians["move"]
    print(f"move / copy: wall {mw / cw:.2f}x  cpu {mc / cc:.2f}x")


if __name__ == "__main__":
    main()
