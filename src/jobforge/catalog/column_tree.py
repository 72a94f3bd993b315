"""The lineage of one column, as a tree: from a table's column through every
layer down to the header names of the source files (read from the catalog
entries' ``source_columns``, never from the data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobforge.catalog.derivation import SOURCE_LAYER, split_source
from jobforge.errors import CatalogError

if TYPE_CHECKING:
    from jobforge.catalog.manager import CatalogManager


@dataclass(frozen=True)
class ColumnNode:
    """One column on the way from a table to its source files."""

    layer: str
    """``staged`` ... ``gold``, or ``source`` for a source file's header."""
    table: str | None
    column: str
    kind: str | None = None
    expression: str | None = None
    pii: str | None = None
    pii_origin: str | None = None
    files: tuple[str, ...] = ()
    """A header: the source files of the staged table's current version."""
    sources: tuple[ColumnNode, ...] = field(default_factory=tuple)
    missing: bool = False
    """The catalog has no entry (or no such column) for it."""

    @property
    def key(self) -> str:
        if self.layer == SOURCE_LAYER:
            return f"header {self.column!r}"
        return f"{self.layer}.{self.table}.{self.column}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "expression": self.expression,
            "pii": self.pii,
            "pii_origin": self.pii_origin,
            "files": list(self.files),
            "missing": self.missing,
            "sources": [s.as_dict() for s in self.sources],
        }


def column_tree(catalog: CatalogManager, layer: str, table: str, column: str) -> ColumnNode:
    """The tree of ``layer.table.column``; a column the entry does not have is a
    :class:`CatalogError` listing the ones it has."""
    entry = catalog.get(layer, table)
    names = [c.name for c in entry.columns]
    if column not in names:
        raise CatalogError(
            f"{entry.key} has no column {column!r}; its columns: {', '.join(map(repr, names))}"
        )
    files: dict[str, tuple[str, ...]] = {}

    def source_files(staged_table: str) -> tuple[str, ...]:
        if staged_table not in files:
            try:
                chain = catalog.upstream("staged", staged_table)
            except CatalogError:
                files[staged_table] = ()
            else:
                files[staged_table] = tuple(dict.fromkeys(s.source_file for s in chain.sources))
        return files[staged_table]

    def node(at_layer: str, at_table: str, name: str) -> ColumnNode:
        found = catalog.load(at_layer, at_table)
        meta = next((c for c in found.columns if c.name == name), None) if found else None
        if meta is None:
            return ColumnNode(at_layer, at_table, name, missing=True)
        children = []
        for source in meta.source_columns:
            parts = split_source(source)
            if parts is None:
                children.append(
                    ColumnNode(SOURCE_LAYER, None, source, files=source_files(at_table))
                )
            else:
                children.append(node(*parts))
        return ColumnNode(
            at_layer,
            at_table,
            name,
            kind=meta.lineage_kind,
            expression=meta.lineage_expression,
            pii=meta.pii_classification,
            pii_origin=meta.pii_origin,
            sources=tuple(children),
        )

    return node(entry.layer, entry.table_name, column)
