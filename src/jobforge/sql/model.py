"""The answers of the lineage analysis: what each output column is made from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class LineageKind(StrEnum):
    """How an output column is computed from its source columns."""

    IDENTITY = "identity"
    """The source column itself, same name, untouched."""
    RENAME = "rename"
    """A bare source column under another name."""
    CAST = "cast"
    """``CAST`` / ``TRY_CAST`` / ``::`` of one column (through renames)."""
    EXPRESSION = "expression"
    """Computed row by row: functions, arithmetic, ``CASE``, concatenation, struct
    field access."""
    AGGREGATE = "aggregate"
    """Computed with an aggregate or a window function (also ``PIVOT`` cells)."""
    LITERAL = "literal"
    """No source column: a constant (also ``UNPIVOT``'s name column, whose values
    are column names)."""


class SourceColumn(NamedTuple):
    """One column of one input table."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class ColumnLineage:
    """Where one output column comes from.

    ``sources``: the input columns its values are computed from. For a data
    column, provenance columns (``jobforge.provenance``) are never among
    them: they are in ``provenance_sources``. For an output provenance column
    (``_lineage``, ...) ``sources`` holds whatever it is computed from and
    ``provenance_sources`` is empty. ``expression``: the SQL (DuckDB dialect)
    where the value is computed: the output's own expression, or, for a bare
    column of a CTE or subquery, the expression there (several, joined by
    ``" | "``, for the branches of a ``UNION`` or an ``UNPIVOT``).
    """

    column: str
    kind: LineageKind
    sources: frozenset[SourceColumn]
    expression: str
    provenance_sources: frozenset[SourceColumn] = frozenset()


@dataclass(frozen=True)
class QueryLineage:
    """Everything the analysis of one query found.

    ``columns``: each output column in order. ``filter_columns``: input columns
    read by ``WHERE``, ``JOIN ... ON`` / ``USING``, ``GROUP BY``, ``HAVING``,
    ``QUALIFY``, ``ORDER BY``, ``DISTINCT ON``, ``EXCEPT``'s right side, at any
    depth (a column can also be a source). ``referenced``: every input column the
    query reads anywhere, provenance columns included. ``tables``: the inputs it
    reads.
    """

    columns: dict[str, ColumnLineage]
    filter_columns: frozenset[SourceColumn]
    referenced: frozenset[SourceColumn]
    tables: frozenset[str]
