"""The bundled Spark executor: bronze, silver and gold run as Spark SQL plans.

Chosen by name (``[engine] executor = "spark"`` in ``jobforge.toml``, or
``PipelineConfig(executor="spark")``), with ``[engine.spark]`` (plugin
settings ``spark``) saying where it runs. pyspark is the optional extra
``jobforge[spark]``: it is imported only when the executor is chosen, and a
missing pyspark is a one-line error naming the extra. See docs/scale-out.md.
"""

from __future__ import annotations

import importlib.util

from jobforge import hookimpl
from jobforge.plugin import ConfigError, Executor, PipelineConfig

NAME = "spark"


@hookimpl(trylast=True)
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    """The spark executor, when the configuration names it (``[engine] executor``)."""
    if config.executor != NAME:
        return None
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            'engine.executor = "spark" needs pyspark, which is not installed: '
            "pip install 'jobforge[spark]' (and Java 17)"
        )
    from jobforge_spark.executor import SparkExecutor
    from jobforge_spark.settings import spark_settings

    return SparkExecutor(spark_settings(config.settings_for(NAME)))
