"""Expression helpers shared by the steps: columns by exact name, timestamps,
provenance carried forward, quarantine rows and SQL quoting."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from jobforge.plugin import (
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    PROCESSED_AT,
    QUARANTINE_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    WRITE,
    StepContext,
)

UTC_US = pl.Datetime("us", "UTC")
SINK: dict[str, Any] = {**WRITE, "lazy": True}


def column(name: str) -> pl.Expr:
    """The column called ``name``, whatever it is called.

    ``pl.col`` reads ``"*"`` as every column and ``"^...$"`` as a regular
    expression; source headers may be exactly that, so data columns are always
    selected through an anchored, escaped pattern.
    """
    return pl.col(f"^{re.escape(name)}$")


def ts(value: object) -> pl.Expr:
    return pl.lit(value, dtype=UTC_US)


def json_row(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit("{}")
    return pl.struct([column(c) for c in columns]).struct.json_encode()


def first_true(flags: list[tuple[pl.Expr, str]]) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(flag).then(pl.lit(label)) for flag, label in flags])


def all_true(flags: list[tuple[pl.Expr, pl.Expr]], separator: str) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(
        [pl.when(flag).then(text) for flag, text in flags], separator=separator, ignore_nulls=True
    )


def quarantine_frame(
    frame: pl.LazyFrame,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: pl.Expr,
    column: pl.Expr,
    message: pl.Expr,
    row: pl.Expr,
    severity: str = "error",
) -> pl.LazyFrame:
    return frame.select(
        pl.col(SOURCE_FILE),
        pl.col(INGESTED_AT),
        pl.col(BATCH_ID),
        pl.col(SOURCE_ROW).cast(pl.Int64),
        pl.lit(layer).alias("layer"),
        pl.lit(ctx.table).alias("table_name"),
        rule_id.cast(pl.String).alias("rule_id"),
        column.cast(pl.String).alias("column"),
        message.cast(pl.String).alias("message"),
        pl.lit(severity).alias("severity"),
        row.alias("row"),
        ts(ctx.processed_at).alias("quarantined_at"),
    ).select(QUARANTINE_COLUMNS)


def carry(ctx: StepContext, layer: str) -> list[pl.Expr]:
    return [
        pl.col(SOURCE_FILE),
        pl.col(INGESTED_AT),
        pl.col(BATCH_ID),
        pl.lit(layer).alias(LAYER),
        pl.col(SOURCE_ROW),
        ts(ctx.processed_at).alias(PROCESSED_AT),
    ]


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
