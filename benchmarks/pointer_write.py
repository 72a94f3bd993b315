"""What writing a version pointer whole costs as a table's history grows.

``python benchmarks/pointer_write.py FOLDER [--repeat N]`` takes the silver
pointer of the appended table of :mod:`append_steps` in ``FOLDER`` (a folder
made with ``--batches 1000``, say) and times, ``N`` times each, the parts of
publishing a version with one batch more (what :func:`jobforge.storage.versions.publish`
does): the new version built (``next_version``), its JSON dumped, and the bytes
written atomically and flushed (``atomic_write_bytes``, a temporary file, its
``fsync``, the rename and the folder's ``fsync``) to a scratch folder beside
``FOLDER`` (``FOLDER`` itself is not written). Prints the pointer's size and the
median milliseconds of each part, with the CPU seconds and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    from jobforge.storage import versions
    from jobforge.storage.atomic import atomic_write_bytes

    layer_dir = args.folder / "data" / "silver"
    current = versions.read_current(layer_dir, "tiny")
    if current is None:
        parser.error(f"{layer_dir}/tiny/_current.json: no pointer (make the folder first)")
    new = current.batches[-1].model_copy(
        update={"batch_id": "extra", "file": "batch=extra.parquet"}
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = time.process_time()
    times: dict[str, list[float]] = {"built": [], "dumped": [], "written and flushed": []}
    scratch = Path(tempfile.mkdtemp(prefix="pointer-", dir=args.folder.resolve().parent))
    try:
        for _ in range(args.repeat):
            start = time.perf_counter()
            version = versions.next_version(
                "tiny",
                "silver",
                [new],
                mode="append",
                updated_at=current.updated_at,
                record_id=None,
                previous=current,
            )
            built = time.perf_counter()
            data = (version.model_dump_json(indent=2) + "\n").encode("utf-8")
            dumped = time.perf_counter()
            atomic_write_bytes(scratch / versions.POINTER_NAME, data)
            written = time.perf_counter()
            times["built"].append(built - start)
            times["dumped"].append(dumped - built)
            times["written and flushed"].append(written - dumped)
    finally:
        shutil.rmtree(scratch)
    cpu = time.process_time() - cpu
    print(f"pointer of {len(version.batches)} batches: {len(data)} bytes")
    for part, seconds in times.items():
        print(f"{part}: median {1000 * statistics.median(seconds):.2f} ms")
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cpu {cpu:.2f} s for {args.repeat} repeats; load {load} -> {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
