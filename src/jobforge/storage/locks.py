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


def lock_file(locks_dir: Path, table: str) -> Path:
    return locks_dir / f"{validate_name(table)}.lock"


def holder_file(locks_dir: Path, table: str) -> Path:
    return locks_dir / f"{validate_name(table)}.holder"


def _describe_self() -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}"


@contextlib.contextmanager
def table_lock(locks_dir: Path, table: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of ``table`` for the duration of the block.

    Waits up to ``timeout`` seconds, then raises :class:`LockTimeoutError`
    naming the holder. A lock or holder file that is a symbolic link is
    refused (opening it would truncate whatever it points to).
    """
    name = validate_name(table)
    lock_path = lock_file(locks_dir, name)
    holder = holder_file(locks_dir, name)
    for path in (locks_dir, lock_path, holder):
        if path.is_symlink():
            raise PathEscapeError(f"refusing to lock {table!r}: {path} is a symbolic link")
    locks_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        try:
            who = holder.read_text(encoding="utf-8").strip() or "an unknown process"
        except OSError:
            who = "an unknown process"
        raise LockTimeoutError(
            f"table {table!r} is locked by {who}; gave up after {timeout:g} s "
            f"(lock file {lock_path})"
        ) from None
    try:
        atomic_write_text(holder, _describe_self() + "\n")
        yield
    finally:
        lock.release()
