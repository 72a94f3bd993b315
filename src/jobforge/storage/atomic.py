"""Atomic file writes: write to a hidden temporary name in the same directory,
flush it to disk, then rename it into place.

A crash at any moment leaves either the previous file or the new one under the
final name, never a half-written file. Temporary files are named
``.jobforge-tmp-<32 hex>-<final name>.tmp``: they start with :data:`TEMP_PREFIX`
and end with :data:`TEMP_SUFFIX`, so no reader's ``*.parquet`` or ``*.json``
pattern ever matches one (``pathlib`` globs *do* match dot-files, so the
suffix is what hides them). The next run on a table removes the temporaries
its interrupted predecessor left (:func:`remove_stale_temporaries`,
:func:`remove_stale_temporaries_of`), under the table's lock; those of the
catalog folders every table shares go under those folders' locks
(:mod:`jobforge_catalog_json.shared`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".jobforge-tmp-"
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(
    rf"^{re.escape(TEMP_PREFIX)}[0-9a-f]{{32}}-(?P<final>.+){re.escape(TEMP_SUFFIX)}$"
)


def temporary_path_for(path: Path) -> Path:
    """A unique hidden name beside ``path``, on the same file system."""
    return path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}{TEMP_SUFFIX}")


def final_name_of(temporary: Path) -> str | None:
    """The final file name a temporary file was written for (``None``: not a temporary)."""
    match = _TEMP_NAME.match(temporary.name)
    return match.group("final") if match else None


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is untouched.
    ``os.replace`` replaces a symbolic link planted under the final name
    instead of writing through it. ``durable=False`` skips the flushes to disk
    (the rename is still atomic for other processes; for information only,
    such as a lock's holder).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path_for(final)
    replaced = False
    try:
        yield tmp
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, final)
        replaced = True
        if durable:
            _fsync_directory(final.parent)
    finally:
        if not replaced:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def remove_stale_temporaries(root: str | os.PathLike[str]) -> int:
    """Delete every temporary file below ``root`` (recursively) left by an
    interrupted run, and every temporary folder (a reader's scratch folder)
    with what it holds.

    Call it only while holding the lock that every writer below ``root`` holds
    (the table's, a shared catalog folder's), or when no run is active.
    Symbolic links are not followed. Returns how many files and folders were
    removed.
    """
    removed = 0
    base = Path(root)
    if not base.is_dir() or base.is_symlink():
        return 0
    for directory, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not (Path(directory) / d).is_symlink()]
        for name in [d for d in dirs if d.startswith(TEMP_PREFIX)]:
            shutil.rmtree(Path(directory) / name, ignore_errors=True)
            dirs.remove(name)
            removed += 1
        for name in files:
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    (Path(directory) / name).unlink()
                    removed += 1
    return removed


def remove_stale_temporaries_of(directory: str | os.PathLike[str], final_name: str) -> int:
    """Delete the temporaries of the one file ``directory/final_name``.

    For folders shared by several tables (``catalog/tables/<layer>/``): only the
    temporaries written for this final name go, so a run never removes the
    in-flight file of a run on another table.
    """
    removed = 0
    base = Path(directory)
    if not base.is_dir() or base.is_symlink():
        return 0
    # One listing of the folder with plain string tests (no pattern matching per
    # entry): the folder holds every table's files, and this runs for each table.
    ending = f"-{final_name}{TEMP_SUFFIX}"
    with os.scandir(base) as entries:
        names = [
            e.name for e in entries if e.name.startswith(TEMP_PREFIX) and e.name.endswith(ending)
        ]
    for name in names:
        tmp = base / name
        if final_name_of(tmp) == final_name:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                tmp.unlink()
                removed += 1
    return removed


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return the folders created,
    deepest first, so that :func:`remove_empty_dirs` can undo exactly them."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty_dirs(folders: list[Path]) -> None:
    """Remove each folder of ``folders`` (deepest first) that is empty: what a
    refused or failed step created and left nothing in."""
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
