"""Which files a compaction merges (``jobforge_delta.compact.groups_to_compact``),
on real parquet files: a compacted file below the target size is merged again
with the files next to it; one at or above it stays as it is, and so does a
batch whose schema differs from its neighbours'."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from jobforge_delta.compact import groups_to_compact

from jobforge.plugin import BATCH_ID, BatchEntry


def _write(path: Path, batches: list[str], extra: bool = False) -> None:
    columns = {BATCH_ID: batches, "code": [str(n) for n in range(len(batches))]}
    if extra:
        columns["label"] = ["x"] * len(batches)
    pq.write_table(pa.table(columns), path)


def _folder(tmp_path: Path) -> tuple[list[BatchEntry], list[Path]]:
    """a, b in compact=1 (merged before), then c, d in files of their own, then e
    with another column, then f."""
    _write(tmp_path / "compact=1.parquet", ["a", "a", "b"])
    for name in ("c", "d", "f"):
        _write(tmp_path / f"batch={name}.parquet", [name])
    _write(tmp_path / "batch=e.parquet", ["e"], extra=True)
    files = {"a": "compact=1.parquet", "b": "compact=1.parquet"}
    batches = [
        BatchEntry(batch_id=b, file=files.get(b, f"batch={b}.parquet"), rows=1) for b in "abcdef"
    ]
    return batches, [tmp_path / b.file for b in batches]


def test_a_small_compacted_file_is_merged_again(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    size = (tmp_path / "compact=1.parquet").stat().st_size
    groups = groups_to_compact(batches, local, target_bytes=size + 1)
    # compact=1 (a, b), c and d: one run; e differs, f is alone after it
    assert [[b.batch_id for b in g] for g in groups] == [["a", "b", "c", "d"]]


def test_a_compacted_file_of_the_target_size_stays(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    size = (tmp_path / "compact=1.parquet").stat().st_size
    groups = groups_to_compact(batches, local, target_bytes=size)
    assert [[b.batch_id for b in g] for g in groups] == [["c", "d"]]
