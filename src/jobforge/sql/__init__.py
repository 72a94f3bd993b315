"""SQL analysis of gold queries (DuckDB dialect, parsed with sqlglot): column
lineage, the columns and tables a query reads. Nothing here runs a query."""

from __future__ import annotations

from jobforge.errors import SqlError
from jobforge.sql.lineage import (
    Inputs,
    analyse_query,
    column_lineage,
    filter_columns,
    referenced_columns,
)
from jobforge.sql.model import ColumnLineage, LineageKind, QueryLineage, SourceColumn
from jobforge.sql.parse import TableReferences, parse_query, referenced_tables, table_references

__all__ = [
    "ColumnLineage",
    "Inputs",
    "LineageKind",
    "QueryLineage",
    "SourceColumn",
    "SqlError",
    "TableReferences",
    "analyse_query",
    "column_lineage",
    "filter_columns",
    "parse_query",
    "referenced_columns",
    "referenced_tables",
    "table_references",
]
