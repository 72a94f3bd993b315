"""The bundled DuckDB executor: every declarative step as DuckDB SQL (trylast).

Chosen with ``[engine] executor = "duckdb"``; its settings (``[plugins.duckdb]``):
``memory_limit`` (default ``"1GB"``) and ``threads`` (default 2).
"""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.plugin import Executor, PipelineConfig
from jobforge_duckdb.executor import DuckDBExecutor


@hookimpl(trylast=True)
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    """The DuckDB executor, when the configuration names it (``[engine] executor``)."""
    if config.executor != DuckDBExecutor.name:
        return None
    settings = config.settings_for("duckdb") or {}
    return DuckDBExecutor(
        memory_limit=str(settings.get("memory_limit", "1GB")),
        threads=int(settings.get("threads", 2)),
    )
