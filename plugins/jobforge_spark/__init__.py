"""The bundled Spark executor: bronze, silver and gold run as Spark SQL plans.

Chosen by name (``[engine] executor = "spark"`` in ``jobforge.toml``, or
``plugin_settings={"engine": {"executor": "spark"}}``); any other choice
leaves the hook to the executor named. pyspark is the optional extra
``jobforge[spark]``: it is imported only when the executor is chosen, and a
missing pyspark is a one-line error naming the extra. See docs/scale-out.md.
"""

from __future__ import annotations

import importlib.util

from jobforge import hookimpl
from jobforge.engine.executor import Executor
from jobforge.errors import ConfigError
from jobforge.pipeline.config import PipelineConfig

NAME = "spark"


@hookimpl
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    engine = config.settings_for("engine") or {}
    if engine.get("executor") != NAME:
        return None
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            'engine.executor = "spark" needs pyspark, which is not installed: '
            "pip install 'jobforge[spark]' (and Java 17)"
        )
    from jobforge_spark.executor import SparkExecutor
    from jobforge_spark.settings import spark_settings

    return SparkExecutor(spark_settings(engine.get("spark")))
