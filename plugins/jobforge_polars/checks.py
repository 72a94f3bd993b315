"""What the polars executor can tell about a declaration before any data is
read: whether a rule is a boolean expression over columns that exist, and the
columns a gold SQL query returns (bound by DuckDB on empty inputs)."""

from __future__ import annotations

import duckdb
import polars as pl

from jobforge.engine import provenance as prov
from jobforge.errors import QueryError
from jobforge.query.guard import select_statement
from jobforge.query.sandbox import Sandbox
from jobforge_polars.exprs import UTC_US, first_line, ident

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": UTC_US,
}
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
    "strings": "VARCHAR[]",
}
_FROM_SQL = {
    "VARCHAR": "string",
    "BIGINT": "int",
    "INTEGER": "int",
    "HUGEINT": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "DOUBLE": "float",
    "FLOAT": "float",
    "BOOLEAN": "bool",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "VARCHAR[]": "strings",
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


def describe_gold(sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """The columns (name -> type) ``sql`` returns over empty inputs with these
    columns, on a connection locked as the gold step's is (one SELECT, no file,
    no setting); raises ``ValueError`` with the reason on one line."""
    try:
        select = select_statement(sql)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    sandbox = Sandbox()
    try:
        for table, columns in inputs.items():
            defined = dict(columns)
            defined.setdefault(prov.LINEAGE, "strings")
            body = ", ".join(
                f"{ident(n)} {SQL_TYPES.get(t, 'VARCHAR')}" for n, t in defined.items()
            )
            sandbox.con.execute(f"CREATE TABLE {ident(table)} ({body})")
        con = sandbox.lock()
        try:
            described = con.execute(f"DESCRIBE {select}").fetchall()
        except duckdb.Error as exc:
            raise ValueError(first_line(exc)) from None
    finally:
        sandbox.close()
    return {row[0]: _FROM_SQL.get(str(row[1]), "other") for row in described}
