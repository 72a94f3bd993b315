"""Where jobforge may write: the checks a data root and the layout folders must pass.

jobforge creates folders under the data root and writes, replaces and removes
files there (stale temporaries, files an interrupted run left). So the data
root must be a folder of its own, and it must be apart from the files the
user keeps:

- :func:`check_data_root`, for every data root, whatever gave it (the library,
  ``--data-root``, ``jobforge.toml``, ``$JOBFORGE_DATA_ROOT``): no NUL
  character, not empty, not the filesystem root, not under a system folder
  (``/proc``, ``/sys``, ``/dev``), not a file and not below one;
- :func:`check_apart`, for a project: the folder is neither the project folder
  nor one of its parents, holds no source, and lies outside every folder
  sources are read from (only where the project folder lies inside that
  folder too may it be there, and then no source pattern may reach into it);
- :func:`check_outside`, for every source file read: not inside a folder
  jobforge writes (a layer, the quarantine, the catalog, the locks).

Every check raises :class:`~jobforge.errors.DataRootError` with one line that
names what gave the folder, the folder and the reason, before anything is
created.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from jobforge.errors import DataRootError
from jobforge.storage import reads

SYSTEM_FOLDERS: tuple[Path, ...] = (
    (Path("/proc"), Path("/sys"), Path("/dev")) if os.name == "posix" else ()
)
"""Folders of the operating system, never a place for data."""

_MAGIC = re.compile(r"[*?[]")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")
"""A URL (``s3://``, or ``s3:/`` once a path type collapsed its slashes), not a
drive letter (``C:/``)."""


def _shown(value: str | os.PathLike[str]) -> str:
    return repr(os.fspath(value))


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it (both absolute and normalised).

    The comparison of parts that ``Path.is_relative_to`` makes on POSIX,
    without building the relative path (a project run makes thousands)."""
    parts = folder.parts
    return path.parts[: len(parts)] == parts


def _resolved(path: Path) -> Path:
    return Path(reads.realpath(path))


def check_data_root(
    value: str | os.PathLike[str], origin: str = "data root", base: Path | None = None
) -> Path:
    """Return ``value`` as a path (below ``base`` if it is relative and ``base``
    is given) if it can be a data root; raise otherwise.

    ``origin`` names what gave the value in the message (``--data-root``,
    ``jobforge.toml: project.data_root``...). Nothing is created; symbolic
    links are followed, so a link to ``/`` is the filesystem root.
    """
    text = os.fspath(value)
    scheme = _URL.match(text)
    if scheme:  # never shown whole: a URL may carry a credential
        raise DataRootError(
            f"{origin}: a {scheme.group(1)}: URL, not a folder; an s3:// data root is given "
            'as project.data_root in jobforge.toml (with [storage] format = "delta"), '
            f"${'JOBFORGE_DATA_ROOT'} or PipelineConfig(data_root=...)"
        )
    where = f"{origin} {_shown(text)}"
    if "\x00" in text:
        raise DataRootError(f"{where}: contains a NUL character; expected a folder path")
    if not text:
        raise DataRootError(f"{where}: empty; expected a folder path")
    path = Path(text) if base is None else base / text
    check_folder(path, where)
    return path


def check_folder(path: Path, where: str) -> None:
    """The checks of :func:`check_data_root` on a folder jobforge would create
    or write (``where`` starts the message)."""
    absolute = Path(os.path.abspath(path))
    try:
        real = _resolved(path)
    except (OSError, RuntimeError) as exc:  # a loop of links, on some versions
        raise DataRootError(f"{where}: cannot be resolved ({exc}); expected a folder") from None
    if real == Path(real.anchor):
        raise DataRootError(
            f"{where}: is the filesystem root; expected a folder of its own (such as ./data)"
        )
    for system in SYSTEM_FOLDERS:
        if _within(absolute, system) or _within(real, system):
            raise DataRootError(
                f"{where}: is under {system}, a system folder; expected a folder of its own"
            )
    # walk up the path as the system will create it, ``..`` kept (``afile/../x`` fails there)
    given = path if path.is_absolute() else Path.cwd() / path
    current = given
    while True:
        if current.exists():
            if not current.is_dir():
                what = "is a file" if current == given else f"{current} is a file"
                raise DataRootError(f"{where}: {what}; expected a folder")
            return
        if current.is_symlink():
            raise DataRootError(
                f"{where}: {current} is a link to a missing target; expected a folder"
            )
        current = current.parent


def _pattern_parts(pattern: str, base: Path) -> tuple[Path, list[str], bool]:
    """``(fixed, rest, literal)``: the absolute path up to the first component
    with a wildcard, the components after it, and whether there is none."""
    whole = os.path.normpath(os.path.join(base, pattern))
    if not _MAGIC.search(whole):  # a path, not a glob (most sources)
        return Path(whole), [], True
    parts = Path(whole).parts
    first = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
    return Path(*parts[:first]), list(parts[first:]), False


def _can_reach(rest: Sequence[str], below: Sequence[str]) -> bool:
    """Whether a glob's components ``rest`` can match a path inside the folder
    whose components (relative to where ``rest`` starts) are ``below``."""
    for index, part in enumerate(rest):
        if part == "**" or index == len(below):
            return True
        if not fnmatch.fnmatchcase(below[index], part):
            return False
    return False


def check_apart(
    folder: Path,
    where: str,
    project_folder: Path,
    sources: Iterable[tuple[str, str]],
) -> None:
    """Refuse ``folder`` (a data root or a layout folder of a project) if it is,
    or contains, the project folder, contains a source, or lies in a folder
    sources are read from.

    ``sources`` are ``(key, pattern)`` pairs, a pattern being a path or a glob
    relative to ``project_folder`` (``("tables.noc.source", "sources/*.csv")``).
    The folder of a source is its file's folder, or a glob's path before the
    first wildcard. ``folder`` may lie inside a source's folder only where the
    project folder does too (``source = "../shared.csv"``), and then only if
    the glob cannot match anything inside ``folder``.
    """
    SourcePlaces(project_folder, sources).check_apart(folder, where)


class SourcePlaces:
    """The project folder and the sources' folders, resolved once, for
    :func:`check_apart` of several folders (a project's layout folders)."""

    def __init__(self, project_folder: Path, sources: Iterable[tuple[str, str]]) -> None:
        self.project = _resolved(project_folder)
        self.sources: list[tuple[str, str, Path, list[str], bool]] = []
        resolve = reads.RealPaths()
        for key, pattern in sources:
            fixed, rest, literal = _pattern_parts(pattern, self.project)
            self.sources.append((key, pattern, Path(resolve(fixed)), rest, literal))

    def check_apart(self, folder: Path, where: str) -> None:
        """:func:`check_apart` of ``folder``."""
        real = _resolved(folder)
        project = self.project
        if real == project:
            raise DataRootError(
                f"{where}: is the project folder; expected a folder of its own "
                f"inside it (such as {project / 'data'})"
            )
        if _within(project, real):
            raise DataRootError(f"{where}: contains the project folder {project}")
        for key, pattern, fixed, rest, literal in self.sources:
            if _within(fixed, real):
                raise DataRootError(f"{where}: contains {key} {pattern!r}")
            source_folder = fixed.parent if literal else fixed
            if not _within(real, source_folder):
                continue
            if not _within(project, source_folder):
                raise DataRootError(
                    f"{where}: is inside {source_folder}, the folder of {key} {pattern!r}; "
                    "expected a folder apart from the sources"
                )
            if _can_reach(rest, real.parts[len(source_folder.parts) :]):
                raise DataRootError(
                    f"{where}: {key} {pattern!r} can match files inside it; "
                    "expected a pattern that stays outside the data root"
                )


def check_outside(source: Path, folders: Iterable[Path], what: str = "source") -> None:
    """Refuse to read ``source`` if it lies in one of ``folders`` (the folders
    jobforge writes): jobforge would read its own output, or a file it may
    replace or remove."""
    WrittenFolders(folders).check_outside(source, what)


class WrittenFolders:
    """Folders jobforge writes, resolved once, for :func:`check_outside` of
    several sources."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [(folder, _resolved(folder)) for folder in folders]

    def check_outside(self, source: Path, what: str = "source") -> None:
        """:func:`check_outside` of ``source``."""
        self._check(source, _resolved(source), what)

    def check_all_outside(self, sources: Iterable[Path], what: str = "source") -> None:
        """:func:`check_outside` of each of ``sources``, their folders resolved
        once (:class:`~jobforge.storage.reads.RealPaths`)."""
        resolve = reads.RealPaths()
        for source in sources:
            self._check(source, Path(resolve(source)), what)

    def _check(self, source: Path, real: Path, what: str) -> None:
        for folder, resolved in self.folders:
            if _within(real, resolved):
                raise DataRootError(
                    f"{source}: is inside {folder}, a folder jobforge writes; "
                    f"expected a {what} file outside the data root's folders"
                )


class DataLayout(Protocol):
    """What :func:`write_roots` needs of a configuration
    (:class:`~jobforge.pipeline.config.PipelineConfig` is one): storage sits below
    the pipeline package, so it names the two members it reads, not the class."""

    @property
    def data_root(self) -> Path: ...

    def layout_paths(self) -> list[Path]: ...


def write_roots(config: DataLayout) -> list[Path]:
    """Where writes may go: the data root, then layout folders a plugin put elsewhere."""
    return [config.data_root, *config.layout_paths()]
