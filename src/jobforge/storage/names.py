"""Validation of every name that becomes part of a path.

Table names, domains, batch ids and plugin names reach the file system, so they
are checked before anything is touched: letters, digits, ``_`` and ``-`` only,
starting with a letter or digit, at most 128 characters, not a reserved device
name. That rules out ``..``, path separators, absolute paths and NUL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from jobforge.errors import ConfigError, InvalidNameError, PathEscapeError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def validate_name(value: object, kind: str = "table name") -> str:
    """Return ``value`` if it is a safe name, else raise :class:`InvalidNameError`."""
    # fullmatch: with match(), "$" would also accept a trailing newline
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value.lower() in _RESERVED:
        raise InvalidNameError(
            f"invalid {kind} {value!r}: expected 1-128 letters, digits, '_' or '-', "
            "starting with a letter or digit (no path separators, no '..')"
        )
    return value


def _lexically_under(root: Path, path: Path) -> Path | None:
    """``path`` relative to ``root`` if it is lexically inside it (no ``..``), else None."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None
    return None if ".." in rel.parts else rel


def ensure_no_symlinks(roots: Sequence[Path], path: Path) -> Path:
    """Refuse to write ``path`` if a symbolic link lies between its root and it.

    ``roots`` are the directories writes may go to, most general first (the
    data root, then any layout directory a plugin placed elsewhere); the first
    one that contains ``path`` lexically is its root. Every existing component
    below that root, ``path`` itself included, must be a real directory or
    file: a link planted inside the data root (``staged/noc -> /tmp/x``) would
    send writes outside it, or into another table's folder without its lock.
    The roots themselves may be links (a data root on another disk is fine).
    """
    for root in roots:
        rel = _lexically_under(root, path)
        if rel is None:
            continue
        current = Path(os.path.abspath(root))
        for part in rel.parts:
            current = current / part
            if current.is_symlink():
                raise PathEscapeError(
                    f"refusing to write {path}: {current} is a symbolic link "
                    f"(jobforge does not write through links inside {root})"
                )
        return path
    raise PathEscapeError(
        f"refusing to write {path}: it is not inside the data root "
        f"({', '.join(str(r) for r in roots)})"
    )


def unknown_table(name: str, known: Iterable[str], where: str = "") -> ConfigError:
    """The error for a table name that is not known (exit 2), the same from every
    command: it names the table and the closest known names."""
    import difflib

    listing = sorted(set(known))
    close = difflib.get_close_matches(name, listing, n=3, cutoff=0.6)
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif listing:
        hint = "known tables: " + ", ".join(listing[:15]) + (" ..." if len(listing) > 15 else "")
    else:
        hint = "there are no tables yet"
    return ConfigError(f"{where}unknown table {name!r}; {hint}")
