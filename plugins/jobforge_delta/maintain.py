"""Vacuuming a jobforge Delta table: Delta's own vacuum, keeping the Delta
versions of the jobforge versions the engine says must stay readable.

delta-rs' ``vacuum(keep_versions=...)`` removes every file that the table's
log removed (and every file in the folder that no commit added), except the
files of the current snapshot and of the versions kept. The retention horizon
is not a number of hours here: the engine chose the versions to keep
(:mod:`jobforge.engine.maintain`), so the vacuum runs with no horizon of its
own. It runs under the table's lock: no publication is staging files then.
Delta writes a ``VACUUM START`` and a ``VACUUM END`` commit; they carry
``jobforge.maintain`` (the versions kept) in their metadata and publish no
jobforge version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from deltalake import CommitProperties, DeltaTable

from jobforge.plugin import READABLE, CurrentVersion


def vacuum_table(
    uri: str,
    keep: Sequence[int],
    *,
    dry_run: bool,
    metadata: dict[str, str],
    present: Callable[[str], bool],
    options: Mapping[str, str] | None = None,
) -> list[str]:
    """Vacuum the Delta table at ``uri`` (a local folder, or a table in a bucket
    with its storage ``options``), keeping the files of the Delta versions
    ``keep``; return the names of the files removed (``dry_run``: that would
    be). ``present`` says whether a file is still there."""
    table = DeltaTable(uri, storage_options=None if options is None else dict(options))
    # the log keeps the tombstones of files an earlier vacuum removed: not listed again
    names = table.vacuum(
        retention_hours=0,
        dry_run=dry_run,
        enforce_retention_duration=False,
        keep_versions=sorted(keep),
        commit_properties=None if dry_run else CommitProperties(custom_metadata=metadata),
    )
    return sorted(name for name in names if present(name) or not dry_run)


def mark_readable(
    history: list[CurrentVersion], present: Callable[[str], bool]
) -> list[CurrentVersion]:
    """``history`` with ``extra[READABLE]`` set: whether every file of each version
    is still there (``present``; a vacuum removes those of versions not kept)."""
    for version in history:
        version.extra[READABLE] = all(
            present(name) for b in version.batches for name in b.data_files()
        )
    return history
