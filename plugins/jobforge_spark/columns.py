"""Column helpers shared by the steps: columns by exact name, provenance carried
forward, JSON rows, flags and quarantine rows, as Spark column expressions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, StringType

from jobforge.plugin import (
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    PROCESSED_AT,
    SOURCE_FILE,
    SOURCE_ROW,
    Carried,
    Constant,
    SetApartValue,
    StepContext,
    quarantine_values,
)


def column(name: str) -> Column:
    """The column called ``name``, whatever it is called (a dot in a name is not
    a struct field, a backtick is part of it)."""
    return F.col("`" + name.replace("`", "``") + "`")


def ts(value: datetime | None) -> Column:
    return F.lit(value).cast("timestamp")


def json_row(columns: list[str], frame: DataFrame) -> Column:
    """The columns of ``frame`` as one JSON object, nulls kept (as polars writes
    it); a float JSON cannot write (NaN, infinities, which Spark writes as the
    texts ``"NaN"`` and ``"Infinity"``) is null, as in polars."""
    if not columns:
        return F.lit("{}")
    types = {f.name: f.dataType for f in frame.schema.fields}

    def value(c: str) -> Column:
        if isinstance(types.get(c), DoubleType | FloatType):
            finite = ~F.isnan(column(c)) & (F.abs(column(c)) != F.lit(float("inf")))
            return F.when(finite, column(c)).alias(c)
        return column(c).alias(c)

    return F.to_json(F.struct(*[value(c) for c in columns]), {"ignoreNullFields": "false"})


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


def python_repr() -> Callable[[Column], Column]:
    """A function column giving Python's ``repr`` of a string, as the polars
    executor quotes a value that did not cast (runs in Python workers, on the
    quarantined rows only)."""

    # Defined here, not at module level, so that it is pickled by value: the
    # workers of a Spark Connect server need not have jobforge installed.
    def quoted(value: str | None) -> str | None:
        return None if value is None else repr(value)

    # Plain pickled rows: Spark's Arrow-optimised path would need pandas.
    return F.udf(quoted, StringType(), useArrow=False)


_TYPES = {"string": "string", "int64": "bigint", "timestamp": "timestamp"}


def set_apart(values: dict[str, SetApartValue], given: dict[str, Column]) -> list[Column]:
    """The columns of rows set apart (:func:`jobforge.plugin.quarantine_values`,
    :func:`~jobforge.plugin.duplicate_values`) as Spark columns; ``given`` holds
    the step's own values by name."""
    columns = []
    for name, value in values.items():
        if isinstance(value, Carried):
            col = column(value.column)
            col = col if value.type is None else col.cast(_TYPES[value.type])
        elif isinstance(value, Constant):
            col = F.lit(value.value).cast(_TYPES[value.type])
        else:
            col = given[value.name].cast(_TYPES[value.type])
        columns.append(col.alias(name))
    return columns


def quarantine_rows(
    frame: DataFrame,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: Column,
    column_names: Column,
    message: Column,
    row: Column,
) -> DataFrame:
    given = {"rule_id": rule_id, "column": column_names, "message": message, "row": row}
    return frame.select(*set_apart(quarantine_values(ctx, layer), given))


def carry(ctx: StepContext, layer: str) -> list[Column]:
    return [
        F.col(SOURCE_FILE),
        F.col(INGESTED_AT),
        F.col(BATCH_ID),
        F.lit(layer).alias(LAYER),
        F.col(SOURCE_ROW),
        ts(ctx.processed_at).alias(PROCESSED_AT),
    ]
