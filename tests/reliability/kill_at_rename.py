"""Run the ``jobforge`` command line and SIGKILL itself just before its N-th rename.

Every publication step of jobforge ends in an ``os.replace`` (data files,
``_current.json``, the journal, lineage records, catalog entries), so killing
the process before rename N, for every N, visits every state the files on disk
can be in between two steps: data files renamed but the pointer not switched,
the pointer switched but no lineage record, and so on.

With the Delta store, a Delta commit (delta-rs writes ``_delta_log/<N>.json``
in its own code, not with ``os.replace``) counts as a point too, just *after*
the commit returned: the table's version is switched, and neither the rows set
apart nor the journal nor the lineage record have followed yet.

Usage (in the project folder)::

    JOBFORGE_TEST_KILL_AT_RENAME=N python kill_at_rename.py --data-root D run -q
    JOBFORGE_TEST_KILL_AT_COMMIT=K ...  # just after the K-th Delta commit instead (which
                                       # point that is depends on how the run's parallel
                                       # tables interleave; the K-th commit does not)
    JOBFORGE_TEST_COUNT_RENAMES=FILE python kill_at_rename.py ...   # count them
                                       # (and FILE.kinds: the kind of each point,
                                       # FILE.targets: the path each rename wrote)
    JOBFORGE_TEST_KILL_NOTE=FILE ...   # the kill writes which point it was ("rename",
                                       # "delta commit") to FILE first

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
_commits = 0
_kill_at_commit = int(os.environ.get("JOBFORGE_TEST_KILL_AT_COMMIT", "0"))


_note_file = os.environ.get("JOBFORGE_TEST_KILL_NOTE")


_kinds: list[str] = []
_targets: list[str] = []


def _point(kind: str, target: str = "") -> None:
    """One more kill point; the N-th kills the process."""
    global _count, _commits
    _count += 1
    _kinds.append(kind)
    _targets.append(target)
    _commits += kind == "delta commit"
    if _count == _kill_at or (kind == "delta commit" and _commits == _kill_at_commit):
        if _note_file:
            Path(_note_file).write_text(kind, encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)


def _replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
    _point("rename", os.fsdecode(dst))
    return _real_replace(src, dst, *args, **kwargs)


def _after_commit(commit):  # type: ignore[no-untyped-def]
    def committed(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = commit(*args, **kwargs)
        _point("delta commit")
        return result

    return committed


def _patch_delta() -> None:
    """Count every Delta commit the store makes (before the store imports them)."""
    try:
        import deltalake
        import deltalake.transaction as transaction
    except ImportError:
        return
    deltalake.DeltaTable.create_write_transaction = _after_commit(  # type: ignore[method-assign]
        deltalake.DeltaTable.create_write_transaction
    )
    transaction.create_table_with_add_actions = _after_commit(
        transaction.create_table_with_add_actions
    )


def _write_count() -> None:
    if _count_file:
        Path(_count_file).write_text(str(_count), encoding="utf-8")
        # which point each was, one a line: the Delta commits among the renames
        Path(f"{_count_file}.kinds").write_text("\n".join(_kinds) + "\n", encoding="utf-8")
        # and where each rename put its file ("" for a Delta commit)
        Path(f"{_count_file}.targets").write_text("\n".join(_targets) + "\n", encoding="utf-8")


if __name__ == "__main__":
    # Run as a script, this folder is sys.path[0]; jobforge must not see it.
    del sys.path[0]
    os.replace = _replace
    _patch_delta()
    atexit.register(_write_count)
    from jobforge.cli.app import main

    sys.exit(main(sys.argv[1:]))
