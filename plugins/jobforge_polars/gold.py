"""The gold step: a SQL query (DuckDB) or a Python function (polars) over silver
tables, with row lineage kept."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.plugin import (
    BATCH_ID,
    LAYER,
    LINEAGE,
    PROCESSED_AT,
    SOURCE_ROW,
    WRITE,
    ContractError,
    GoldSpec,
    HashingFile,
    PendingFiles,
    StepContext,
    StepOutcome,
    StepTargets,
    literal,
    require_lineage,
    run_gold_sql,
)
from jobforge_polars.exprs import ts
from jobforge_polars.streaming import measured, streaming


def write_gold(
    inputs: dict[str, list[Path]],
    spec: GoldSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    with pending.sink_for(targets.data) as out_file:
        if spec.sql is not None:
            run_gold_sql(inputs, spec, out_file, ctx)
        else:
            with streaming(measured([p for paths in inputs.values() for p in paths])):
                _gold_python(inputs, spec, out_file, ctx)
    out = pending.row_count(targets.data)
    return StepOutcome(
        rows_in=0,
        rows_out=out,
        transforms_applied=[f"gold:{spec.transform_label}"],
    )


def _with_lineage(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    if LINEAGE in frame.collect_schema().names():
        return frame
    key = pl.concat_str(
        [
            pl.lit(f"{name}:"),
            pl.col(BATCH_ID),
            pl.lit(":"),
            pl.col(SOURCE_ROW).cast(pl.String),
        ]
    )
    return frame.with_columns(pl.concat_list([key]).alias(LINEAGE))


def _gold_python(
    inputs: dict[str, list[Path]], spec: GoldSpec, target: HashingFile, ctx: StepContext
) -> None:
    frames = {n: _with_lineage(n, literal.scan_parquet(p)) for n, p in inputs.items()}
    result = spec.resolved_function()(frames)
    if isinstance(result, pl.DataFrame):
        result = result.lazy()
    if not isinstance(result, pl.LazyFrame):
        raise ContractError(
            f"gold {spec.name}: {spec.transform_label} returned {type(result).__name__}, "
            "expected a polars LazyFrame"
        )
    names = list(result.collect_schema().names())
    require_lineage(spec, names)
    keep = [c for c in names if c not in (LAYER, PROCESSED_AT)]
    literal.sink_parquet(
        result.select(*keep, pl.lit("gold").alias(LAYER), ts(ctx.processed_at).alias(PROCESSED_AT)),
        target,
        **WRITE,
    )
