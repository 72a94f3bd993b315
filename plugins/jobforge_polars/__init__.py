"""The bundled execution engine: polars lazy plans with streaming sinks (trylast)."""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.engine.executor import Executor
from jobforge.pipeline.config import PipelineConfig
from jobforge_polars.executor import PolarsExecutor


@hookimpl(trylast=True)
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    """The polars executor, when the configuration names it (``[engine] executor``)."""
    return PolarsExecutor() if config.executor == PolarsExecutor.name else None
