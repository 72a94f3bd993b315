"""The up-to-date index: a run in which nothing changed decided from one file.

A run finds a table up to date by reading what its steps would read (the
sources' bytes, version pointers, lineage records, the glossary) and comparing
fingerprints (:mod:`jobforge.engine.fingerprint`). That check is exact, and it
is most of a no-change run's time (the engine's imports, about 360 pointer
reads and 100 record reads at 50 tables). The index keeps its outcome.

After a run in which every step succeeded or was up to date, the full check is
run once more for every table (:func:`jobforge.storage.reads.recording` around
each: the check itself, not a second description of it) and what it read is
kept beside its report in
``<locks>/up-to-date.json``: every file it opened, with the sha256 of its bytes
(or that it was absent), every folder it listed (the sorted names), every glob
it expanded (the matches), and each table's journal (absent), table by table.
The next run with the same key (:func:`index_key`: the project file's bytes, the
loaded plugins with their versions and modules, jobforge's own code, the data
root and its layout folders) gives, for each table that finds every one of its
files, listings and globs as it was and no journal (:func:`answered`), the kept
steps without running its check: the source bytes hashed, the pointers and
records hashed, one ``lstat`` per journal. A table whose reads changed (a byte
of a source, a pointer replaced by another writer, a new record, a journal) is
checked and run as before, and so is every table built from one that is (its
inputs may change in this run); a changed project file or plugin, or an
unreadable or other index, has every table checked.

What the check read is seen through Python's audit events (``open``,
``os.scandir``, ``os.listdir``, ``glob.glob``) on the thread running it (see
:mod:`jobforge.storage.reads`), so nothing is described twice; a file is
digested when the event fires, before the check reads it: a writer that
replaces it in between leaves the index naming the earlier bytes, which the
next run finds changed (a source the check hashes is recorded with the digest
it computed). The index is kept
only where every read of the check goes through those events: a local data
root, the parquet table store and bundled plugins only (a plugin from another
distribution, or registered from Python, may read through anything), and no
check that opened a file for writing. It is a cache: written without a flush,
and a failure to write it only costs the next run the full check.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.project.check_memo import MEMO_FILE, load_cache
from jobforge.storage.atomic import atomic_write_text, remove_stale_temporaries_of
from jobforge.storage.reads import Reads, file_state, folder_state, glob_state
from jobforge.storage.stamps import code_stamp

if TYPE_CHECKING:
    from jobforge.pipeline.config import PipelineConfig
    from jobforge.project.model import Project

INDEX_FILE = "up-to-date.json"
FORMAT = 2


def index_key(project: Project, config: PipelineConfig) -> str | None:
    """The digest of everything besides the files the check reads that its
    outcome depends on; ``None`` where no index is kept (see the module docstring)."""
    import logging

    import jobforge

    if not isinstance(config.data_root, Path) or project.spec.storage.format != "parquet":
        return None
    if logging.getLogger("jobforge").isEnabledFor(logging.INFO):
        return None  # the check's events (``ingest.skipped``...) are to be written
    spec = project.spec
    if any(t.silver.transforms for t in spec.tables.values()) or any(
        g.function is not None for g in spec.gold.values()
    ):
        # a function's fingerprint is its source code, which the check may read from
        # linecache's memory of this process, not from its file: not seen
        return None
    infos = config.plugins.infos
    if any(info.source != "bundled" for info in infos if info.status == "loaded"):
        return None
    plugins = []
    for info in infos:
        module = sys.modules.get(info.module)
        where = getattr(module, "__file__", None) if info.status == "loaded" else None
        plugins.append(
            [
                info.name,
                info.describe(),
                info.status,
                code_stamp(Path(where).parent) if where else None,
            ]
        )
    key = config.signing_key
    parts = {
        "format": FORMAT,
        "jobforge": [jobforge.__version__, code_stamp(Path(jobforge.__file__).parent)],
        "python": sys.version,
        "project": [str(project.path), hashlib.sha256(project.path.read_bytes()).hexdigest()],
        "plugins": plugins,
        "folders": [str(p) for p in [config.data_root, *config.layout_paths()]],
        "locks": str(config.locks_path()),
        "signing_key": [str(key), file_state(str(key))] if key is not None else None,
    }
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _index_path(config: PipelineConfig) -> Path:
    return config.locks_path() / INDEX_FILE


def journal_names(tables: list[str]) -> list[str]:
    """Each table's journal file name in the locks folder."""
    from jobforge.storage.journal import journal_path

    return [journal_path(Path("."), t).name for t in tables]


