"""The read-only guard of every SQL jobforge runs for someone else, and SQL quoting.

SQL is parsed by DuckDB itself (``extract_statements``). Two entry points share
the same rules:

- :func:`read_only_statement` (``jobforge query``, :class:`~jobforge.query.QueryEngine`):
  exactly one ``SELECT`` statement (which includes ``FROM ...``, ``WITH ...``,
  ``VALUES``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE``) or an ``EXPLAIN`` of one;
- :func:`select_statement` (gold SQL): exactly one ``SELECT``, no ``EXPLAIN``.

Everything else (``COPY``, ``CREATE``, ``INSERT``, ``ATTACH``, ``INSTALL``,
``LOAD``, ``SET``, ``PRAGMA``, ``CALL``, ``EXPORT``, statement types this
version of jobforge does not know...) is refused before it runs. This is the
first of two locks: the connection itself cannot read or write any file either
(see :mod:`jobforge.query.sandbox`).
"""

from __future__ import annotations

import re

import duckdb

from jobforge.errors import QueryError

_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_TRAILING = re.compile(r"[\s;]+$")
_ALLOWED = "only SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run here"


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


class SQLParseError(QueryError):
    """SQL that DuckDB's parser refuses (the message is DuckDB's, on one line)."""


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SQLParseError(one_line(exc)) from None


def statement_kind(statement: duckdb.Statement) -> str:
    """The statement's type name (``SELECT``, ``COPY``...).

    A type the installed DuckDB knows but its Python enum does not name (for
    example ``UPDATE EXTENSIONS``) is ``"unknown (DuckDB statement type N)"``:
    never an exception, and never mistaken for an allowed type.
    """
    try:
        return statement.type.name
    except ValueError as exc:
        number = re.match(r"\s*(-?\d+)", str(exc))
        return f"unknown (DuckDB statement type {number.group(1) if number else '?'})"


def _single(sql: str, *, empty: str, several: str) -> duckdb.Statement:
    statements = _parse(sql)
    if not statements:
        raise QueryError(empty)
    if len(statements) > 1:
        raise QueryError(several.format(n=len(statements)))
    return statements[0]


def read_only_statement(sql: str) -> duckdb.Statement:
    """The single read-only statement of ``sql``; anything else is a QueryError."""
    statement = _single(
        sql,
        empty="empty query: expected one SELECT statement",
        several="{n} statements given: the query interface runs one SELECT at a time",
    )
    kind = statement_kind(statement)
    if kind == "EXPLAIN":
        inner = _parse(_EXPLAIN.sub("", statement.query, count=1))
        if len(inner) == 1 and statement_kind(inner[0]) == "SELECT":
            return statement
        raise QueryError("read-only query interface: only EXPLAIN of a SELECT is allowed")
    if kind != "SELECT":
        raise QueryError(
            f"read-only query interface: {kind} statements are not allowed ({_ALLOWED})"
        )
    return statement


def select_statement(sql: str) -> str:
    """The text of the single SELECT of ``sql`` (trailing ``;`` removed), for
    use as a subquery; anything else is a QueryError (gold SQL)."""
    statement = _single(
        sql,
        empty="the SQL is empty: expected one SELECT statement",
        several="the SQL holds {n} statements: expected exactly one SELECT",
    )
    kind = statement_kind(statement)
    if kind != "SELECT":
        raise QueryError(
            f"{kind} statements are not allowed: expected exactly one SELECT "
            "(read-only; no COPY, SET, ATTACH, PRAGMA...)"
        )
    return _TRAILING.sub("", statement.query)
