"""The bundled execution engine: polars lazy frames and streaming parquet sinks.

Every output (data, quarantine, duplicates) is written by its own streaming
plan with one sink: two sinks fed by one plan make polars hold rows for the
slower one, and reading an input parquet file again is cheap (a filter on a
few columns decodes the others only for the rows it keeps). Memory stays flat
in the number of rows: silver de-duplicates by a row hash, comparing only the
candidate rows in full (see :func:`jobforge_polars.dedupe.duplicate_rows`).
Row counts are taken from the written files' parquet footers. See
docs/performance.md.

One module per step, in the data's path: :mod:`.staged`, :mod:`.bronze`
(casts in :mod:`.casts`), :mod:`.silver` (de-duplication in :mod:`.dedupe`),
:mod:`.gold`; shared expressions in :mod:`.exprs`, the streaming
configuration in :mod:`.streaming`.
"""

from __future__ import annotations

from jobforge.plugin import (
    ARROW,
    BronzeRequest,
    Capabilities,
    GoldRequest,
    SilverRequest,
    StagedRequest,
    StepOutcome,
    literal,
)

# Each step's module (and polars with it) is imported when the step runs: a run
# in which nothing changed never imports them.

__all__ = ["PolarsExecutor"]


class PolarsExecutor:
    """Runs layer steps as polars lazy plans with streaming parquet sinks."""

    name = "polars"
    capabilities = Capabilities(
        transforms=frozenset({"polars", ARROW}),
        files_per_version="one",
        sql_dialect="duckdb",
        streaming=True,
        gold_sql=True,
    )

    def check_rule(self, expression: str, columns: dict[str, str]) -> str | None:
        """Whether a silver rule can run here (``None``) or what is wrong."""
        from jobforge_polars import checks

        return checks.check_rule(expression, columns)

    def describe_gold(self, sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """The columns a gold SQL query returns over inputs with these columns."""
        from jobforge_polars import checks

        return checks.describe_gold(sql, inputs)

    def write_staged(self, request: StagedRequest) -> StepOutcome:
        from jobforge_polars.staged import write_staged

        return write_staged(request.read, request.targets, request.context, request.pending)

    def write_bronze(self, request: BronzeRequest) -> StepOutcome:
        from jobforge_polars.bronze import write_bronze
        from jobforge_polars.streaming import measured, streaming

        with streaming(measured(request.inputs)):
            return write_bronze(
                request.inputs,
                _rows_in(request),
                request.schema,
                request.targets,
                request.context,
                request.pending,
            )

    def write_silver(self, request: SilverRequest) -> StepOutcome:
        from jobforge_polars.silver import write_silver
        from jobforge_polars.streaming import measured, streaming

        inputs = measured(request.inputs)
        with streaming(inputs):
            return write_silver(
                inputs,
                _rows_in(request),
                request.spec,
                request.targets,
                request.context,
                request.pending,
            )

    def write_gold(self, request: GoldRequest) -> StepOutcome:
        from jobforge_polars.gold import write_gold

        return write_gold(
            request.inputs, request.spec, request.targets, request.context, request.pending
        )


def _rows_in(request: BronzeRequest | SilverRequest) -> int:
    rows = request.ledger.rows_in
    return sum(literal.read_metadata(p).num_rows for p in request.inputs) if rows is None else rows