def answered(
    config: PipelineConfig,
    key: str | None,
    tables: list[str],
    inputs: Mapping[str, Sequence[str]],
) -> dict[str, tuple[list[dict[str, Any]], Reads]] | None:
    """Each table of ``tables`` (in run order) whose kept check still holds:
    every file, listing, glob and resolved path it read as it was, no journal
    left for it, and every table it is built from (``inputs``) answered too (a
    table that runs may change what a table built from it reads): its kept
    steps and what its check read. ``None`` when no index of ``key`` for
    ``tables`` is kept."""
    if key is None:
        return None
    kept = load_cache(_index_path(config))
    if kept is None or kept.get("key") != key or kept.get("tables") != tables:
        return None
    found: dict[str, tuple[list[dict[str, Any]], Reads]] = {}
    try:
        locks = config.locks_path()
        states: dict[str, str | None] = {}
        for path, state in kept["shared"].items():
            if file_state(path) != state:
                return None
        for name in tables:
            entry = kept["entries"][name]
            if not isinstance(entry["steps"], list) or os.path.lexists(locks / entry["journal"]):
                continue
            if any(i not in found for i in inputs.get(name, ())):
                continue
            if _holds(entry, states):
                reads = Reads(
                    files=entry["files"],
                    folders=entry["folders"],
                    globs=entry["globs"],
                    resolved=entry["resolved"],
                )
                found[name] = (entry["steps"], reads)
    except (KeyError, TypeError, AttributeError):
        return None
    return found


def _holds(entry: dict[str, Any], states: dict[str, str | None]) -> bool:
    """Whether every read of one table's kept check is as it was (``states``:
    the files already hashed by this lookup, which tables share)."""
    for pattern, matches in entry["globs"].items():
        if glob_state(pattern) != matches:
            return False
    for folder, state in entry["folders"].items():
        if folder_state(folder) != state:
            return False
    for path, state in entry["files"].items():
        if path not in states:
            states[path] = file_state(path)
        if states[path] != state:
            return False
    return all(os.path.realpath(path) == real for path, real in entry["resolved"].items())


def keep(
    config: PipelineConfig,
    key: str | None,
    tables: list[str],
    reads: list[Reads],
    steps: list[dict[str, Any]],
) -> None:
    """Write the index of ``key``: ``steps`` is the report of the checks that
    read ``reads`` (one per table, in order), every step up to date. Each
    table's reads are kept apart, so that a run after one source changed is
    answered for the tables that did not (:func:`answered`)."""
    if key is None or any(r.wrote for r in reads):
        return
    by_table: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    for step in steps:
        by_table[str(step["table"])].append(step)
    entries = {}
    for name, journal, each in zip(tables, journal_names(tables), reads, strict=True):
        entries[name] = {
            "journal": journal,
            "files": each.files,
            "folders": each.folders,
            "globs": each.globs,
            "resolved": each.resolved,
            "steps": by_table[name],
        }
    # the project checks are not run again while the index holds: their own
    # memo must hold too (a run that finds it missing or other checks again)
    memo = str(config.locks_path() / MEMO_FILE)
    index = {
        "key": key,
        "tables": tables,
        "shared": {memo: file_state(memo)},
        "entries": entries,
    }
    path = _index_path(config)
    with suppress(OSError):
        remove_stale_temporaries_of(path.parent, INDEX_FILE)
        atomic_write_text(path, json.dumps(index) + "\n", durable=False)


def forget(config: PipelineConfig) -> None:
    """Remove the index (a run that changed something and could not keep a new one)."""
    with suppress(OSError):
        _index_path(config).unlink(missing_ok=True)
