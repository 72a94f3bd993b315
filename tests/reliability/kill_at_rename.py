"""Run the ``jobforge`` command line and SIGKILL itself just before its N-th rename.

Every publication step of jobforge ends in an ``os.replace`` (data files,
``_current.json``, the journal, lineage records, catalog entries), so killing
the process before rename N, for every N, visits every state the files on disk
can be in between two steps: data files renamed but the pointer not switched,
the pointer switched but no lineage record, and so on.

Usage (in the project folder)::

    JOBFORGE_TEST_KILL_AT_RENAME=N python kill_at_rename.py --data-root D run -q
    JOBFORGE_TEST_COUNT_RENAMES=FILE python kill_at_rename.py ...   # count them

This script is test code: jobforge itself has no fault-injection hook.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path

_real_replace = os.replace
_count = 0
_kill_at = int(os.environ.get("JOBFORGE_TEST_KILL_AT_RENAME", "0"))
_count_file = os.environ.get("JOBFORGE_TEST_COUNT_RENAMES")


def _replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
    global _count
    _count += 1
    if _count == _kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_replace(src, dst, *args, **kwargs)


def _write_count() -> None:
    if _count_file:
        Path(_count_file).write_text(str(_count), encoding="utf-8")


if __name__ == "__main__":
    # Run as a script, this folder is sys.path[0]; jobforge must not see it.
    del sys.path[0]
    os.replace = _replace
    atexit.register(_write_count)
    from jobforge.cli.app import main

    sys.exit(main(sys.argv[1:]))
