"""Helpers for reading catalog JSON files: which files a folder holds, and a
validation error in one line (the JSON catalog store validates every file it
reads with them; a catalog that silently skips what it cannot read would lie to
an auditor)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError


def visible_json_files(directory: Path) -> list[Path]:
    """The ``*.json`` files directly in ``directory``, sorted by name.

    Hidden files are left out: the temporary files of atomic writes start with
    ``.``. A missing folder holds none; it is listed, not probed first, so that
    the up-to-date index (:mod:`jobforge.project.uptodate`) sees the listing
    whether or not the folder exists.
    """
    try:
        with os.scandir(directory) as entries:
            names = [
                e.name
                for e in entries
                if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file()
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(directory / name for name in names)


def summarise(exc: ValidationError) -> str:
    """The first validation problem as ``field.path: message`` (plus how many more)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    text = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s))"
    return text
