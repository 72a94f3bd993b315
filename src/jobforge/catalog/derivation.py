"""How one column of a step is computed from the columns of its inputs, as the
catalog records it (``ColumnMetadata.source_columns``, ``lineage_kind``,
``lineage_expression``).

The engine works it out for every step from the declarations, the SQL and the
inputs' schemas (:mod:`jobforge.engine.column_lineage`), never from what an
executor reports, so that it does not depend on the executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jobforge.pipeline.models import LineageKind

SOURCE_LAYER = "source"
"""How ``catalog.column_lineage`` names the layer of a source file's header."""


@dataclass(frozen=True)
class Derivation:
    """One output column: its sources, how it is computed, and the expression."""

    kind: LineageKind
    sources: tuple[str, ...] = ()
    """``<layer>.<table>.<column>`` of each input column it is computed from (a
    staged column: the source file's header name), in order, no repeats."""
    expression: str | None = None


UNKNOWN = Derivation("unknown")


@dataclass(frozen=True)
class StepLineage:
    """The derivation of each column a step writes.

    ``columns``: what was worked out, by output column; ``otherwise``: the
    derivation of any column written that is not there (``unknown``, with the
    reason in its expression when one is known).
    """

    columns: dict[str, Derivation] = field(default_factory=dict)
    otherwise: Derivation = UNKNOWN

    def of(self, column: str) -> Derivation:
        return self.columns.get(column, self.otherwise)


_RANK: dict[str, int] = {
    "literal": 0,
    "identity": 1,
    "rename": 1,
    "cast": 2,
    "expression": 3,
    "transform": 3,
    "aggregate": 4,
    "declared": 5,
    "unknown": 6,
}


def strongest_kind(kinds: Iterable[str]) -> str:
    """The kind of a column made from parts of these kinds (the least plain one)."""
    return max(kinds, key=lambda k: _RANK[k], default="literal")


def split_source(source: str) -> tuple[str, str, str] | None:
    """``(layer, table, column)`` of a qualified source (the column may hold dots;
    table names cannot), ``None`` for a source file's header name."""
    layer, dot, rest = source.partition(".")
    table, dot2, column = rest.partition(".")
    if not (dot and dot2) or layer not in ("staged", "bronze", "silver", "gold"):
        return None
    return layer, table, column


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` in order, each once."""
    return tuple(dict.fromkeys(values))
