"""Parsing one DuckDB query with sqlglot, and the tables it reads.

The parser is sqlglot's DuckDB parser with one addition: every item of a
``SELECT`` list keeps the span of its original text (``meta["span"]``), so an
unaliased expression can be named exactly as DuckDB names it (see
:mod:`jobforge.sql.duckdb_names`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.parsers.duckdb import DuckDBParser

from jobforge.errors import SqlError

DIALECT = "duckdb"

# A table name with one of these is a path to DuckDB (a replacement scan), never a
# jobforge table (names are letters, digits, '_' and '-': jobforge.storage.names).
_PATH_CHARACTERS = frozenset("/\\.*?:")


class _SpannedParser(DuckDBParser):
    """DuckDB's parser; each projection remembers where its text is."""

    def _parse_projections(self) -> tuple[list[exp.Expr], list[exp.Expr] | None]:
        return self._parse_csv(self._parse_spanned_projection), None

    def _parse_spanned_projection(self) -> exp.Expr | None:
        start = self._curr.start if self._curr is not None else None
        item = self._parse_expression()
        if item is not None and start is not None and self._prev is not None:
            item.meta["span"] = (start, self._prev.end + 1)
        return item


class JobforgeDuckDB(DuckDB):
    """sqlglot's DuckDB dialect with spanned projections (output SQL is DuckDB's)."""

    Parser = _SpannedParser


@dataclass(frozen=True)
class TableReferences:
    """What a query reads, by kind.

    ``tables``: table (or view) names, CTE names excluded; a schema-qualified
    name is kept whole (``silver.employment``). ``functions``: table functions
    (``read_csv('x.csv')``, ``range(10)``), as SQL text. ``files``: replacement
    scans, a string literal (``FROM 'x.csv'``) or a name no table can have
    (``FROM "data/x.parquet"``): DuckDB reads the file.
    """

    tables: frozenset[str]
    functions: tuple[str, ...]
    files: frozenset[str]


def parse_query(sql: str) -> exp.Expr:
    """The one query in ``sql`` (a SELECT, a set operation, PIVOT or UNPIVOT).

    Raises :class:`SqlError` for text that does not parse, for more than one
    statement and for a statement that is not a query.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError("SQL is empty: expected one SELECT query")
    try:
        statements = [s for s in sqlglot.parse(sql, read=JobforgeDuckDB) if s is not None]
    except ParseError as exc:
        raise SqlError(f"SQL does not parse: {_parse_message(exc)}") from None
    except SqlglotError as exc:
        raise SqlError(f"SQL does not parse: {_first_line(str(exc))}") from None
    if len(statements) != 1:
        raise SqlError(f"SQL has {len(statements)} statements: expected one SELECT query")
    query = statements[0]
    if not isinstance(query, (exp.Query, exp.Pivot)):
        raise SqlError(
            f"SQL is a {query.key.upper()} statement: expected a query "
            "(SELECT, UNION, PIVOT, UNPIVOT)"
        )
    return query


def table_references(sql: str) -> TableReferences:
    """The tables, table functions and files ``sql`` reads (CTE names excluded)."""
    query = parse_query(sql)
    tables: set[str] = set()
    functions: list[str] = []
    files: set[str] = set()
    for table in query.find_all(exp.Table):
        kind, name = classify_table(table, sql)
        if kind == "function":
            functions.append(name)
        elif kind == "file":
            files.add(name)
        elif not is_cte_reference(table):
            tables.add(name)
    return TableReferences(frozenset(tables), tuple(functions), frozenset(files))


def referenced_tables(sql: str) -> set[str]:
    """The table names ``sql`` reads, CTE names excluded (see :func:`table_references`
    for table functions and files, which are not in this set)."""
    return set(table_references(sql).tables)


def classify_table(table: exp.Table, sql: str) -> tuple[str, str]:
    """``("function" | "file" | "table", name)`` of one ``FROM`` item."""
    this = table.this
    if not isinstance(this, exp.Identifier):
        return "function", this.sql(dialect=DIALECT) if this is not None else table.sql()
    name = this.this
    span = this.meta.get("start")
    if span is not None and sql[span : span + 1] == "'":
        return "file", name
    if len(table.parts) == 1 and any(c in name for c in _PATH_CHARACTERS):
        return "file", name
    return "table", ".".join(p.name for p in table.parts)


def is_cte_reference(table: exp.Table) -> bool:
    """True when ``table`` names a CTE visible where it stands."""
    if table.args.get("db") or table.args.get("catalog"):
        return False
    name = table.name.lower()
    child: exp.Expr = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            for i, cte in enumerate(ctes):
                if cte is child:
                    visible = ctes[: i + 1] if node.args.get("recursive") else ctes[:i]
                    if any(c.alias_or_name.lower() == name for c in visible):
                        return True
                    break
        else:
            with_ = node.args.get("with_")
            if (
                isinstance(with_, exp.With)
                and child is not with_
                and any(c.alias_or_name.lower() == name for c in with_.expressions)
            ):
                return True
        child, node = node, node.parent
    return False


def _parse_message(exc: ParseError) -> str:
    if exc.errors:
        first = exc.errors[0]
        where = ""
        if first.get("line") is not None:
            where = f"line {first['line']}, column {first.get('col')}: "
        return where + _first_line(str(first.get("description") or exc))
    return _first_line(str(exc))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"
