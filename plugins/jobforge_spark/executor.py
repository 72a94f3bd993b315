"""The Spark executor: what the engine calls (see :mod:`jobforge_spark`)."""

from __future__ import annotations

from jobforge_polars import checks
from jobforge_polars.executor import PolarsExecutor

from jobforge.plugin import (
    ARROW,
    BronzeRequest,
    Capabilities,
    GoldRequest,
    SilverRequest,
    SparkSection,
    StagedRequest,
    StepOutcome,
    describe_gold,
    literal,
)
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
    capabilities = Capabilities(
        transforms=frozenset({ARROW}),  # per partition (mapInArrow); polars ones are refused
        files_per_version="many",  # Spark's part files are the version's files (output.py)
        sql_dialect="duckdb",  # the project's SQL, translated to Spark SQL (gold_sql.py)
        streaming=True,  # Spark spills; its part files are moved, never read by the driver
        gold_sql=True,
    )

    def __init__(self, settings: SparkSection) -> None:
        self.run = SparkRun(settings)
        self._scratch = Scratch()
        self._staged = PolarsExecutor()

    def check_rule(self, expression: str, columns: dict[str, str]) -> str | None:
        """Rules are SQL boolean expressions: checked as the polars executor
        checks them (Spark analyses them again when the step runs)."""
        return checks.check_rule(expression, columns)

    def describe_gold(self, sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """The columns a gold query returns; a ``ValueError`` naming a construct
        that has no Spark SQL translation."""
        spark_sql(sql)
        return describe_gold(sql, inputs)

    def close(self) -> None:
        """End the run: stop the session, remove the scratch folders."""
        self.run.stop()
        self._scratch.remove()

    def write_staged(self, request: StagedRequest) -> StepOutcome:
        return self._staged.write_staged(request)

    def write_bronze(self, request: BronzeRequest) -> StepOutcome:
        return bronze.write_bronze(
            self.run.session(),
            self._scratch,
            request.inputs,
            _rows_in(request),
            request.schema,
            request.targets,
            request.context,
            request.pending,
        )

    def write_silver(self, request: SilverRequest) -> StepOutcome:
        return silver.write_silver(
            self.run.session(),
            self._scratch,
            request.inputs,
            _rows_in(request),
            request.spec,
            request.targets,
            request.context,
            request.pending,
        )

    def write_gold(self, request: GoldRequest) -> StepOutcome:
        return gold.write_gold(
            self.run.session(),
            self._scratch,
            request.inputs,
            request.spec,
            request.targets,
            request.context,
            request.pending,
        )


def _rows_in(request: BronzeRequest | SilverRequest) -> int:
    rows = request.ledger.rows_in
    return sum(literal.read_metadata(p).num_rows for p in request.inputs) if rows is None else rows
