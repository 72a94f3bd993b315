"""What code running on this thread reads, as Python's audit events show it.

The up-to-date index (:mod:`jobforge.project.uptodate`) keeps what the full
up-to-date check read; this module records it while the check runs, from the
check's own reads rather than from a second list of them: every file opened
(with the sha256 of its bytes, taken when the ``open`` event fires, before the
caller reads it), every folder listed (``os.scandir``, ``os.listdir``) and every
``glob.glob`` with its matches. A file opened for writing marks the recording
as not to be kept. :func:`jobforge.storage.digest.sha256_of` gives the digest it
computes instead of letting the file be read twice.

The hook is installed once per process (audit hooks cannot be removed) and does
nothing on a thread that is not recording.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CODE = (".py", ".pyc", ".so")
"""Module files opened by an import during the check: the key covers the code."""


@dataclass
class Reads:
    """What a check read on one thread."""

    files: dict[str, str | None] = field(default_factory=dict)
    """Path -> sha256 of its bytes when first opened (``None``: absent)."""
    folders: dict[str, str | None] = field(default_factory=dict)
    """Folder -> its sorted names, digested (``None``: absent or not a folder)."""
    globs: dict[str, list[str]] = field(default_factory=dict)
    """Pattern (with ``recursive``) -> its sorted matches."""
    resolved: dict[str, str] = field(default_factory=dict)
    """Path -> its real path, as :func:`realpath` resolved it for the check (a
    read made of ``lstat`` calls alone, which no audit event shows)."""
    wrote: bool = False
    """A file was opened for writing, or a read could not be told: keep nothing."""
    reuse_digests: bool = False
    """:func:`jobforge.storage.digest.sha256_of` may take a digest it computed
    earlier in this process for the same unchanged file (the check run again
    after a run's steps, to keep the index, need not read every source again)."""


_local = threading.local()
_installed = False
_install_lock = threading.Lock()


def file_state(path: str) -> str | None:
    """The sha256 of the file's bytes; ``None`` if there is none; ``!kind`` if
    it cannot be read (a folder, say)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"!{type(exc).__name__}"


def folder_state(path: str) -> str | None:
    """A digest of the folder's sorted names; ``None`` if it is absent or not a folder."""
    try:
        names = sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"!{type(exc).__name__}"
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def glob_state(key: str) -> list[str]:
    import glob

    pattern, _, recursive = key.rpartition("\0")
    return sorted(glob.glob(pattern, recursive=recursive == "1"))


def realpath(path: str | os.PathLike[str]) -> str:
    """``os.path.realpath(path)``, noted by the recording on this thread: a check
    that decides from where a path leads (a source inside a folder jobforge
    writes, say) reads only links and folders' entries, and the index must hold
    that answer too."""
    real = os.path.realpath(path)
    _note(path, real)
    return real


class RealPaths:
    """:func:`realpath` of many paths, each folder resolved once.

    A project names hundreds of sources in a few folders: resolving every path
    whole costs one ``lstat`` per component of each. This resolves a path's
    folder once (kept for the life of this object, one check) and then only
    asks whether the last component is a link. The result is
    ``os.path.realpath``'s: the real path of ``folder/name`` is the real path of
    ``folder`` joined with ``name``, unless ``name`` is a link, which is then
    resolved whole (a path ending in ``..``, ``.`` or ``/`` is resolved whole
    too). Noted by the recording on this thread as :func:`realpath` notes it.
    """

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str | os.PathLike[str]) -> str:
        text = os.fspath(path)
        folder, name = os.path.split(text)
        if name in ("", ".", ".."):
            return realpath(text)
        base = self._folders.get(folder)
        if base is None:
            base = self._folders[folder] = os.path.realpath(folder)
        joined = os.path.join(base, name)
        try:
            link = stat.S_ISLNK(os.lstat(joined).st_mode)
        except OSError:  # absent, or not reachable: realpath keeps the name as it is
            link = False
        real = os.path.realpath(joined) if link else joined
        _note(text, real)
        return real


def _note(path: str | os.PathLike[str], real: str) -> None:
    reads: Reads | None = getattr(_local, "reads", None)
    if reads is not None:
        reads.resolved.setdefault(os.path.abspath(os.fspath(path)), real)


def _path(value: object) -> str | None:
    if isinstance(value, int) or value is None:
        return None  # a file descriptor: what it names was opened (and seen) before
    return os.path.abspath(os.fsdecode(value))  # type: ignore[arg-type]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    reads: Reads | None = getattr(_local, "reads", None)
    if reads is None or event not in ("open", "os.scandir", "os.listdir", "glob.glob"):
        return
    _local.reads = None  # what this hook opens and lists is not the check's
    try:
        if event == "open":
            path = _path(args[0])
            mode, flags = args[1], args[2]
            if path is None or path.endswith(_CODE):
                return
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITING
            ):
                reads.wrote = True
            elif path not in reads.files:
                reads.files[path] = file_state(path)
        elif event == "glob.glob":
            key = f"{os.fsdecode(args[0])}\0{'1' if args[1] else '0'}"
            if key not in reads.globs:
                reads.globs[key] = glob_state(key)
        else:
            folder = _path(args[0] if args else ".") or ""
            if folder and folder not in reads.folders:
                reads.folders[folder] = folder_state(folder)
    except Exception:
        reads.wrote = True
    finally:
        _local.reads = reads


def pause() -> Reads | None:
    """Stop recording on this thread; what :func:`resume` takes to go on."""
    reads: Reads | None = getattr(_local, "reads", None)
    _local.reads = None
    return reads


def resume(reads: Reads | None) -> None:
    _local.reads = reads


@contextmanager
def recording(reads: Reads | None) -> Iterator[None]:
    """Record into ``reads`` what the code run inside reads on this thread
    (``None``: record nothing)."""
    global _installed
    if reads is None:
        yield
        return
    if not _installed:
        with _install_lock:
            if not _installed:
                sys.addaudithook(_audit)
                _installed = True
    outer = getattr(_local, "reads", None)
    _local.reads = reads
    try:
        yield
    finally:
        _local.reads = outer
