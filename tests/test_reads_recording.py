"""What :mod:`jobforge.storage.reads` records of the code run inside it (the
up-to-date index keeps it): real files in a temporary folder, the real audit hook."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import sys
import threading
from pathlib import Path

from jobforge.storage.digest import sha256_of
from jobforge.storage.reads import Reads, folder_state, recording


def test_reads_listings_and_globs_are_recorded(tmp_path: Path) -> None:
    data = tmp_path / "a.json"
    data.write_bytes(b'{"rows": 3}\n')
    (tmp_path / "b.csv").write_text("x\n1\n")
    seen = Reads()
    with recording(seen):
        assert data.read_bytes() == b'{"rows": 3}\n'
        with contextlib.suppress(FileNotFoundError):
            (tmp_path / "gone.json").read_text()
        names = sorted(os.listdir(tmp_path))
        matches = glob.glob(str(tmp_path / "*.csv"))
    assert names == ["a.json", "b.csv"] and matches == [str(tmp_path / "b.csv")]
    assert seen.files == {
        str(data): hashlib.sha256(b'{"rows": 3}\n').hexdigest(),
        str(tmp_path / "gone.json"): None,  # absent: a file appearing there is a change
    }
    assert seen.folders[str(tmp_path)] == folder_state(str(tmp_path))
    assert seen.globs == {f"{tmp_path / '*.csv'}\0" + "0": [str(tmp_path / "b.csv")]}
    assert not seen.wrote
    # outside the block nothing is recorded
    data.read_bytes()
    assert len(seen.files) == 2


def test_a_write_marks_the_recording(tmp_path: Path) -> None:
    seen = Reads()
    with recording(seen):
        (tmp_path / "out.txt").write_text("x")
    assert seen.wrote


def test_another_thread_is_not_recorded(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("x")
    seen = Reads()
    with recording(seen):
        thread = threading.Thread(target=other.read_text)
        thread.start()
        thread.join()
    assert seen.files == {}


def test_a_hashed_source_is_read_once_and_recorded_with_its_digest(tmp_path: Path) -> None:
    source = tmp_path / "source.csv"
    body = b"code,value\nA,1\nB,2\n"
    source.write_bytes(body)
    opened: list[str] = []

    def count(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and args[0] == str(source):
            opened.append(event)

    sys.addaudithook(count)  # stays installed: it only counts opens of this file
    seen = Reads()
    with recording(seen):
        digest = sha256_of(source)
    assert digest == hashlib.sha256(body).hexdigest()
    assert seen.files == {str(source): digest}
    assert len(opened) == 1  # the recording did not read it a second time


def _opens_of(path: Path) -> list[str]:
    """A list that learns each time ``path`` is opened for reading from now on
    (audit hooks stay for the process; this one only appends to its own list)."""
    opened: list[str] = []
    target = str(path)

    def hook(event: str, args: tuple[object, ...]) -> None:
        named = args[0] if event == "open" and args[1] == "r" else None
        if isinstance(named, (str, os.PathLike)) and os.path.abspath(os.fsdecode(named)) == target:
            opened.append(event)

    sys.addaudithook(hook)
    return opened


def test_a_digest_is_reused_only_by_a_recording_that_asks_and_only_for_the_same_bytes(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source.csv"
    source.write_bytes(b"code,name\n1,one\n")
    first = hashlib.sha256(b"code,name\n1,one\n").hexdigest()
    opened = _opens_of(source)
    with recording(Reads()):
        assert sha256_of(source) == first
    assert len(opened) == 1
    # a recording that does not ask reads the file again
    with recording(Reads()):
        assert sha256_of(source) == first
    assert len(opened) == 2
    # one that asks takes the digest of the same unchanged file, and records it
    again = Reads(reuse_digests=True)
    with recording(again):
        assert sha256_of(source) == first
    assert len(opened) == 2
    assert again.files == {str(source): first}
    # the same size and modification time, other bytes: the change time moved
    stat = source.stat()
    source.write_bytes(b"code,name\n2,two\n")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.stat().st_size == stat.st_size
    assert source.stat().st_mtime_ns == stat.st_mtime_ns
    with recording(Reads(reuse_digests=True)):
        assert sha256_of(source) == hashlib.sha256(b"code,name\n2,two\n").hexdigest()
    assert len(opened) == 3
    # outside a recording the file is always read
    assert sha256_of(source) == hashlib.sha256(b"code,name\n2,two\n").hexdigest()
    assert len(opened) == 4
