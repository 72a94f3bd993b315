"""The sha256 of a file: how jobforge recognises a source it has read before."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
