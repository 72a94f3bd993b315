"""What only DuckDB itself can answer exactly: the name it gives an unaliased
expression, how its regular expressions match, which functions aggregate.

Answered by DuckDB's parser and function catalog on one in-memory connection
without external access (no file or network is read); nothing is bound to a
table and no user query is run. The connection is made on first use and shared
behind a lock.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache

import duckdb

from jobforge.errors import SqlError

_LOCK = threading.Lock()
_CONNECTION: duckdb.DuckDBPyConnection | None = None


def _connection() -> duckdb.DuckDBPyConnection:
    global _CONNECTION
    if _CONNECTION is None:
        _CONNECTION = duckdb.connect(
            ":memory:", config={"enable_external_access": False, "threads": 1}
        )
    return _CONNECTION


def _fetch(sql: str, params: list[object]) -> object:
    with _LOCK:
        row = _connection().execute(sql, params).fetchone()
    return row[0] if row else None


@lru_cache(maxsize=1024)
def expression_name(text: str) -> str:
    """The column name DuckDB gives the unaliased select item ``text``.

    DuckDB names such a column by its parsed expression printed back
    (``a+1`` -> ``(a + 1)``, ``count(*)`` -> ``count_star()``); this asks its
    parser for that text.
    """
    statement = "SELECT " + text
    try:
        serialized = _fetch("SELECT json_serialize_sql(?)", [statement])
        parsed = json.loads(str(serialized))
        if parsed.get("error"):
            raise SqlError(
                f"DuckDB cannot parse select item {text!r}: {parsed.get('error_message', '')}"
            )
        printed = str(_fetch("SELECT json_deserialize_sql(?::JSON)", [serialized]))
    except duckdb.Error as exc:
        raise SqlError(f"DuckDB cannot name select item {text!r}: {exc}") from None
    if not printed.startswith("SELECT "):
        raise SqlError(f"DuckDB cannot name select item {text!r}")
    return printed[len("SELECT ") :]


def regexp_filter(names: list[str], pattern: str) -> list[str]:
    """The ``names`` that ``COLUMNS(pattern)`` selects, in order (DuckDB's RE2
    ``regexp_matches``: a match anywhere in the name)."""
    if not names:
        return []
    try:
        flags = _fetch(
            "SELECT list_transform(?::VARCHAR[], lambda n: regexp_matches(n, ?))",
            [names, pattern],
        )
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise SqlError(f"COLUMNS({pattern!r}): not a valid regular expression: {first}") from None
    marks = flags if isinstance(flags, list) else []
    return [n for n, keep in zip(names, marks, strict=True) if keep]


@lru_cache(maxsize=1)
def aggregate_functions() -> frozenset[str]:
    """Lower-case names of DuckDB's aggregate functions."""
    with _LOCK:
        rows = (
            _connection()
            .execute(
                "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                "WHERE function_type = 'aggregate'"
            )
            .fetchall()
        )
    return frozenset(r[0] for r in rows)
