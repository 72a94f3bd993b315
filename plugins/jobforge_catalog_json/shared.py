"""The catalog folders every table shares: ``catalog/glossary/``, ``catalog/schemas/``
and ``catalog/runs/``.

Their files are written atomically (a temporary file, then a rename), like every
other file, but under no table's lock. So that what a killed writer left there
can be told from what a live one is writing, every writer holds the folder's
lock (:func:`~jobforge.storage.locks.folder_lock`) while its temporary file
exists: a temporary found while holding the lock is stale, and is removed.
That happens before each write there (:func:`writing`) and when an engine
starts (:func:`remove_shared_temporaries`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from jobforge.plugin import (
    DEFAULT_TIMEOUT_S,
    LockTimeoutError,
    PipelineConfig,
    folder_lock,
    get_logger,
    remove_stale_temporaries,
)
from jobforge_catalog_json.paths import runs_path

log = get_logger()

SharedFolder = Literal["glossary", "schemas", "runs"]
SHARED_FOLDERS: tuple[SharedFolder, ...] = ("glossary", "schemas", "runs")


def folder_path(config: PipelineConfig, folder: SharedFolder) -> Path:
    if folder == "glossary":
        return config.catalog_glossary_path()
    if folder == "runs":
        return runs_path(config)
    return config.catalog_schemas_path()


@contextlib.contextmanager
def writing(
    config: PipelineConfig, folder: SharedFolder, timeout: float = DEFAULT_TIMEOUT_S
) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (write its files inside it); the
    temporaries a killed writer left there are removed first. Yields the folder."""
    path = folder_path(config, folder)
    with folder_lock(config.locks_path(), folder, timeout):
        removed = remove_stale_temporaries(path)
        if removed:
            log.info("catalog.temporaries_removed", folder=str(path), files=removed)
        yield path


def remove_shared_temporaries(config: PipelineConfig) -> None:
    """Remove the temporaries killed writers left in the shared folders.

    A folder whose lock another process holds right now is skipped, without
    waiting: its temporary file is being written, and the next start or write
    there removes whatever stays.
    """
    for folder in SHARED_FOLDERS:
        with contextlib.suppress(LockTimeoutError), writing(config, folder, timeout=0):
            pass
