"""The bundled execution engine: polars lazy plans with streaming sinks (trylast)."""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.engine.polars import PolarsExecutor
from jobforge.plugin import Executor


@hookimpl(trylast=True)
def jobforge_executor() -> Executor:
    return PolarsExecutor()
