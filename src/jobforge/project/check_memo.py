"""Remembering that a project passed its checks, so that a run in which nothing
changed does not check it again.

The checks of :mod:`jobforge.project.checks` read every source's header, then
work out each layer's columns and labels, have the executor check each rule
and describe each gold query (DuckDB, and ``jobforge.sql`` for the labels):
most of a run in which nothing changed, and the only part of it that imports
polars, DuckDB and sqlglot. Their outcome depends only on what goes into
:func:`check_key`: the project file's bytes, the header each source file gives
(so a source whose columns changed is checked again), the plugins loaded (name,
distribution, version, and the size and time of their modules' files), the
executor and table store, and this version of jobforge with the checks' own
code. A passing check of a key is kept as one small file in the data root's
locks folder (``project-check.json``); a missing, unreadable or other key
means the checks run. A run with a plugin registered from Python
(``source = "explicit"``) is always checked: its code has no version to compare.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.storage.atomic import atomic_write_text, remove_stale_temporaries_of
from jobforge.storage.stamps import file_stamp

if TYPE_CHECKING:
    from jobforge.engine.executor import Executor
    from jobforge.pipeline.config import PipelineConfig
    from jobforge.project.model import Project
    from jobforge.sources.base import SourceHeader

MEMO_FILE = "project-check.json"

Headers = dict[str, "list[tuple[Path, SourceHeader]] | None"]
"""Source table -> the header of each of its files (``None``: not readable)."""


def _file_stamp(module: str) -> list[int] | None:
    return file_stamp(getattr(sys.modules.get(module), "__file__", None))


def check_key(
    project: Project, config: PipelineConfig, executor: Executor, headers: Headers
) -> str | None:
    """The digest of everything the checks' outcome depends on (``None``: not
    to be remembered, see the module docstring)."""
    from jobforge import __version__

    infos = config.plugins.infos
    if any(info.source == "explicit" for info in infos):
        return None
    store = config.store
    parts = {
        "jobforge": [__version__, _file_stamp("jobforge.project.checks")],
        "project": hashlib.sha256(project.path.read_bytes()).hexdigest(),
        "plugins": [
            [info.describe(), info.status, _file_stamp(info.module)]
            for info in infos
            if info.status == "loaded"
        ],
        "executor": [getattr(executor, "name", ""), type(executor).__qualname__],
        "store": [type(store).__module__, type(store).__qualname__],
        "headers": {
            name: None
            if found is None
            else [[str(path), header.columns, header.complete] for path, header in found]
            for name, found in headers.items()
        },
    }
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _memo_path(config: PipelineConfig) -> Path:
    return config.locks_path() / MEMO_FILE


def load_cache(path: Path) -> dict[str, Any] | None:
    """The JSON object a cache file in the locks folder holds; ``None`` if it is
    absent, unreadable or not an object (a cache only ever costs a recheck)."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) else None


def passed_before(config: PipelineConfig, key: str | None) -> bool:
    """Whether a check of ``key`` passed before in this data root."""
    if key is None:
        return False
    kept = load_cache(_memo_path(config))
    return kept is not None and kept.get("passed") == key


def remember_passed(config: PipelineConfig, key: str | None) -> None:
    """Keep that a check of ``key`` passed (a cache: not flushed to disk, and a
    failure to write it only means the next run checks again)."""
    if key is None or passed_before(config, key):
        return
    path = _memo_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # what a run killed while writing it left (a concurrent writer's in-flight
        # temporary may go too: its rename then fails, which only costs a check)
        remove_stale_temporaries_of(path.parent, MEMO_FILE)
        atomic_write_text(path, json.dumps({"passed": key}) + "\n", durable=False)
    except OSError:
        pass
