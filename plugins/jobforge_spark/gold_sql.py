"""Gold SQL for Spark: a project's gold SQL is written in jobforge's dialect
(DuckDB's); the spark executor runs its Spark SQL translation (sqlglot), and a
construct with no Spark equivalent is reported when the project is checked,
before anything runs, naming the construct."""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from jobforge.errors import QueryError
from jobforge.query.guard import select_statement

_DUCKDB_ONLY = {
    "list_concat": "concat(a, b)",
    "list_value": "array(...)",
    "string_agg": "concat_ws(sep, collect_list(x))",
    "struct_pack": "named_struct(...)",
    "unnest": "explode(...)",
    "list_aggregate": "aggregate(...)",
    "epoch_ms": "timestamp_millis(...)",
    "strftime": "date_format(...)",
    "strptime": "to_timestamp(...)",
    "regexp_matches": "rlike / regexp_like",
}
"""DuckDB functions sqlglot passes through unchanged that Spark does not have,
with what to write instead."""


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
        name = str(call.name).lower()
        if name in _DUCKDB_ONLY:
            raise ValueError(
                f"{name}() is DuckDB SQL with no Spark equivalent here; the spark executor "
                f"runs Spark SQL (write {_DUCKDB_ONLY[name]})"
            )
    for join in tree.find_all(sqlglot.exp.Join):
        kind = " ".join(str(join.args.get(k) or "") for k in ("method", "kind", "side")).upper()
        for duckdb_only in ("ASOF", "POSITIONAL"):
            if duckdb_only in kind.split():
                raise ValueError(
                    f"{duckdb_only} JOIN is DuckDB SQL with no Spark equivalent; the spark "
                    "executor runs Spark SQL"
                )
    try:
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise ValueError(
            f"not Spark SQL: {str(exc).splitlines()[0]} (the spark executor runs Spark SQL)"
        ) from None
