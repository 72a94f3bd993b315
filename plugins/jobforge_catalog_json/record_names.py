"""The names of the record files in each table's lineage folder, as a store last
listed them, so that finding one record does not list the folder every time.

A record is found by its id: its file is ``<started_at>-<kind>-<id>.json``, and
the id alone does not give the time, so the folder's names are searched for the
ending ``-<id>.json``. A table gets a record for every step of every run, so
after a thousand appended batches its folder holds about three thousand, and a
step looks up several (the record of the batch it reads, the record of the
version it finds up to date): listing the folder each time made every step cost
more the longer the table's history.

The names kept are only a shortcut. A record is never renamed, and a file is
only ever added to a lineage folder under a new name (or written again under its
own, by a run finishing what an interrupted one left), so a name kept is still a
record's name as long as its file is there: it is checked before it is read. An
id that no kept name ends with, or whose kept file is gone, is looked for in a
fresh listing (which is then kept), so a record another process saved since is
found as before. The names of the records this store saves are added as they
are saved. At most :data:`KEPT_FOLDERS` folders are kept, the least recently
used leaving first.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

KEPT_FOLDERS = 64


class RecordNames:
    """The record file names of lineage folders (see the module docstring)."""

    def __init__(self, size: int = KEPT_FOLDERS) -> None:
        self._kept: OrderedDict[str, set[str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def paths(self, folder: Path, ending: str) -> Iterator[Path]:
        """The files of ``folder`` whose names end with ``ending`` (in name
        order; a name starting with a dot is never one): those among the names
        kept that are still there, then, if the caller asks for more, those of a
        fresh listing (none when the folder is not there)."""
        for name in self._kept_matching(folder, ending):
            path = folder / name
            if path.is_file():
                yield path
        listed = self._list(folder)
        for name in _matching(listed or set(), ending):
            yield folder / name

    def saved(self, path: Path) -> None:
        """The record file ``path`` was written: its name is one of its folder's
        (nothing to do when that folder's names are not kept)."""
        key = str(path.parent)
        with self._lock:
            names = self._kept.get(key)
            if names is not None:
                names.add(path.name)

    def _kept_matching(self, folder: Path, ending: str) -> list[str]:
        key = str(folder)
        with self._lock:
            names = self._kept.get(key)
            if names is None:
                return []
            self._kept.move_to_end(key)
            return _matching(names, ending)

    def _list(self, folder: Path) -> set[str] | None:
        try:
            with os.scandir(folder) as entries:
                names = {e.name for e in entries if not e.name.startswith(".")}
        except FileNotFoundError:
            return None
        key = str(folder)
        with self._lock:
            self._kept[key] = set(names)  # its own: saved() adds to it
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return names


def _matching(names: set[str], ending: str) -> list[str]:
    """``names`` that end with ``ending``, in name order (a listing keeps no
    name starting with a dot, and a saved record's name starts with its time)."""
    return sorted(n for n in names if n.endswith(ending))
