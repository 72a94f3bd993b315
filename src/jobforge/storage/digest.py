"""The sha256 of a file: how jobforge recognises a source it has read before."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from jobforge.storage import reads

_recorded: dict[tuple[int, int, int, int, int], str] = {}
"""Digests computed while :mod:`jobforge.storage.reads` recorded, by the file's
device, inode, size, modification and change times (``st_ctime_ns`` moves with
every write and cannot be set back)."""


def _stamp(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks.

    While :mod:`jobforge.storage.reads` records, the digest is recorded as the
    file's state (the file is not read a second time for it), and a recording
    made with ``reuse_digests`` takes the digest computed earlier in this
    process for the same unchanged file instead of reading it again: the
    up-to-date index kept after a run names the bytes its checks saw, and the
    next run hashes the file itself before it trusts the index.
    """
    recording = reads.pause()
    try:
        stamp = _stamp(path) if recording is not None else None
        known = _recorded.get(stamp) if stamp is not None else None
        if recording is not None and recording.reuse_digests and known is not None:
            hexdigest = known
        else:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(chunk_size):
                    digest.update(chunk)
            hexdigest = digest.hexdigest()
            if stamp is not None:
                _recorded[stamp] = hexdigest
    finally:
        reads.resume(recording)
    if recording is not None:
        recording.files.setdefault(os.path.abspath(path), hexdigest)
    return hexdigest
