"""The read-only guard of the query interface, and SQL quoting.

A query is parsed by DuckDB itself (``extract_statements``) and must be exactly
one ``SELECT`` statement (which includes ``FROM ...``, ``WITH ...``,
``VALUES``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE``) or an ``EXPLAIN`` of one.
Everything else (``COPY``, ``CREATE``, ``INSERT``, ``ATTACH``, ``INSTALL``,
``LOAD``, ``SET``, ``PRAGMA``, ``CALL``, ``EXPORT``...) is refused before it
runs. This is the first of two locks: the connection itself is also locked
down (see :mod:`jobforge.query.engine`).
"""

from __future__ import annotations

import re

import duckdb

from jobforge.errors import QueryError

_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


def quote_ident(name: str) -> str:
    """A SQL identifier, always quoted: ``odd-name`` -> ``"odd-name"``."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A SQL string literal: ``it's`` -> ``'it''s'``."""
    return "'" + value.replace("'", "''") + "'"


def one_line(exc: BaseException) -> str:
    """DuckDB's message without the caret diagram and hints that follow it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None


def read_only_statement(sql: str) -> duckdb.Statement:
    """The single read-only statement of ``sql``; anything else is a QueryError."""
    statements = _parse(sql)
    if not statements:
        raise QueryError("empty query: expected one SELECT statement")
    if len(statements) > 1:
        raise QueryError(
            f"{len(statements)} statements given: the query interface runs one SELECT at a time"
        )
    statement = statements[0]
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _parse(_EXPLAIN.sub("", statement.query, count=1))
        if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
            return statement
        raise QueryError("read-only query interface: only EXPLAIN of a SELECT is allowed")
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(
            f"read-only query interface: {kind.name} statements are not allowed "
            "(only SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run here)"
        )
    return statement
