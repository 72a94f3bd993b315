"""The table journal as lines: written whole once, then one line a phase.

A reader (the next run's recovery) must see every append that was flushed, in
order, and none that a crash cut short: for every sequence of changes, and for
every byte at which the last append may have been cut, what
:func:`read_journal` returns is the journal as it stood before that append, or
after it when the append is whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.errors import TransitionError
from jobforge.storage.journal import (
    Journal,
    append_journal,
    journal_path,
    read_journal,
    write_journal,
)

FAILED = {"status": "failed", "errors": ["interrupted"], "row_count_in": 3}


def _start(locks: Path, table: str = "codes") -> Journal:
    journal = Journal(table=table, layer="bronze", record_id="r-1", phase="running", failed=FAILED)
    write_journal(locks, journal)
    return journal


def test_appended_lines_are_applied_in_order(tmp_path: Path) -> None:
    _start(tmp_path)
    append_journal(
        tmp_path,
        "codes",
        {"phase": "publishing", "record": {"rows": 3}, "files": ["/d/a.parquet"]},
    )
    append_journal(tmp_path, "codes", {"phase": "switching", "metadata": {"table_name": "codes"}})
    lines = journal_path(tmp_path, "codes").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # whole, then one line a phase
    kept = read_journal(tmp_path, "codes")
    assert kept is not None
    assert kept.phase == "switching"
    assert kept.record == {"rows": 3} and kept.files == ["/d/a.parquet"]
    assert kept.metadata == {"table_name": "codes"}
    assert kept.failed == FAILED and kept.record_id == "r-1"  # the first line's, unchanged


def test_a_journal_of_one_line_reads_as_before(tmp_path: Path) -> None:
    """A journal written whole (as every journal was before lines were appended)."""
    journal = _start(tmp_path).model_copy(update={"phase": "switching", "metadata": {"a": 1}})
    write_journal(tmp_path, journal)
    assert read_journal(tmp_path, "codes") == journal


def test_an_append_cut_short_is_left_out(tmp_path: Path) -> None:
    _start(tmp_path)
    append_journal(tmp_path, "codes", {"phase": "publishing", "files": ["/d/a.parquet"]})
    path = journal_path(tmp_path, "codes")
    with path.open("ab") as handle:  # a crash in the middle of the next append
        handle.write(b'{"phase":"switching","metad')
    kept = read_journal(tmp_path, "codes")
    assert kept is not None and kept.phase == "publishing" and kept.metadata is None


@pytest.mark.parametrize(
    ("line", "number"),
    [
        (b"not json\n", 2),
        (b"[1, 2]\n", 2),
        (b'{"phase": "publishing", "colour": "red"}\n', 2),
        (b'{"phase": "publishing"}\n{"phase": 7}\n', 3),
    ],
)
def test_a_whole_line_that_is_not_journal_fields_is_an_error(
    tmp_path: Path, line: bytes, number: int
) -> None:
    _start(tmp_path)
    path = journal_path(tmp_path, "codes")
    with path.open("ab") as handle:
        handle.write(line)
    with pytest.raises(TransitionError) as caught:
        read_journal(tmp_path, "codes")
    message = str(caught.value)
    assert message.startswith(f"{path}: not a journal jobforge wrote (")
    assert "\n" not in message
    if number == 3:  # valid JSON of its fields, but a phase that is not one
        assert "phase" in message
    else:
        assert f"line {number} is not a JSON object of its fields" in message


def test_an_append_never_starts_a_journal_nor_writes_other_fields(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        append_journal(tmp_path, "codes", {"phase": "publishing"})
    assert not journal_path(tmp_path, "codes").exists()
    _start(tmp_path)
    before = journal_path(tmp_path, "codes").read_bytes()
    with pytest.raises(ValueError, match="not fields of a journal: \\['colour'\\]"):
        append_journal(tmp_path, "codes", {"colour": "red"})
    assert journal_path(tmp_path, "codes").read_bytes() == before


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_changes = st.one_of(
    st.fixed_dictionaries(
        {"phase": st.just("publishing"), "files": st.lists(_text, max_size=3)},
        optional={"record": st.dictionaries(_text, st.integers() | _text, max_size=3)},
    ),
    st.fixed_dictionaries(
        {"phase": st.just("switching")},
        optional={"metadata": st.dictionaries(_text, st.integers() | _text, max_size=3)},
    ),
    st.fixed_dictionaries({"failed": st.dictionaries(_text, _text, min_size=1, max_size=3)}),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(_changes, min_size=1, max_size=4), data=st.data())
def test_every_cut_of_the_last_append_reads_as_before_or_after_it(
    tmp_path: Path, changes: list[dict[str, Any]], data: st.DataObject
) -> None:
    locks = tmp_path / f"locks-{data.draw(st.uuids()).hex}"
    expected = _start(locks)
    before = expected
    for change in changes:
        append_journal(locks, "codes", change)
        before, expected = expected, expected.model_copy(update=change)
    assert read_journal(locks, "codes") == expected
    path = journal_path(locks, "codes")
    whole = path.read_bytes()
    last = len(whole) - len(whole.rstrip(b"\n").rpartition(b"\n")[2]) - 1
    cut = data.draw(st.integers(min_value=last, max_value=len(whole) - 1), label="cut at")
    path.write_bytes(whole[:cut])  # the last append's bytes up to the cut
    assert read_journal(locks, "codes") == before
