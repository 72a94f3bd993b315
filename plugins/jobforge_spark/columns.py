"""Column helpers shared by the steps: columns by exact name, provenance carried
forward, JSON rows, flags and quarantine rows, as Spark column expressions."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobforge.plugin import (
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    PROCESSED_AT,
    QUARANTINE_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    StepContext,
)


def column(name: str) -> Column:
    """The column called ``name``, whatever it is called (a dot in a name is not
    a struct field, a backtick is part of it)."""
    return F.col("`" + name.replace("`", "``") + "`")


def ts(value: datetime | None) -> Column:
    return F.lit(value).cast("timestamp")


def json_row(columns: list[str]) -> Column:
    """The columns as one JSON object, nulls kept (as polars writes it)."""
    if not columns:
        return F.lit("{}")
    return F.to_json(
        F.struct(*[column(c).alias(c) for c in columns]), {"ignoreNullFields": "false"}
    )


def first_true(flags: list[tuple[Column, str]]) -> Column:
    if not flags:
        return F.lit(None).cast("string")
    return F.coalesce(*[F.when(flag, F.lit(label)) for flag, label in flags])


def all_true(flags: list[tuple[Column, Column]], separator: str) -> Column:
    if not flags:
        return F.lit(None).cast("string")
    return F.concat_ws(separator, *[F.when(flag, text) for flag, text in flags])


def any_true(flags: list[Column]) -> Column:
    if not flags:
        return F.lit(False)
    found = flags[0]
    for flag in flags[1:]:
        found = found | flag
    return found


def python_repr() -> Column:
    """A function column giving Python's ``repr`` of a string, as the polars
    executor quotes a value that did not cast (runs in Python workers, on the
    quarantined rows only)."""

    # Defined here, not at module level, so that it is pickled by value: the
    # workers of a Spark Connect server need not have jobforge installed.
    def quoted(value: str | None) -> str | None:
        return None if value is None else repr(value)

    # Plain pickled rows: Spark's Arrow-optimised path would need pandas.
    return F.udf(quoted, StringType(), useArrow=False)


def quarantine_rows(
    frame: object,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: Column,
    column_names: Column,
    message: Column,
    row: Column,
    severity: str = "error",
) -> object:
    return frame.select(  # type: ignore[attr-defined]
        F.col(SOURCE_FILE),
        F.col(INGESTED_AT),
        F.col(BATCH_ID),
        F.col(SOURCE_ROW).cast("bigint").alias(SOURCE_ROW),
        F.lit(layer).alias("layer"),
        F.lit(ctx.table).alias("table_name"),
        rule_id.cast("string").alias("rule_id"),
        column_names.cast("string").alias("column"),
        message.cast("string").alias("message"),
        F.lit(severity).alias("severity"),
        row.alias("row"),
        ts(ctx.processed_at).alias("quarantined_at"),
    ).select(*[column(c) for c in QUARANTINE_COLUMNS])


def carry(ctx: StepContext, layer: str) -> list[Column]:
    return [
        F.col(SOURCE_FILE),
        F.col(INGESTED_AT),
        F.col(BATCH_ID),
        F.lit(layer).alias(LAYER),
        F.col(SOURCE_ROW),
        ts(ctx.processed_at).alias(PROCESSED_AT),
    ]
