"""What ingestion and the promotions of one engine share: the configuration,
its plugins, the executor and how long to wait for a lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from jobforge.engine.executor import Executor
from jobforge.hooks.host import PluginHost
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import versions
from jobforge.storage.store import TableStore


class NeedsLock(Exception):
    """A step looked at without the table's lock would have to run or write:
    the caller takes the lock and runs the table again (see
    :meth:`PipelineEngine.unlocked <jobforge.engine.pipeline.PipelineEngine.unlocked>`)."""


@dataclass(frozen=True)
class Runtime:
    config: PipelineConfig
    host: PluginHost
    executor: Executor
    lock_timeout: float
    executor_identity: str = ""
    """The executor's name and the plugin (and version) that gave it: part of
    every promotion's fingerprint."""
    run_id: str | None = None
    """The run the steps belong to (:attr:`TransitionEvent.run_id`)."""
    _layout_ready: list[bool] = field(default_factory=lambda: [False], repr=False)
    _tidied: list[bool] = field(default_factory=lambda: [False], repr=False)
    _once: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Guards the once-per-engine work, shared with the engines of other threads
    of the same run (:meth:`PipelineEngine.for_thread`)."""
    _unlocked: list[bool] = field(default_factory=lambda: [False], repr=False)

    @property
    def unlocked(self) -> bool:
        """Whether the steps run without the table's lock, allowed only to find
        that they are up to date (:meth:`must_write` stops any other)."""
        return self._unlocked[0]

    def set_unlocked(self, value: bool) -> None:
        self._unlocked[0] = value

    def must_write(self) -> None:
        """Called where a step is about to write: refused without the lock."""
        if self._unlocked[0]:
            raise NeedsLock()

    def ensure_layout(self) -> None:
        """Once per engine, after its first publication: every folder of the
        layout and what the catalog store needs (``prepare``: the JSON store's
        folders and JSON Schemas). A data root that never received a table gets
        neither. A step found up to date without the table's lock
        (:attr:`unlocked`) writes nothing, so it prepares nothing either: the
        first step that writes does, under its lock."""
        if self._layout_ready[0] or self._unlocked[0]:
            return
        with self._once:
            if self._layout_ready[0]:
                return
            self.config.ensure_layout()
            self.config.catalog.prepare(self.lock_timeout)
            self._layout_ready[0] = True

    def tidy_once(self) -> None:
        """Before the engine's first step: remove what killed writers left in the
        shared parts of the catalog (``CatalogStore.tidy``), once."""
        if self._tidied[0]:
            return
        with self._once:
            if not self._tidied[0]:
                self.config.catalog.tidy()
                self._tidied[0] = True

    def for_thread(self, executor: Executor, identity: str) -> Runtime:
        """A runtime for another thread's engine: its own executor and unlocked
        flag, the once-per-engine work shared with this one."""
        return Runtime(
            self.config,
            self.host,
            executor,
            self.lock_timeout,
            identity,
            self.run_id,
            _layout_ready=self._layout_ready,
            _tidied=self._tidied,
            _once=self._once,
        )

    @property
    def executor_label(self) -> str:
        """How errors name the executor: ``the executor module.Class``."""
        kind = type(self.executor)
        return f"the executor {kind.__module__}.{kind.__qualname__}"

    def layer_dir(self, layer: Layer) -> Path:
        return self.config.layer_path(layer)

    @property
    def store(self) -> TableStore:
        """The table store every version is read from and published to."""
        return self.config.store

    def current(self, layer: Layer, table: str) -> versions.CurrentVersion | None:
        """The current version of ``table`` in ``layer`` (``None`` if never published)."""
        return self.store.current(layer.value, table)
