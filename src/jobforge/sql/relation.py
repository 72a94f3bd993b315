"""Relations: the ordered, named columns a query step produces, each with the
input columns it is made of and how (the building blocks of
:mod:`jobforge.sql.resolve`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeGuard

from sqlglot import exp

from jobforge.errors import SqlError
from jobforge.sql.model import LineageKind, SourceColumn
from jobforge.sql.parse import DIALECT

K = LineageKind
_RANK = {
    K.LITERAL: 0,
    K.IDENTITY: 1,
    K.RENAME: 1,
    K.CAST: 2,
    K.EXPRESSION: 3,
    K.AGGREGATE: 4,
}
_BY_RANK = {0: K.LITERAL, 2: K.CAST, 3: K.EXPRESSION, 4: K.AGGREGATE}


@dataclass(frozen=True)
class Col:
    """One column of a relation and what it is made of."""

    name: str
    sources: frozenset[SourceColumn]
    kind: LineageKind
    expression: str
    base: bool = False
    """A column of an input table as it is (its ``expression`` is its name)."""


@dataclass
class Relation:
    columns: list[Col]

    def lookup(self, name: str) -> int | None:
        lower = name.lower()
        for i, col in enumerate(self.columns):
            if col.name.lower() == lower:
                return i
        return None

    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class Source:
    """A ``FROM`` item as a scope sees it."""

    alias: str | None
    relation: Relation
    label: str
    hidden: set[str] = field(default_factory=set)
    """Lower-case names not visible unqualified (the right side of ``USING``)."""


def sql_of(node: exp.Expr) -> str:
    return node.sql(dialect=DIALECT)


def passthrough(col: Col, name: str, text: str | None = None) -> Col:
    """``col`` referenced bare under ``name`` (``text``: how the reference is written)."""
    kind = col.kind
    if kind in (K.IDENTITY, K.RENAME):
        kind = K.IDENTITY if all(s.column == name for s in col.sources) else K.RENAME
    expression = text if col.base and text is not None else col.expression
    return Col(name, col.sources, kind, expression)


def merge(cols: list[Col], name: str) -> Col:
    """One column whose values come from any of ``cols`` (set operation branches,
    ``USING`` keys, ``UNPIVOT`` values)."""
    sources = frozenset().union(*(c.sources for c in cols))
    rank = max(_RANK[c.kind] for c in cols)
    if rank == 1:
        kind = K.IDENTITY if all(s.column == name for s in sources) else K.RENAME
    else:
        kind = _BY_RANK[rank]
    texts = dict.fromkeys(c.expression for c in cols)
    return Col(name, sources, kind, " | ".join(texts))


def computed(name: str, sources: frozenset[SourceColumn], aggregate: bool, text: str) -> Col:
    if aggregate:
        kind = K.AGGREGATE
    elif not sources:
        kind = K.LITERAL
    else:
        kind = K.EXPRESSION
    return Col(name, sources, kind, text)


def dedupe(relation: Relation) -> Relation:
    """Names as DuckDB gives them to a subquery's columns: a repeated name gets
    ``_1``, ``_2``, ... (case-insensitively)."""
    seen: set[str] = set()
    out: list[Col] = []
    for col in relation.columns:
        name = col.name
        if name.lower() in seen:
            n = 1
            while f"{col.name}_{n}".lower() in seen:
                n += 1
            name = f"{col.name}_{n}"
            col = Col(name, col.sources, col.kind, col.expression, col.base)
        seen.add(name.lower())
        out.append(col)
    return Relation(out)


def strip_parens(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def is_column(node: exp.Expr) -> TypeGuard[exp.Column]:
    """Whether ``node`` is a column reference (not ``*``)."""
    return isinstance(node, exp.Column) and not isinstance(node.this, exp.Star)


def column_names(node: exp.Column) -> list[str]:
    return [p.name for p in node.parts]


def literal_text(node: exp.Expr, what: str) -> str:
    if isinstance(node, exp.Literal):
        return str(node.this)
    raise SqlError(
        f"{what}: {sql_of(node)!r} is not a literal value; the analysis names columns "
        "only after literals"
    )


def renamed(relation: Relation, alias: exp.Expr | None, label: str) -> Relation:
    """``relation`` with the column names of a ``t(a, b)`` alias."""
    if not isinstance(alias, exp.TableAlias) or not alias.columns:
        return relation
    names = [c.name for c in alias.columns]
    if len(names) > len(relation.columns):
        raise SqlError(f"{label}: {len(names)} column names for {len(relation.columns)} columns")
    cols = [
        passthrough(c, names[i]) if i < len(names) else c for i, c in enumerate(relation.columns)
    ]
    return Relation(cols)


def by_name(left: Relation, right: Relation) -> list[list[Col | None]]:
    columns: list[list[Col | None]] = [[c, None] for c in left.columns]
    for col in right.columns:
        index = left.lookup(col.name)
        if index is None:
            columns.append([None, col])
        else:
            columns[index][1] = col
    return columns


def first_present(parts: list[Col | None]) -> Col:
    for part in parts:
        if part is not None:
            return part
    raise AssertionError("a set operation column with no branch")


def index_of(entries: list[tuple[Col, bool]], name: str) -> int | None:
    lower = name.lower()
    for i, (col, _) in enumerate(entries):
        if col.name.lower() == lower:
            return i
    return None


def strip_subquery(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Subquery) else node


def signature(relation: Relation) -> tuple[tuple[str, frozenset[SourceColumn], str], ...]:
    return tuple((c.name, c.sources, c.kind.value) for c in relation.columns)
