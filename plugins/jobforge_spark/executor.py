"""The Spark executor: what the engine calls (see :mod:`jobforge_spark`)."""

from __future__ import annotations

from pathlib import Path

from jobforge.engine.executor import StagedContext, StepContext, StepOutcome, StepTargets
from jobforge.engine.polars import PolarsExecutor
from jobforge.engine.polars.checks import check_rule as polars_check_rule
from jobforge.engine.polars.checks import describe_gold as duckdb_describe_gold
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.project.model import SparkSection
from jobforge.sources.base import ReadResult
from jobforge.storage.pending import PendingFiles
from jobforge_spark import bronze, gold, silver
from jobforge_spark.gold_sql import spark_sql
from jobforge_spark.output import Scratch
from jobforge_spark.session import SparkRun


class SparkExecutor:
    """Runs bronze, silver and gold as Spark plans in one session per run.

    Staged ingestion stays on jobforge's single-machine readers (the source
    file is on one machine, and they are what the fidelity guarantees are
    proven on): the staged step is the polars executor's.
    """

    name = "spark"
    python_transforms = False
    """Silver transforms and gold functions are polars functions: refused when
    the project is checked."""

    def __init__(self, settings: SparkSection) -> None:
        self.run = SparkRun(settings)
        self._scratch = Scratch()
        self._staged = PolarsExecutor()

    def check_rule(self, expression: str, columns: dict[str, str]) -> str | None:
        """Rules are SQL boolean expressions: checked as the polars executor
        checks them (Spark analyses them again when the step runs)."""
        return polars_check_rule(expression, columns)

    def describe_gold(self, sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """The columns a gold query returns; a ``ValueError`` naming a construct
        that has no Spark SQL translation."""
        spark_sql(sql)
        return duckdb_describe_gold(sql, inputs)

    def close(self) -> None:
        """End the run: stop the session, remove the scratch folders."""
        self.run.stop()
        self._scratch.remove()

    def write_staged(
        self, read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
    ) -> StepOutcome:
        return self._staged.write_staged(read, targets, ctx, pending)

    def write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        spark = self.run.session()
        return bronze.write_bronze(
            spark, self._scratch, inputs, rows_in, schema, targets, ctx, pending
        )

    def write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        spark = self.run.session()
        return silver.write_silver(
            spark, self._scratch, inputs, rows_in, spec, targets, ctx, pending
        )

    def write_gold(
        self,
        inputs: dict[str, list[Path]],
        spec: GoldSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        spark = self.run.session()
        return gold.write_gold(spark, self._scratch, inputs, spec, targets, ctx, pending)
