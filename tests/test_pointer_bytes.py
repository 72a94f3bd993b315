"""A version pointer's bytes are made from each batch entry's JSON, kept from
the pointer last written (``versions.pointer_bytes``): whatever the version and
whatever was kept, the bytes are the version's whole dump,
``model_dump_json(indent=2)`` and a newline, which is what ``_current.json``
has always held."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jobforge.storage import versions
from jobforge.storage.versions import BatchEntry, CurrentVersion

WHEN = datetime(2026, 12, 7, 14, 0, 0, 123456, tzinfo=UTC)

# any text a field may hold: quotes, backslashes, line breaks, control characters, non-ASCII
text = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
entries = st.builds(
    BatchEntry,
    batch_id=text,
    file=text,
    rows=st.integers(min_value=0, max_value=2**63),
    source_sha256=st.none() | text,
    source_file=st.none() | text,
    ingested_at=st.none() | st.datetimes(timezones=st.just(UTC)),
    record_id=st.none() | text,
    fingerprint=st.dictionaries(text, text, max_size=3),
    parts=st.lists(text, max_size=3),
)


def _version(batches: list[BatchEntry], extra: dict[str, Any], number: int) -> CurrentVersion:
    return CurrentVersion(
        table="tiny",
        layer="bronze",
        version=number,
        updated_at=WHEN,
        mode="append",
        batches=batches,
        record_id=f"record-{number}",
        extra=extra,
    )


def _dump(version: CurrentVersion) -> bytes:
    return (version.model_dump_json(indent=2) + "\n").encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(entries, max_size=5), extra=st.dictionaries(text, json_values, max_size=3))
def test_the_bytes_are_the_whole_dump_with_nothing_kept(
    batches: list[BatchEntry], extra: dict[str, Any]
) -> None:
    version = _version(batches, extra, 1)
    data, made = versions.pointer_bytes(version, {})
    assert data == _dump(version)
    assert {i: held[0] for i, held in made.items()} == {id(e): e for e in batches}


@settings(max_examples=300, deadline=None)
@given(
    first=st.lists(entries, max_size=5),
    new=st.lists(entries, max_size=3),
    replaced=st.lists(st.integers(min_value=0, max_value=4), max_size=2),
    extra=st.dictionaries(text, json_values, max_size=2),
)
def test_the_bytes_are_the_whole_dump_with_the_last_pointers_entries_kept(
    first: list[BatchEntry],
    new: list[BatchEntry],
    replaced: list[int],
    extra: dict[str, Any],
) -> None:
    """The next version shares the previous one's entries (append), takes new
    ones, and has some replaced by new entries of the same batch id."""
    previous = _version(first, {}, 1)
    _, made = versions.pointer_bytes(previous, {})
    again = [first[i].model_copy(update={"rows": 7}) for i in replaced if i < len(first)]
    following = versions.next_version(
        "tiny",
        "bronze",
        [*again, *new],
        mode="append",
        updated_at=WHEN,
        record_id="record-2",
        previous=previous,
    )
    following.extra = extra
    data, _ = versions.pointer_bytes(following, made)
    assert data == _dump(following)


def test_json_kept_beside_another_entry_is_not_used() -> None:
    """An ``id`` is another entry's once the first is gone: what is kept
    counts only for the very entry it was made of."""
    entry = BatchEntry(batch_id="b1", file="batch=b1.parquet", rows=3)
    other = BatchEntry(batch_id="b9", file="batch=b9.parquet", rows=9)
    version = _version([entry], {}, 1)
    data, made = versions.pointer_bytes(version, {id(entry): (other, b'"not this"')})
    assert data == _dump(version)
    assert b"not this" not in data and made[id(entry)][0] is entry


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=8))
def test_every_pointer_written_by_publish_is_the_whole_dump_and_reads_back(
    steps: list[tuple[bool, int]],
) -> None:
    """A sequence of real publications, appended or replacing, with batches
    published again: after each, the file holds the whole dump of the version
    returned, and reading it (from the file, not what the process kept) gives
    that version."""
    with tempfile.TemporaryDirectory() as folder:
        layer_dir = Path(folder)
        previous: CurrentVersion | None = None
        for number, (append, batch) in enumerate(steps, start=1):
            entry = BatchEntry(
                batch_id=f"b{batch}",
                file=versions.batch_file_name(f"b{batch}", f"-v{number}"),
                rows=number,
                ingested_at=WHEN,
                fingerprint={"input": f"{number:016x}"},
            )
            previous = versions.publish(
                layer_dir,
                "tiny",
                "bronze",
                [entry],
                mode="append" if append else "replace",
                updated_at=WHEN,
                record_id=f"record-{number}",
                previous=previous,
            )
            on_disk = (layer_dir / "tiny" / versions.POINTER_NAME).read_bytes()
            assert on_disk == _dump(previous)
            assert CurrentVersion.model_validate(json.loads(on_disk)) == previous
