"""What recording file digests costs a transition: a parquet file is written as
a step writes one (polars ``sink_parquet``), then hashed as the transition
hashes it before renaming it into place (:func:`jobforge.audit.digest.sha256_file`,
reading the bytes just written, which are still in the page cache), against the
write itself and against a plain read of the same bytes (the floor of any read)
measured in the same run.

    python benchmarks/audit_hashing.py [--rows 4000000] [--repeat 3]

Prints the file size, the median seconds of each, and the ratios hash/write and
hash/read; the same figures with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from jobforge.audit.digest import CHUNK_BYTES, sha256_file
from jobforge.storage import literal


def _frame(rows: int) -> pl.LazyFrame:
    """Rows shaped like a silver table: codes, titles, counts, wages."""
    return pl.LazyFrame({"i": range(rows)}).select(
        noc_code=pl.col("i").cast(pl.String).str.zfill(5),
        title=pl.format("occupation {}", pl.col("i") % 5000),
        employment=(pl.col("i") * 7919) % 100_000,
        median_wage=((pl.col("i") * 104_729) % 9_000_000) / 100.0,
    )


def _plain_read(path: Path) -> int:
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            size += len(chunk)
    return size


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    writes, hashes, reads = [], [], []
    size = 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch.parquet"
        for _ in range(args.repeat):
            path.unlink(missing_ok=True)
            start = time.perf_counter()
            literal.sink_parquet(_frame(args.rows), path, compression="zstd")
            writes.append(time.perf_counter() - start)
            start = time.perf_counter()
            _, size = sha256_file(path)
            hashes.append(time.perf_counter() - start)
            start = time.perf_counter()
            _plain_read(path)
            reads.append(time.perf_counter() - start)
    figures = {
        "rows": args.rows,
        "file_bytes": size,
        "write_s": round(_median(writes), 4),
        "hash_s": round(_median(hashes), 4),
        "plain_read_s": round(_median(reads), 4),
        "hash_over_write": round(_median(hashes) / _median(writes), 3),
        "hash_over_read": round(_median(hashes) / _median(reads), 2),
        "hash_mib_per_s": round(size / (1 << 20) / _median(hashes), 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"rows={figures['rows']} file={size / (1 << 20):.1f} MiB")
    print(
        f"write {figures['write_s']:.3f} s, hash {figures['hash_s']:.3f} s "
        f"({figures['hash_mib_per_s']} MiB/s), plain read {figures['plain_read_s']:.3f} s"
    )
    print(f"hash/write={figures['hash_over_write']:.3f} hash/read={figures['hash_over_read']:.2f}")


if __name__ == "__main__":
    main()
