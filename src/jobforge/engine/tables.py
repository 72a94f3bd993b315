"""The per-table locks of one engine, and what taking one does first.

A run on a table holds its lock (:func:`~jobforge.storage.locks.table_lock`)
across its steps. Before the first step, under the lock: no symbolic link may
stand where the table's files go, the temporaries a killed run left are removed
and an interrupted publication is finished or undone
(:func:`~jobforge.engine.recovery.recover`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jobforge.catalog.entries import write_entry_locked
from jobforge.catalog.profile import summary_cache_file, summary_cache_folder
from jobforge.catalog.totals import totals_file
from jobforge.engine.lineage_memo import memo_file, memo_folder
from jobforge.engine.quarantine import AREAS, quarantine_dir
from jobforge.engine.recovery import recover
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage.atomic import remove_stale_temporaries_of
from jobforge.storage.locks import table_lock
from jobforge.storage.names import ensure_no_symlinks
from jobforge.storage.roots import write_roots as write_roots


class TableLocks:
    """Re-entrant per-table locks: steps inside a held lock take it again for free."""

    def __init__(self, config: PipelineConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self._held: set[str] = set()

    def held(self, table: str) -> bool:
        return table in self._held

    @contextlib.contextmanager
    def assume(self, table: str) -> Iterator[None]:
        """Let the steps inside run as if ``table``'s lock were held, without
        taking it: for steps that only read (see ``PipelineEngine.unlocked``)."""
        self._held.add(table)
        try:
            yield
        finally:
            self._held.discard(table)

    @contextlib.contextmanager
    def hold(self, table: str) -> Iterator[None]:
        if table in self._held:
            yield
            return
        self._check_no_symlinks(table)
        with table_lock(self.config.locks_path(), table, self.timeout):
            self._held.add(table)
            try:
                self._remove_temporaries(table)
                recover(
                    self.config,
                    table,
                    lambda metadata: write_entry_locked(self.config, metadata, self.timeout),
                )
                yield
            finally:
                self._held.discard(table)

    def _check_no_symlinks(self, table: str) -> None:
        """Refuse to run on ``table`` if a symbolic link was planted where its
        files go (a link would send writes outside the data root)."""
        config = self.config
        tables = config.catalog_tables_path()
        paths = [
            *(config.layer_path(layer) / table for layer in Layer),
            config.quarantine_path() / table,
            *(quarantine_dir(config, table, area) for area in AREAS),
            config.catalog_lineage_path() / table,
            *(tables / layer.value / "_history" for layer in Layer),
            *(summary_cache_folder(config) / layer.value for layer in Layer),
            memo_folder(config),
        ]
        roots = write_roots(config)
        for path in paths:
            ensure_no_symlinks(roots, path)

    def _remove_temporaries(self, table: str) -> None:
        """Remove what an interrupted run on ``table`` left under temporary names."""
        config = self.config
        config.store.remove_temporaries(table)
        config.catalog.tidy_table(table, self.timeout)
        for layer in Layer:
            cache = summary_cache_file(config, layer.value, table)
            for path in (cache, totals_file(cache)):
                remove_stale_temporaries_of(path.parent, path.name)
        memo = memo_file(config, table)
        remove_stale_temporaries_of(memo.parent, memo.name)
        for name in (f"{table}.journal", f"{table}.holder"):
            remove_stale_temporaries_of(config.locks_path(), name)
