"""The sha256 of a file: how jobforge recognises a source it has read before."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from jobforge.storage import reads


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks (while :mod:`jobforge.storage.reads`
    records, the digest is recorded as the file's state: it is not read twice)."""
    digest = hashlib.sha256()
    recording = reads.pause()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    finally:
        reads.resume(recording)
    if recording is not None:
        recording.files.setdefault(os.path.abspath(path), digest.hexdigest())
    return digest.hexdigest()
