"""A set of files written under temporary names and published together.

Writers ask :meth:`PendingFiles.sink_for` for a file object to write each final
file through (it hashes the bytes as they are written:
:class:`~jobforge.storage.hashing.HashingFile`), or :meth:`PendingFiles.temp_for`
for the temporary path when the writer can only write to a path, and the owner
calls :meth:`PendingFiles.commit`, which flushes every file and renames it into
place. If anything fails before the commit,
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
from jobforge.storage.hashing import HashingFile


class PendingFiles:
    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}
        self._optional: set[Path] = set()
        self._created: list[Path] = []
        """Folders made for the files: removed again by :meth:`abort` if empty."""
        self._sinks: dict[Path, HashingFile] = {}

    def temp_for(self, final: Path, *, drop_if_empty: bool = False) -> Path:
        """The temporary path to write ``final`` to.

        ``drop_if_empty``: a parquet file with no rows is not published (used for
        quarantine and duplicate files).
        """
        self._created += make_dirs(final.parent)
        tmp = temporary_path_for(final)
        self._pending[final] = tmp
        self._sinks.pop(final, None)  # a file written again: the old sink is not it
        if drop_if_empty:
            self._optional.add(final)
        return tmp

    def sink_for(self, final: Path, *, drop_if_empty: bool = False) -> HashingFile:
        """A binary file object writing ``final``'s temporary (see :meth:`temp_for`)
        that hashes the bytes as they are written: close it (``with``) before the
        step returns, and :meth:`written_digest` gives the digest without reading
        the file again."""
        sink = HashingFile(self.temp_for(final, drop_if_empty=drop_if_empty))
        self._sinks[final] = sink
        return sink

    def written_digest(self, final: Path) -> tuple[str, int] | None:
        """The sha256 and size of the bytes written for ``final`` through its
        closed :meth:`sink_for` sink (``None``: written to a path, or the sink
        is still open)."""
        sink = self._sinks.get(final)
        return sink.digest if sink is not None else None

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
        self._sinks.clear()
        for directory in {p.parent for p in published}:
            _fsync_directory(directory)
        self._pending.clear()
        remove_empty_dirs(self._created)  # a quarantine folder nothing went to
        self._created.clear()
        return published

    def abort(self) -> None:
        """Remove every temporary file, and the folders made for them; publish nothing."""
        for sink in self._sinks.values():
            with contextlib.suppress(OSError):
                sink.close()
        self._sinks.clear()
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
