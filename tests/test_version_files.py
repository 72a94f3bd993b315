"""The files of a table version (``CurrentVersion.files``): each batch's files in
the order of the batches, a batch's parts in row order, and a file several
batches share (a compacted file) once, where it first comes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from jobforge.storage.versions import BatchEntry, CurrentVersion

WHEN = datetime(2026, 12, 7, 21, 0, 0, tzinfo=UTC)
FOLDER = Path("/data/bronze/t")


def _version(batches: list[BatchEntry]) -> CurrentVersion:
    return CurrentVersion(
        table="t", layer="bronze", version=1, updated_at=WHEN, mode="append", batches=batches
    )


def test_parts_in_row_order_and_a_shared_file_once() -> None:
    batches = [
        BatchEntry(batch_id="a", file="compacted-1.parquet", rows=2),
        BatchEntry(batch_id="b", file="compacted-1.parquet", rows=3),
        BatchEntry(
            batch_id="c",
            file="batch=c.parquet",
            rows=4,
            parts=["batch=c.part-00000.parquet", "batch=c.part-00001.parquet"],
        ),
        BatchEntry(batch_id="d", file="batch=d.parquet", rows=1),
    ]
    assert _version(batches).files(FOLDER) == [
        FOLDER / "compacted-1.parquet",
        FOLDER / "batch=c.part-00000.parquet",
        FOLDER / "batch=c.part-00001.parquet",
        FOLDER / "batch=d.parquet",
    ]


names = st.sampled_from([f"f{i}.parquet" for i in range(6)])


@given(
    st.lists(
        st.tuples(names, st.lists(names, max_size=3, unique=True)),
        max_size=12,
    )
)
def test_every_file_of_every_batch_once_in_first_seen_order(
    shapes: list[tuple[str, list[str]]],
) -> None:
    batches = [
        BatchEntry(batch_id=f"b{i}", file=file, rows=1, parts=parts)
        for i, (file, parts) in enumerate(shapes)
    ]
    expected: list[Path] = []
    for file, parts in shapes:
        for name in parts or [file]:
            if FOLDER / name not in expected:
                expected.append(FOLDER / name)
    assert _version(batches).files(FOLDER) == expected
