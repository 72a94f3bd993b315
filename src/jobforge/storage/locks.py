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
from pathlib import Path

from filelock import FileLock, Timeout

from jobforge.errors import LockTimeoutError
from jobforge.storage.names import validate_name

DEFAULT_TIMEOUT_S = 600.0


@contextlib.contextmanager
def table_lock(locks_dir: Path, table: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of ``table`` for the duration of the block.

    Waits up to ``timeout`` seconds, then raises :class:`LockTimeoutError`
    naming the holder.
    """
    locks_dir.mkdir(parents=True, exist_ok=True)
    name = validate_name(table)
    lock = FileLock(locks_dir / f"{name}.lock", timeout=timeout)
    holder = locks_dir / f"{name}.holder"
    try:
        lock.acquire()
    except Timeout:
        try:
            who = holder.read_text(encoding="utf-8").strip()
        except OSError:
            who = "an unknown process"
        raise LockTimeoutError(
            f"table {table!r} is locked by {who}; gave up after {timeout:g} s "
            f"(lock file {locks_dir / (name + '.lock')})"
        ) from None
    try:
        holder.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
        yield
    finally:
        lock.release()
