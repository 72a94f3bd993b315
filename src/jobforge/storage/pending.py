"""A set of files written under temporary names and published together.

Writers ask :meth:`PendingFiles.temp_for` for the temporary path of each final
file, write it, and the owner calls :meth:`PendingFiles.commit`, which flushes
every file and renames it into place. If anything fails before the commit,
:meth:`PendingFiles.abort` removes the temporaries: nothing half-written is
ever visible under a final name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from jobforge.storage import literal
from jobforge.storage.atomic import (
    _fsync_directory,
    _fsync_file,
    make_dirs,
    remove_empty_dirs,
    temporary_path_for,
)


class PendingFiles:
    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}
        self._optional: set[Path] = set()
        self._created: list[Path] = []
        """Folders made for the files: removed again by :meth:`abort` if empty."""

    def temp_for(self, final: Path, *, drop_if_empty: bool = False) -> Path:
        """The temporary path to write ``final`` to.

        ``drop_if_empty``: a parquet file with no rows is not published (used for
        quarantine and duplicate files).
        """
        self._created += make_dirs(final.parent)
        tmp = temporary_path_for(final)
        self._pending[final] = tmp
        if drop_if_empty:
            self._optional.add(final)
        return tmp

    def written(self, final: Path) -> Path | None:
        """The temporary file written for ``final`` (``None`` if none was)."""
        tmp = self._pending.get(final)
        return tmp if tmp is not None and tmp.exists() else None

    def finals(self) -> list[Path]:
        """The final paths of every file written so far (published or not yet)."""
        return list(self._pending)

    def row_count(self, final: Path) -> int:
        """Rows of a written (still temporary) parquet file, from its footer."""
        tmp = self._pending.get(final)
        if tmp is None or not tmp.exists():
            return 0
        rows: int = literal.read_metadata(tmp).num_rows
        return rows

    def to_publish(self) -> dict[Path, Path]:
        """Final path -> temporary file of every file :meth:`commit` will publish
        (written, and not an empty optional file)."""
        return {
            final: tmp
            for final, tmp in self._pending.items()
            if tmp.exists()
            and not (final in self._optional and literal.read_metadata(tmp).num_rows == 0)
        }

    def commit(self) -> list[Path]:
        """Publish every written file; return the published final paths."""
        published = []
        for final, tmp in self._pending.items():
            if not tmp.exists():
                continue
            if final in self._optional and literal.read_metadata(tmp).num_rows == 0:
                tmp.unlink()
                continue
            _fsync_file(tmp)
            os.replace(tmp, final)
            published.append(final)
        for directory in {p.parent for p in published}:
            _fsync_directory(directory)
        self._pending.clear()
        remove_empty_dirs(self._created)  # a quarantine folder nothing went to
        self._created.clear()
        return published

    def abort(self) -> None:
        """Remove every temporary file, and the folders made for them; publish nothing."""
        for tmp in self._pending.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._pending.clear()
        remove_empty_dirs(self._created)
        self._created.clear()


def remove_published(paths: list[Path]) -> None:
    """Remove files :meth:`PendingFiles.commit` published, when the version that
    was to list them could not be switched (they have fresh names: no pointer
    lists them yet)."""
    for path in paths:
        path.unlink(missing_ok=True)
