"""Running totals of a table version's profile: the rows, bytes and null
counts of one exact list of files, so that the profile of an appended version
reads only its new files.

A version of an appended table is the previous version's files plus the new
batch's (after them, or before them for staged, whose entry puts the newest
file first). Adding up every file's summary made each step cost more the longer
the history; the totals of the previous list plus the new files' footers give
the same figures (sums, and a null count not known in any file stays not known)
for the cost of the new files alone.

The totals are keyed by what they describe, never by where they come from: the
digest of the ordered list of file paths and the identity (size, modification
time, inode) of the list's first and last file. They are used only for a list
that is that very list plus other files at one end, so totals of another
version, another table or another folder are never used; the end files'
identities catch the one file of a list that may have been written and not
published (a step that crashed after its profile, whose batch file was made
again under the same name). A published file is never rewritten under its name
(:func:`jobforge.storage.versions.new_batch_file_name`); a file in the middle
of the list changed by hand is not noticed here (``jobforge verify`` checks
every file against its record). Like the footer summaries, the totals are
derived data kept with the locks: missing, unreadable, of another shape or of
another list, they cost only the full computation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobforge.storage.atomic import atomic_write_text

FORMAT = 1


def identity(path: Path) -> list[int]:
    """What tells one file from another under the same name."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def list_digest(paths: Sequence[Path]) -> str:
    """The digest of an ordered list of paths (JSON: no two lists give one text)."""
    return hashlib.sha256(json.dumps([str(p) for p in paths]).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Totals:
    """The figures of the files of one list, added up."""

    files: int
    digest: str
    """:func:`list_digest` of the list."""
    ends: list[list[int]]
    """:func:`identity` of the list's first and last file."""
    rows: int
    size: int
    nulls: dict[str, int | None]

    def rest_of(self, paths: list[Path]) -> tuple[list[Path], bool] | None:
        """The files of ``paths`` that these totals do not hold, and whether they
        come after the totals' list (else before it), when ``paths`` is that list
        with more files at one end; else ``None``."""
        n = self.files
        if not 0 < n < len(paths):
            return None
        for known, rest, after in ((paths[:n], paths[n:], True), (paths[-n:], paths[:-n], False)):
            if list_digest(known) != self.digest:
                continue
            with contextlib.suppress(OSError):  # a file gone: not these totals' list
                if [identity(known[0]), identity(known[-1])] == self.ends:
                    return rest, after
        return None


def totals_file(cache: Path) -> Path:
    """Beside a table's footer summaries (``<table>.json``): ``<table>.totals.json``
    (a table name has no dot, so no table's summaries have this name)."""
    return cache.with_name(cache.name.removesuffix(".json") + ".totals.json")


def _valid(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("format") == FORMAT
        and all(isinstance(data.get(k), int) for k in ("files", "rows", "size"))
        and isinstance(data.get("digest"), str)
        and isinstance(data.get("ends"), list)
        and len(data["ends"]) == 2
        and all(
            isinstance(end, list) and len(end) == 3 and all(isinstance(i, int) for i in end)
            for end in data["ends"]
        )
        and isinstance(data.get("nulls"), dict)
        and all(n is None or isinstance(n, int) for n in data["nulls"].values())
    )


def read_totals(path: Path) -> Totals | None:
    """The totals kept at ``path`` (``None``: none, unreadable or of another shape)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _valid(data):
        return None
    return Totals(
        files=data["files"],
        digest=data["digest"],
        ends=data["ends"],
        rows=data["rows"],
        size=data["size"],
        nulls=data["nulls"],
    )


def write_totals(path: Path, totals: Totals) -> None:
    """Keep ``totals`` at ``path`` (not flushed: derived data; a write that fails
    leaves the full computation to the next profile)."""
    text = json.dumps(
        {
            "format": FORMAT,
            "files": totals.files,
            "digest": totals.digest,
            "ends": totals.ends,
            "rows": totals.rows,
            "size": totals.size,
            "nulls": totals.nulls,
        }
    )
    with contextlib.suppress(OSError):
        atomic_write_text(path, text, durable=False)


def totals_of(
    paths: list[Path], ends: list[list[int]], rows: int, size: int, nulls: dict[str, int | None]
) -> Totals:
    return Totals(len(paths), list_digest(paths), ends, rows, size, nulls)
