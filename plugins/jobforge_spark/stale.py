"""Scratch folders and logs that a killed run left in the temporary directory.

Each run names its scratch folder and its Spark log ``jobforge-spark-<pid>-...``
(:func:`prefix`); a run that is killed cannot remove them, so the next run
removes those whose process is gone (:func:`remove_stale`). Only entries with
that name, owned by this user, whose pid no process has, are removed: a
folder of a run still going (or of a pid reused since) is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

PREFIX = "jobforge-spark-"
_OWNED = re.compile(rf"^{re.escape(PREFIX)}(\d+)-.+$")


def prefix() -> str:
    """The name prefix of this process's scratch folder and log."""
    return f"{PREFIX}{os.getpid()}-"


def owner_pid(name: str) -> int | None:
    """The pid in a scratch entry's name; ``None`` for any other name."""
    found = _OWNED.match(name)
    return int(found.group(1)) if found else None


def alive(pid: int) -> bool:
    """Whether a process has ``pid`` (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path | None = None) -> list[Path]:
    """Remove the scratch folders and logs of dead processes from ``folder``
    (the temporary directory); the paths removed."""
    if os.name != "posix":  # no signal 0 to ask whether a pid is alive
        return []
    root = Path(folder or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name)
        if pid is None or pid == os.getpid() or alive(pid):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if info.st_uid != os.getuid():
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(entry, ignore_errors=True)
        elif stat.S_ISREG(info.st_mode):
            entry.unlink(missing_ok=True)
        else:
            continue  # a link or anything else: not one of ours
        if not os.path.lexists(entry):
            removed.append(entry)
    return removed
