"""Plugins that raise where a test tells them to (for tests/test_plugin_faults.py).

:class:`Faulty` implements every hook the engine calls during a run and raises
``RuntimeError("injected fault in <hook>")`` in the hooks it is given, for the
given target layer only; elsewhere it passes (returns ``None``), so the
bundled plugins answer as usual.
"""

from __future__ import annotations

from typing import Any

from jobforge_polars.executor import PolarsExecutor

from jobforge import hookimpl

LIFECYCLE_HOOKS = (
    "before_transition",
    "after_transition",
    "transition_failed",
    "rows_quarantined",
)
CATALOG_HOOKS = (
    "enrich_table_metadata",
    "enrich_column_metadata",
    "write_table_metadata",
    "write_lineage",
)


class Faulty:
    def __init__(self, *hooks: str, layer: str = "silver") -> None:
        self.hooks = set(hooks)
        self.layer = layer
        self.jobforge_plugin_name = f"faulty-{'-'.join(sorted(hooks))}"

    def _maybe(self, hook: str, layer: str | None) -> None:
        if hook in self.hooks and layer == self.layer:
            raise RuntimeError(f"injected fault in {hook}")

    @hookimpl
    def jobforge_before_transition(self, event: Any) -> None:
        self._maybe("before_transition", event.target_layer)

    @hookimpl
    def jobforge_after_transition(self, event: Any) -> None:
        self._maybe("after_transition", event.target_layer)

    @hookimpl
    def jobforge_transition_failed(self, event: Any) -> None:
        self._maybe("transition_failed", event.target_layer)

    @hookimpl
    def jobforge_rows_quarantined(self, event: Any) -> None:
        self._maybe("rows_quarantined", event.target_layer)

    @hookimpl
    def jobforge_enrich_table_metadata(self, metadata: Any) -> None:
        self._maybe("enrich_table_metadata", metadata.layer)

    @hookimpl
    def jobforge_enrich_column_metadata(self, table: Any) -> None:
        self._maybe("enrich_column_metadata", table.layer)

    @hookimpl
    def jobforge_write_table_metadata(self, metadata: Any) -> None:
        self._maybe("write_table_metadata", metadata.layer)

    @hookimpl
    def jobforge_write_lineage(self, log: Any) -> None:
        self._maybe("write_lineage", log.target_layer)


class FaultyClaim:
    """Raises while claiming a source file (``jobforge_source_reader``)."""

    jobforge_plugin_name = "faulty-claim"

    @hookimpl
    def jobforge_source_reader(self, source: Any) -> None:
        raise RuntimeError("injected fault in source_reader")


class FailureSpy:
    """Keeps every ``jobforge_transition_failed`` call: (event, error)."""

    jobforge_plugin_name = "failure-spy"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, BaseException]] = []

    @hookimpl
    def jobforge_transition_failed(self, event: Any, error: BaseException) -> None:
        self.calls.append((event, error))


class _BrokenReader:
    format = "csv"

    def read(self) -> Any:
        raise RuntimeError("injected fault in read")


class FaultyReader:
    """Claims every file with a reader whose ``read()`` raises."""

    jobforge_plugin_name = "faulty-reader"

    @hookimpl
    def jobforge_source_reader(self, source: Any) -> _BrokenReader:
        return _BrokenReader()


class FaultyExecutorHook:
    """Raises in ``jobforge_executor`` itself."""

    jobforge_plugin_name = "faulty-executor-hook"

    @hookimpl
    def jobforge_executor(self) -> None:
        raise RuntimeError("injected fault in executor")


class BrokenSilverExecutor(PolarsExecutor):
    """The bundled executor, except that writing silver fails halfway: after the
    data file was written under its temporary name."""

    def write_silver(self, *args: Any, **kwargs: Any) -> Any:
        super().write_silver(*args, **kwargs)
        raise RuntimeError("injected fault in write_silver")


class FaultyExecutor:
    jobforge_plugin_name = "faulty-executor"

    @hookimpl
    def jobforge_executor(self) -> BrokenSilverExecutor:
        return BrokenSilverExecutor()


class FaultyLayout:
    jobforge_plugin_name = "faulty-layout"

    @hookimpl
    def jobforge_resolve_layer_path(self, layer: Any) -> None:
        raise RuntimeError("injected fault in resolve_layer_path")
