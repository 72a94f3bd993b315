"""Column lineage of a gold query: which input columns each output column is
computed from, and how.

``inputs`` maps each input table to its ordered columns (a list of names, or a
``{name: type}`` mapping; types are not needed). Every input also has the
``_lineage`` column the gold step adds to its views (each executor's gold step),
appended if not listed. Names are matched as DuckDB matches them:
case-insensitively, with the spelling of the input schema kept in the answer.

The rules (docs/provenance.md, "Column lineage"):

- a bare column keeps the kind of what it names: ``identity`` when its name is
  the source column's, ``rename`` otherwise; ``CAST``/``TRY_CAST``/``::`` of
  one is ``cast``; anything else is ``expression``, or ``aggregate`` when an
  aggregate or window function (or a column computed by one) is involved, or
  ``literal`` when no column is read;
- names resolve through table aliases, self joins (one source table), CTEs
  (recursive ones too), subqueries (correlated ones too), set operations (the
  sources of each branch; ``EXCEPT``'s right side only filters), ``USING`` and
  ``NATURAL`` keys (both sides), struct field access (``s.a``, ``s['a']``: the
  column ``s``), ``*`` with ``EXCLUDE``/``REPLACE``/``RENAME``, ``COLUMNS(...)``
  (a regular expression, a list of names or ``*``), ``PIVOT`` (with ``IN``
  lists) and ``UNPIVOT``, both DuckDB's statements and the SQL-standard clauses.
  sqlglot parses DuckDB's ``UNPIVOT ... ON COLUMNS('^y[0-9]{4}$')`` statement
  but its own ``qualify``/``lineage`` cannot resolve through it, so the resolver
  here (``jobforge.sql.resolve``) does all the resolution itself;
- columns read only to filter, join, group or order are not sources; they are
  ``filter_columns``;
- provenance columns (``jobforge.engine.provenance``) are never sources of a
  data column (they are its ``provenance_sources``); an output provenance
  column such as ``_lineage`` has its sources like any column.

What cannot be known without the data is refused with a :class:`SqlError`
naming it (``PIVOT`` without ``IN``, ``COLUMNS`` with a lambda, table functions
and files, unknown or ambiguous names), never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobforge.engine import provenance as prov
from jobforge.errors import SqlError
from jobforge.sql.model import ColumnLineage, QueryLineage, SourceColumn
from jobforge.sql.parse import parse_query
from jobforge.sql.resolve import Resolver

Inputs = Mapping[str, Sequence[str] | Mapping[str, str]]
"""Each input table's ordered column names, or ``{column: type}``."""


def analyse_query(sql: str, inputs: Inputs) -> QueryLineage:
    """Everything the analysis knows about ``sql`` over ``inputs``, in one parse."""
    schemas = _schemas(inputs)
    query = parse_query(sql)
    resolver = Resolver(sql, schemas)
    relation = resolver.query(query, {}, None)
    columns: dict[str, ColumnLineage] = {}
    seen: dict[str, str] = {}
    for col in relation.columns:
        lower = col.name.lower()
        if lower in seen:
            raise SqlError(
                f"output column {col.name!r} appears twice (also as {seen[lower]!r}); "
                "give each output column its own name (names are case-insensitive)"
            )
        seen[lower] = col.name
        if prov.is_provenance(col.name):
            sources, provenance = col.sources, frozenset[SourceColumn]()
        else:
            sources = frozenset(s for s in col.sources if not prov.is_provenance(s.column))
            provenance = col.sources - sources
        columns[col.name] = ColumnLineage(col.name, col.kind, sources, col.expression, provenance)
    return QueryLineage(
        columns=columns,
        filter_columns=frozenset(resolver.filters),
        referenced=frozenset(resolver.read),
        tables=frozenset(resolver.tables),
    )


def column_lineage(sql: str, inputs: Inputs) -> dict[str, ColumnLineage]:
    """Each output column of ``sql``, in order, with its sources and kind."""
    return analyse_query(sql, inputs).columns


def filter_columns(sql: str, inputs: Inputs) -> dict[str, set[str]]:
    """Input columns read to filter, join, group or order rows, by table."""
    return _by_table(analyse_query(sql, inputs).filter_columns, set())


def referenced_columns(sql: str, inputs: Inputs) -> dict[str, set[str]]:
    """Every input column ``sql`` reads, anywhere, by table (provenance columns
    included; a table read without naming a column, ``count(*)``, has an empty
    set)."""
    result = analyse_query(sql, inputs)
    return _by_table(result.referenced, set(result.tables))


def _by_table(columns: frozenset[SourceColumn], tables: set[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {t: set() for t in sorted(tables)}
    for source in sorted(columns):
        out.setdefault(source.table, set()).add(source.column)
    return out


def _schemas(inputs: Inputs) -> dict[str, tuple[str, list[str]]]:
    if not isinstance(inputs, Mapping):
        raise SqlError(f"inputs: expected a mapping of table name to columns, got {inputs!r}")
    schemas: dict[str, tuple[str, list[str]]] = {}
    for table, columns in inputs.items():
        if not isinstance(table, str) or not table:
            raise SqlError(f"inputs: table name {table!r} is not a name")
        if isinstance(columns, str) or not isinstance(columns, (Mapping, Sequence)):
            raise SqlError(f"inputs: {table}: expected a list of column names, got {columns!r}")
        names = list(columns.keys() if isinstance(columns, Mapping) else columns)
        seen: set[str] = set()
        for name in names:
            if not isinstance(name, str) or not name:
                raise SqlError(f"inputs: {table}: column name {name!r} is not a name")
            if name.lower() in seen:
                raise SqlError(f"inputs: {table}: column {name!r} is listed twice")
            seen.add(name.lower())
        if prov.LINEAGE not in seen:
            names.append(prov.LINEAGE)
        if table.lower() in schemas:
            raise SqlError(f"inputs: table {table!r} is listed twice")
        schemas[table.lower()] = (table, names)
    return schemas
