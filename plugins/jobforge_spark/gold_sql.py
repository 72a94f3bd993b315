"""Gold SQL for Spark: a project's gold SQL is written in jobforge's dialect
(DuckDB's); the spark executor runs its Spark SQL translation (sqlglot), and a
construct with no Spark equivalent is reported when the project is checked,
before anything runs, naming the construct."""

from __future__ import annotations

import functools

import duckdb
import sqlglot
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from jobforge.plugin import QueryError, select_statement


@functools.cache
def _duckdb_functions() -> frozenset[str]:
    """Every function name DuckDB knows."""
    with duckdb.connect() as con:
        names = con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    return frozenset(str(row[0]).lower() for row in names)


def spark_sql(sql: str) -> str:
    """The Spark SQL of the gold query ``sql`` (one SELECT, DuckDB dialect); a
    ``ValueError`` naming the construct Spark cannot run."""
    try:
        select = select_statement(sql)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    try:
        tree = sqlglot.parse_one(select, read="duckdb")
    except ParseError as exc:
        raise ValueError(f"SQL error: {str(exc).splitlines()[0]}") from None
    for call in tree.find_all(sqlglot.exp.Anonymous):
        # A function sqlglot does not translate is passed on unchanged: a DuckDB
        # one then fails in Spark, so it is named now.
        name = str(call.name).lower()
        if name in _duckdb_functions():
            raise ValueError(
                f"{name}() is DuckDB SQL with no Spark SQL translation; the spark executor "
                "runs Spark SQL"
            )
    for join in tree.find_all(sqlglot.exp.Join):
        kind = " ".join(str(join.args.get(k) or "") for k in ("method", "kind", "side")).upper()
        for duckdb_only in ("ASOF", "POSITIONAL"):
            if duckdb_only in kind.split():
                raise ValueError(
                    f"{duckdb_only} JOIN is DuckDB SQL with no Spark equivalent; the spark "
                    "executor runs Spark SQL"
                )
    for division in tree.find_all(sqlglot.exp.IntDiv):
        if not (_integer(division.this) and _integer(division.expression)):
            raise ValueError(
                f"{division.sql(dialect='duckdb')}: // is DuckDB's integer division, which "
                "divides exactly unless both sides are integers; Spark's DIV always "
                "truncates, so the spark executor runs // only between integer literals or "
                "CASTs to an integer type (CAST(n AS BIGINT) // 2)"
            )
    try:
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise ValueError(
            f"not Spark SQL: {str(exc).splitlines()[0]} (the spark executor runs Spark SQL)"
        ) from None


def _integer(node: sqlglot.exp.Expression) -> bool:
    """Whether ``node`` is an integer whatever the columns' types: an integer
    literal, a CAST to an integer type, or integer arithmetic of those (where
    DuckDB's ``//`` and Spark's ``DIV`` agree: both truncate toward zero)."""
    exp = sqlglot.exp
    if isinstance(node, exp.Literal):
        return not node.is_string and node.is_int
    if isinstance(node, exp.Cast):
        return node.to.this in exp.DataType.INTEGER_TYPES
    if isinstance(node, exp.Paren | exp.Neg):
        return _integer(node.this)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.IntDiv):
        return _integer(node.this) and _integer(node.expression)
    return False
