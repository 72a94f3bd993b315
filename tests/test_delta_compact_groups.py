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


_OWN_CD = ("batch=c.parquet", "batch=d.parquet")


def test_a_small_compacted_file_is_merged_again(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    size = sum((tmp_path / n).stat().st_size for n in ("compact=1.parquet", *_OWN_CD))
    groups = groups_to_compact(batches, local, target_bytes=size + 1)
    # compact=1 (a, b), c and d: one run below the target; e differs, f is alone after it
    assert [[b.batch_id for b in g] for g in groups] == [["a", "b", "c", "d"]]


def test_a_compacted_file_of_the_target_size_stays(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    size = (tmp_path / "compact=1.parquet").stat().st_size
    groups = groups_to_compact(batches, local, target_bytes=size)
    assert [[b.batch_id for b in g] for g in groups] == [["c", "d"]]


def test_a_run_is_closed_once_it_reaches_the_target(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    sizes = [p.stat().st_size for p in local]
    # compact=1 then c reach the target: d starts a run of its own, alone before e
    groups = groups_to_compact(batches, local, target_bytes=sizes[0] + sizes[2])
    assert [[b.batch_id for b in g] for g in groups] == [["a", "b", "c"]]


def test_a_batch_file_at_the_target_size_stays(tmp_path: Path) -> None:
    batches, local = _folder(tmp_path)
    c, d = ((tmp_path / n).stat().st_size for n in _OWN_CD)
    assert c == d
    # c and d are not below the target, compact=1 (larger, three rows) neither
    assert groups_to_compact(batches, local, target_bytes=c) == []


def test_a_run_is_closed_once_its_files_reach_the_target(tmp_path: Path) -> None:
    """Six one-batch files of one schema, a target of two of them: three runs of two
    (a run that reaches the target is closed, the next file starts another)."""
    for name in "abcdef":
        _write(tmp_path / f"batch={name}.parquet", [name])
    batches = [BatchEntry(batch_id=b, file=f"batch={b}.parquet", rows=1) for b in "abcdef"]
    local = [tmp_path / b.file for b in batches]
    sizes = {p.stat().st_size for p in local}
    assert len(sizes) == 1  # the same bytes each: one-row files of one schema
    one = sizes.pop()
    groups = groups_to_compact(batches, local, target_bytes=2 * one)
    assert [[b.batch_id for b in g] for g in groups] == [["a", "b"], ["c", "d"], ["e", "f"]]
    # a target of one file: every file is at it, nothing is merged
    assert groups_to_compact(batches, local, target_bytes=one) == []
    # just above three files: a, b, c, d reach it (closed), e and f make a run of two
    groups = groups_to_compact(batches, local, target_bytes=3 * one + 1)
    assert [[b.batch_id for b in g] for g in groups] == [["a", "b", "c", "d"], ["e", "f"]]
