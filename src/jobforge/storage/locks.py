"""Per-table locks, so that two runs on the same table are serialised.

The lock is an OS file lock (``filelock``): the kernel releases it when the
holding process dies, even under ``kill -9``, so a crashed run never blocks
the next one. Beside the lock file, ``<table>.holder`` names the process that
holds it, for the error message of a run that gave up waiting.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from jobforge.errors import LockTimeoutError, PathEscapeError
from jobforge.storage.atomic import atomic_write_text
from jobforge.storage.names import validate_name

DEFAULT_TIMEOUT_S = 600.0


def lock_file(locks_dir: Path, table: str, kind: str = "") -> Path:
    return locks_dir / f"{validate_name(table)}{kind}.lock"


def holder_file(locks_dir: Path, table: str, kind: str = "") -> Path:
    return locks_dir / f"{validate_name(table)}{kind}.holder"


def _describe_self() -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}"


@contextlib.contextmanager
def _hold(locks_dir: Path, table: str, kind: str, what: str, timeout: float) -> Iterator[None]:
    lock_path = lock_file(locks_dir, table, kind)
    holder = holder_file(locks_dir, table, kind)
    for path in (locks_dir, lock_path, holder):
        if path.is_symlink():
            raise PathEscapeError(f"refusing to lock {what}: {path} is a symbolic link")
    locks_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        try:
            who = holder.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            who = "another process"
        raise LockTimeoutError(
            f"{what} is locked by {who}; gave up after {timeout:g} s (lock file {lock_path})"
        ) from None
    try:
        if kind == "":  # a catalog lock is held for milliseconds: no holder to name
            atomic_write_text(holder, _describe_self() + "\n", durable=False)
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def table_lock(locks_dir: Path, table: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of ``table`` for the duration of the block: one run at a
    time on a table, whatever the layer.

    Waits up to ``timeout`` seconds, then raises :class:`LockTimeoutError`
    naming the holder. A lock or holder file that is a symbolic link is
    refused (opening it would truncate whatever it points to).
    """
    with _hold(locks_dir, table, "", f"table {table!r}", timeout):
        yield


@contextlib.contextmanager
def catalog_lock(locks_dir: Path, table: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of ``table``'s catalog entries (``<table>.catalog.lock``).

    Held only while an entry is read, merged and written: a gold build adds
    itself to the ``downstream_tables`` of its inputs' entries without waiting
    for the runs on those tables (which hold their table lock for minutes).
    """
    with _hold(locks_dir, table, ".catalog", f"the catalog entry of {table!r}", timeout):
        yield


@contextlib.contextmanager
def folder_lock(locks_dir: Path, folder: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of a catalog folder every table shares (``glossary``,
    ``schemas``): ``<folder>.folder.lock``, which no table's lock can be named
    (table names hold no ``.``).

    Held while a file is written there, and while the temporaries a killed
    writer left there are removed (see :mod:`jobforge_catalog_json.shared`).
    """
    with _hold(locks_dir, folder, ".folder", f"the catalog folder {folder!r}", timeout):
        yield
