"""How a step flushes to disk: which files and folders are fsynced, and in what
order relative to its commit point (the rename of ``_current.json``).

``os.fsync`` and ``os.replace`` are wrapped in this process (they note the path,
then call the real function): the steps write real files with real flushes. The
order checked is the one docs/reliability.md (section 2, crash safety: "power
loss with a file system that honours fsync") relies on: every file the new
pointer names, and its folder, is on disk before the pointer is renamed; the
journal naming the staged files is on disk before they are renamed into place;
the lineage record and the catalog entry, files and folders, are on disk before
the journal is removed. At each rename of a data file or a pointer the journal is
read back (as the next run would read it) to check the phase it announces.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobforge.storage import versions
from jobforge.storage.journal import Journal, read_journal
from tests.engine_support import make_engine, write_csv

Event = tuple[str, str]
Seen = dict[str, Journal | None]
"""Final path renamed into place -> the journal of its table just before the rename."""


@pytest.fixture
def seen() -> Seen:
    return {}


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seen: Seen) -> list[Event]:
    noted: list[Event] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, os.unlink
    locks: list[Path] = []  # the folder of the journals, once found

    def fsync(fd: int) -> None:
        noted.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        final = Path(os.path.abspath(dst))
        if final.suffix == ".parquet" or final.name == versions.POINTER_NAME:
            locks[:] = locks or [j.parent for j in tmp_path.rglob("people.journal")]
            seen[str(final)] = read_journal(locks[0], "people") if locks else None
        noted.append(("rename", str(final)))
        real_replace(src, dst)

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        noted.append(("unlink", os.path.abspath(path)))
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "unlink", unlink)
    return noted


def _step(events: list[Event], journal: Path, pointer: Path) -> tuple[list[Event], int]:
    """The events from the step's first journal write to the journal's removal,
    and the index of the pointer's rename among them."""
    commit = events.index(("rename", str(pointer)))
    start = max(
        (i + 1 for i in range(commit) if events[i] == ("unlink", str(journal))),
        default=0,
    )
    end = events.index(("unlink", str(journal)), commit)
    step = events[start : end + 1]
    return step, step.index(("rename", str(pointer)))


def _synced_before(step: list[Event], index: int) -> set[str]:
    return {path for kind, path in step[:index] if kind == "fsync"}


def _renamed_at(step: list[Event], path: Path) -> int:
    return step.index(("rename", str(path)))


def _last_fsync_of(step: list[Event], path: Path) -> int:
    return max(i for i, e in enumerate(step) if e == ("fsync", str(path)))


def test_every_file_the_pointer_names_and_its_folder_are_flushed_before_the_commit(
    tmp_path: Path, events: list[Event], seen: Seen
) -> None:
    source = write_csv(
        tmp_path / "src" / "people.csv",
        ["id", "name"],
        [["1", "ann"], ["2", "bob"], ["2", "bob"], ["3", ""]],
    )
    engine = make_engine(tmp_path)
    engine.ingest(source, "people")
    engine.promote_to_bronze("people")
    engine.promote_to_silver("people")
    config = engine.config
    journal = config.locks_path() / "people.journal"

    counts = {}
    for layer in ("staged", "bronze", "silver"):
        layer_dir = config.layer_path(layer)
        table_dir = versions.table_dir(layer_dir, "people")
        pointer = table_dir / versions.POINTER_NAME
        step, commit = _step(events, journal, pointer)
        current = versions.read_current(layer_dir, "people")
        assert current is not None
        named = [table_dir / f for f in current.batches[-1].data_files()]
        before = _synced_before(step, commit)
        for data in named:
            renamed = _renamed_at(step, data)
            assert renamed < commit
            # its bytes flushed before its rename, its folder after it, both before the commit
            assert any(
                kind == "fsync" and Path(p).name.endswith(f"-{data.name}.tmp")
                for kind, p in step[:renamed]
            )
            assert renamed < _last_fsync_of(step[:commit], data.parent)
        # the journal is written whole once (running: renamed into place, its folder
        # flushed), before the step's first data file is renamed
        first_data = min(_renamed_at(step, d) for d in named)
        (running,) = [i for i, e in enumerate(step[:commit]) if e == ("rename", str(journal))]
        locks_flushed = _last_fsync_of(step[:first_data], config.locks_path())
        assert running < locks_flushed
        # then the line naming the staged files and the record, appended and flushed
        # before the first of them is renamed; and the line with the catalog entry,
        # flushed after the last of them and before the commit
        appended = [i for i, e in enumerate(step[:commit]) if e == ("fsync", str(journal))]
        last_data = max(_renamed_at(step, d) for d in named)
        assert len(appended) == 2
        assert locks_flushed < appended[0] < first_data
        assert last_data < appended[1] < commit
        for data in named:  # what the next run reads if the step dies at this rename
            kept = seen[str(data)]
            assert kept is not None and kept.phase == "publishing" and kept.metadata is None
            assert kept.record is not None and str(data) in kept.files
        kept = seen[str(pointer)]
        assert kept is not None and kept.phase == "switching" and kept.metadata is not None
        assert kept.metadata["table_name"] == "people" and kept.metadata["layer"] == layer
        assert kept.record_id == current.record_id
        # the commit itself is flushed (file before the rename, folder right after)
        assert step[commit + 1] == ("fsync", str(table_dir))
        # every file written after the commit, and its folder, before the journal goes
        after = step[commit + 2 : -1]
        for kind, path in after:
            if kind == "rename":
                renamed = after.index((kind, path))
                assert any(
                    k == "fsync" and p.endswith(f"-{Path(path).name}.tmp")
                    for k, p in after[:renamed]
                ), path
                assert renamed < _last_fsync_of(after, Path(path).parent), path
        assert str(table_dir) in before
        counts[layer] = sum(1 for kind, _ in step if kind == "fsync")

    # Counted by hand from the protocol (each durable write flushes its bytes before
    # the rename and its folder after it): the journal written whole once (running:
    # 1 file, 1 folder) and two lines appended (publishing, switching: 1 flush of
    # the journal each), the data file and its folder 2, the pointer 2, after the
    # commit the lineage record, chain head, schema history and the layer's entry
    # (4 files, 4 folders): 16. From bronze on, the
    # entry of the layer below, rewritten (1 file, 1 folder). Staged's first step
    # also writes the nine JSON Schemas of the catalog (9 files, 9 folders);
    # silver sets bob's second row apart as a duplicate (1 file, 1 folder).
    assert len(engine.config.store.set_apart_files("people", "duplicates")) == 1
    assert counts == {"staged": 16 + 18, "bronze": 16 + 2, "silver": 16 + 2 + 2}
