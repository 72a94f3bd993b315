"""Stamps of code files (size and modification time): what the keys of the
derived data jobforge keeps between runs (the project check's memo, the
up-to-date index, the gold SQL lineage memo) hold of the code their outcome
depends on, so that changed code is never answered from what older code gave."""

from __future__ import annotations

import os
from pathlib import Path


def file_stamp(path: str | os.PathLike[str] | None) -> list[int] | None:
    """``[size, modification time in ns]`` of ``path``; ``None`` if it has none."""
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns] if stat else None


def code_stamp(folder: Path) -> list[list[object]]:
    """Each ``.py`` file under ``folder`` (``__pycache__`` left out), in order,
    with its size and modification time."""
    found: list[list[object]] = []
    for base, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(base, name))
                found.append([os.path.join(base, name), stat.st_size, stat.st_mtime_ns])
    return found
