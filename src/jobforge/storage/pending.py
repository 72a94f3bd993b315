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

from jobforge.storage import literal, versions
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
        self._parts: dict[Path, list[Path]] = {}
        """Final path of an output written in parts -> the final paths of its parts."""

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

    def part_for(self, final: Path, index: int, *, drop_if_empty: bool = False) -> Path:
        """The temporary path of part ``index`` (0, 1, ...) of ``final``, for an
        executor that writes an output as several files (capability
        ``files_per_version = "many"``): each part is published under
        :func:`~jobforge.storage.versions.part_file_name` of ``final`` and
        ``final`` itself is never written. A writer moves a finished file there
        (``os.replace``); it is hashed once, from the temporary, when the
        record is made. ``drop_if_empty`` as for :meth:`temp_for` (the parts of
        a quarantine or duplicates file)."""
        part = final.with_name(versions.part_file_name(final.name, index))
        parts = self._parts.setdefault(final, [])
        if part not in parts:
            parts.append(part)
            parts.sort(key=lambda p: p.name)
        return self.temp_for(part, drop_if_empty=drop_if_empty)

    def parts_of(self, final: Path) -> list[Path]:
        """The final paths ``final`` is published as, in row order: its parts
        (:meth:`part_for`) when written in parts, else ``[final]``."""
        return list(self._parts.get(final, [final]))

    def written_files(self, final: Path) -> list[Path]:
        """The temporary files written for ``final`` (its parts, in order), those that exist."""
        found = (self.written(p) for p in self.parts_of(final))
        return [p for p in found if p is not None]

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
        """Rows of a written (still temporary) parquet file, or of all its parts,
        from the footers."""
        return sum(int(literal.read_metadata(p).num_rows) for p in self.written_files(final))

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
        self._sinks.clear()  # kept: :meth:`parts_of` names what was published
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
        self._parts.clear()
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
