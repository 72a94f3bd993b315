"""sha256 and size of the files a transition publishes, and of files read back
by ``jobforge verify``: one streaming read of the bytes, a fixed-size buffer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from jobforge.pipeline.models import FileDigest
from jobforge.storage.store import Draft

CHUNK_BYTES = 1 << 20
"""Bytes read at a time: memory stays flat whatever the file's size."""


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and the size in bytes of the file at ``path``, read once."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def recorded_path(data_root: Path, path: Path) -> str:
    """How a record names a file: relative to the data root when inside it (so a
    data root copied elsewhere still verifies), absolute otherwise."""
    absolute = Path(os.path.abspath(path))
    root = Path(os.path.abspath(data_root))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(absolute)


def draft_digests(data_root: Path, draft: Draft) -> list[FileDigest]:
    """The digests of every file the draft will publish (data, quarantine,
    duplicates): the record that publishes them holds what was written.

    A file written through its sink (:meth:`~jobforge.storage.pending.PendingFiles.sink_for`)
    was hashed as it was written and is not read again; one written to a path
    by a writer that cannot write to a file object is hashed from its
    temporary, before it is renamed into place (:func:`sha256_file`)."""
    targets: dict[Path | None, Literal["data", "quarantine", "duplicates"]] = {
        draft.targets.data: "data",
        draft.targets.quarantine: "quarantine",
        draft.targets.duplicates: "duplicates",
    }
    roles = {  # an output written in parts: each part has its output's role
        part: role
        for target, role in targets.items()
        if target is not None
        for part in draft.pending.parts_of(target)
    }
    digests = []
    for final, tmp in draft.pending.to_publish().items():
        hashed = draft.pending.written_digest(final)
        sha256, size = hashed if hashed is not None else sha256_file(tmp)
        digests.append(
            FileDigest(
                role=roles[final],
                path=recorded_path(data_root, final),
                sha256=sha256,
                size_bytes=size,
            )
        )
    return digests
