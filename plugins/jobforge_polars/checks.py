"""What the polars executor can tell about a declaration before any data is
read: whether a rule is a boolean expression over columns that exist, and the
columns a gold SQL query returns (bound by DuckDB on empty inputs)."""

from __future__ import annotations

import polars as pl

from jobforge.plugin import describe_gold, first_line
from jobforge_polars.exprs import UTC_US

__all__ = ["POLARS_TYPES", "check_rule", "describe_gold"]

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": UTC_US,
}


def check_rule(expression: str, columns: dict[str, str]) -> str | None:
    """``None`` if ``expression`` is a boolean expression over ``columns``
    (name -> type), else what is wrong, on one line."""
    frame = pl.LazyFrame(schema={n: POLARS_TYPES.get(t, pl.String()) for n, t in columns.items()})
    try:
        schema = frame.select(pl.sql_expr(expression).alias("rule")).collect_schema()
    except Exception as exc:
        return first_line(exc).split("; valid columns:")[0]
    if schema["rule"] != pl.Boolean:
        return f"is not a boolean expression (it gives {schema['rule']})"
    return None
