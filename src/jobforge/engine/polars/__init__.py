"""The bundled execution engine: polars lazy frames and streaming parquet sinks.

Every output (data, quarantine, duplicates) is written by its own streaming
plan with one sink: two sinks fed by one plan make polars hold rows for the
slower one, and reading an input parquet file again is cheap (a filter on a
few columns decodes the others only for the rows it keeps). Memory stays flat
in the number of rows: silver de-duplicates by a row hash, comparing only the
candidate rows in full (see :func:`jobforge.engine.polars.dedupe.duplicate_rows`).
Row counts are taken from the written files' parquet footers. See
docs/performance.md.

One module per step, in the data's path: :mod:`.staged`, :mod:`.bronze`
(casts in :mod:`.casts`), :mod:`.silver` (de-duplication in :mod:`.dedupe`),
:mod:`.gold`; shared expressions in :mod:`.exprs`, the streaming
configuration in :mod:`.streaming`.
"""

from __future__ import annotations

from pathlib import Path

from jobforge.engine.executor import StagedContext, StepContext, StepOutcome, StepTargets
from jobforge.engine.polars import checks
from jobforge.engine.polars.bronze import write_bronze
from jobforge.engine.polars.gold import write_gold
from jobforge.engine.polars.silver import write_silver
from jobforge.engine.polars.staged import write_staged
from jobforge.engine.polars.streaming import streaming
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.sources.base import ReadResult
from jobforge.storage.pending import PendingFiles

__all__ = ["PolarsExecutor"]


class PolarsExecutor:
    """Runs layer steps as polars lazy plans with streaming parquet sinks."""

    name = "polars"

    def check_rule(self, expression: str, columns: dict[str, str]) -> str | None:
        """Whether a silver rule can run here (``None``) or what is wrong."""
        return checks.check_rule(expression, columns)

    def describe_gold(self, sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """The columns a gold SQL query returns over inputs with these columns."""
        return checks.describe_gold(sql, inputs)

    def write_staged(
        self, read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
    ) -> StepOutcome:
        return write_staged(read, targets, ctx, pending)

    def write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        with streaming(inputs):
            return write_bronze(inputs, rows_in, schema, targets, ctx, pending)

    def write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        with streaming(inputs):
            return write_silver(inputs, rows_in, spec, targets, ctx, pending)

    def write_gold(
        self,
        inputs: dict[str, list[Path]],
        spec: GoldSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        return write_gold(inputs, spec, targets, ctx, pending)
