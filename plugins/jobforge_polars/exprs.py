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
    SOURCE_FILE,
    SOURCE_ROW,
    STAGED_WRITE,
    WRITE,
    Carried,
    Constant,
    SetApartValue,
    StepContext,
    quarantine_values,
)

UTC_US = pl.Datetime("us", "UTC")
SINK: dict[str, Any] = {**WRITE, "lazy": True}
STAGED_SINK: dict[str, Any] = {**STAGED_WRITE, "lazy": True}
"""How staged is written (``jobforge.plugin.STAGED_WRITE``: lz4, null counts only)."""


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


_TYPES: dict[str, pl.DataType] = {"string": pl.String(), "int64": pl.Int64(), "timestamp": UTC_US}


def set_apart(values: dict[str, SetApartValue], given: dict[str, pl.Expr]) -> list[pl.Expr]:
    """The columns of rows set apart (:func:`jobforge.plugin.quarantine_values`,
    :func:`~jobforge.plugin.duplicate_values`) as polars expressions; ``given``
    holds the step's own values by name."""
    exprs = []
    for name, value in values.items():
        if isinstance(value, Carried):
            expr = pl.col(value.column)
            expr = expr if value.type is None else expr.cast(_TYPES[value.type])
        elif isinstance(value, Constant):
            expr = pl.lit(value.value, dtype=_TYPES[value.type])
        else:
            expr = given[value.name].cast(_TYPES[value.type])
        exprs.append(expr.alias(name))
    return exprs


def quarantine_frame(
    frame: pl.LazyFrame,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: pl.Expr,
    column: pl.Expr,
    message: pl.Expr,
    row: pl.Expr,
) -> pl.LazyFrame:
    given = {"rule_id": rule_id, "column": column, "message": message, "row": row}
    return frame.select(set_apart(quarantine_values(ctx, layer), given))


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
