"""The bundled execution engine: polars lazy plans with streaming sinks (trylast)."""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.engine.executor import Executor
from jobforge.engine.polars import PolarsExecutor
from jobforge.pipeline.config import PipelineConfig


@hookimpl(trylast=True)
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    engine = config.settings_for("engine") or {}
    if engine.get("executor", "polars") != "polars":
        return None  # another executor was chosen by name: its plugin answers
    return PolarsExecutor()
