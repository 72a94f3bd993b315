"""The column resolver behind :mod:`jobforge.sql.lineage`.

It walks sqlglot's tree the way DuckDB binds a query: a relation (an ordered
list of named columns, each with its sources and kind) for every ``FROM`` item,
CTE, subquery, set operation, ``PIVOT`` and ``UNPIVOT``; a scope per ``SELECT``
to resolve names (table alias first, then an unqualified column, then a select
alias, then the enclosing scopes for a correlated subquery). sqlglot's own
``qualify``/``lineage`` do not read DuckDB's ``UNPIVOT ... ON COLUMNS(...)``
statement, ``USING`` keys or ``COLUMNS(...)``, so the shapes are resolved here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlglot import exp

from jobforge.errors import SqlError
from jobforge.sql.model import SourceColumn
from jobforge.sql.pivot import pivot, unpivot
from jobforge.sql.relation import (
    Col,
    K,
    Relation,
    Source,
    by_name,
    dedupe,
    first_present,
    merge,
    passthrough,
    renamed,
    signature,
    sql_of,
)
from jobforge.sql.scope import Scope

_RECURSION_LIMIT = 32
_BOUND_PREFIX = "__jobforge_columns_"


class Resolver:
    """Resolves one query against the input schemas; collects what it reads."""

    def __init__(self, sql: str, inputs: dict[str, tuple[str, list[str]]]) -> None:
        self.sql = sql
        self.inputs = inputs
        """lower-case table name -> (name as given, column names)"""
        self.read: set[SourceColumn] = set()
        self.filters: set[SourceColumn] = set()
        self.tables: set[str] = set()
        self._collectors: list[set[SourceColumn]] = []
        self._base: dict[str, Relation] = {}
        self._bound = 0

    # ------------------------------------------------------------- bookkeeping
    def touch(self, sources: Iterable[SourceColumn]) -> None:
        sources = frozenset(sources)
        self.read |= sources
        for collector in self._collectors:
            collector |= sources

    def collecting(self, run: Callable[[], Relation]) -> tuple[Relation, frozenset[SourceColumn]]:
        """Run ``run`` and return what it read besides its result."""
        collector: set[SourceColumn] = set()
        self._collectors.append(collector)
        try:
            relation = run()
        finally:
            self._collectors.pop()
        return relation, frozenset(collector)

    def new_binding(self) -> str:
        self._bound += 1
        return f"{_BOUND_PREFIX}{self._bound}"

    def base(self, lower: str) -> Relation:
        if lower not in self._base:
            name, columns = self.inputs[lower]
            cols = [
                Col(c, frozenset({SourceColumn(name, c)}), K.IDENTITY, c, base=True)
                for c in columns
            ]
            self._base[lower] = Relation(cols)
        return self._base[lower]

    def known_tables(self, ctes: dict[str, tuple[str, Relation]]) -> str:
        names = [name for name, _ in self.inputs.values()] + [n for n, _ in ctes.values()]
        return ", ".join(names) if names else "(none)"

    # ------------------------------------------------------------- queries
    def query(
        self, node: exp.Expr, ctes: dict[str, tuple[str, Relation]], parent: Scope | None
    ) -> Relation:
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            ctes = self.with_ctes(with_, ctes, parent)
        if isinstance(node, exp.Select):
            relation = self.select(node, ctes, parent)
        elif isinstance(node, exp.SetOperation):
            relation = self.set_operation(node, ctes, parent)
        elif isinstance(node, exp.Subquery):
            relation = self.query(node.this, ctes, parent)
            relation = self.pivots(node, relation, ctes)
        elif isinstance(node, exp.Pivot):
            scope = Scope(self, ctes, parent)
            source = scope.add(node.this)
            relation = self.pivot(node, source.relation, ctes)
        elif isinstance(node, exp.Values):
            relation = Scope(self, ctes, parent).values(node)
        else:
            raise SqlError(f"unsupported query form {node.key.upper()}: {sql_of(node)[:80]}")
        for col in relation.columns:
            self.touch(col.sources)
        return relation

    def with_ctes(
        self, with_: exp.With, ctes: dict[str, tuple[str, Relation]], parent: Scope | None
    ) -> dict[str, tuple[str, Relation]]:
        ctes = dict(ctes)
        recursive = bool(with_.args.get("recursive"))
        for cte in with_.expressions:
            name = cte.alias_or_name
            body = cte.this
            alias = cte.args.get("alias")
            if recursive and isinstance(body, exp.SetOperation):
                relation = self._recursive(name, body, alias, ctes, parent)
            else:
                relation = self.query(body, ctes, parent)
            relation = dedupe(renamed(relation, alias, f"CTE {name}"))
            ctes[name.lower()] = (name, relation)
        return ctes

    def _recursive(
        self,
        name: str,
        body: exp.SetOperation,
        alias: exp.TableAlias | None,
        ctes: dict[str, tuple[str, Relation]],
        parent: Scope | None,
    ) -> Relation:
        current = dedupe(renamed(self.query(body.this, ctes, parent), alias, f"CTE {name}"))
        for _ in range(_RECURSION_LIMIT):
            bound = {**ctes, name.lower(): (name, current)}
            relation = dedupe(renamed(self.query(body, bound, parent), alias, f"CTE {name}"))
            if signature(relation) == signature(current):
                return relation
            current = relation
        return current

    def select(
        self, node: exp.Select, ctes: dict[str, tuple[str, Relation]], parent: Scope | None
    ) -> Relation:
        scope = Scope(self, ctes, parent)
        from_ = node.args.get("from_")
        if from_ is not None:
            scope.add(from_.this)
        for join in node.args.get("joins") or []:
            scope.join(join)
        for window in node.args.get("windows") or []:
            scope.windows[window.name.lower()] = window
        out: list[Col] = []
        for item in node.expressions:
            for col in scope.projection(item):
                out.append(col)
                scope.aliases.setdefault(col.name.lower(), col)
        where = node.args.get("where")
        if where is not None:
            scope.read_filter(where.this)
        group = node.args.get("group")
        if group is not None:
            if group.args.get("all"):
                for col in out:
                    if col.kind is not K.AGGREGATE:
                        self.filters |= col.sources
            for key in ("expressions", "grouping_sets", "cube", "rollup"):
                for item in group.args.get(key) or []:
                    scope.read_filter(item, positional=out)
        for key in ("having", "qualify"):
            clause = node.args.get(key)
            if clause is not None:
                scope.read_filter(clause.this)
        distinct = node.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is not None:
            scope.read_filter(distinct.args["on"])
        order = node.args.get("order")
        if order is not None:
            scope.read_order(order, out)
        for key in ("limit", "offset"):
            clause = node.args.get(key)
            if clause is not None:
                scope.read_filter(clause)
        for window in scope.windows.values():
            scope.collect(window)
        return Relation(out)

    def set_operation(
        self, node: exp.SetOperation, ctes: dict[str, tuple[str, Relation]], parent: Scope | None
    ) -> Relation:
        left = self.query(node.this, ctes, parent)
        right = self.query(node.expression, ctes, parent)
        op = node.key.upper()
        if node.args.get("by_name"):
            columns = by_name(left, right)
        else:
            if len(left.columns) != len(right.columns):
                raise SqlError(
                    f"{op} branches have {len(left.columns)} and {len(right.columns)} columns: "
                    "they must have the same number"
                )
            columns = [[lc, rc] for lc, rc in zip(left.columns, right.columns, strict=True)]
        if isinstance(node, exp.Except):
            for col in right.columns:
                self.filters |= col.sources
            out = [passthrough(c, c.name) for c in left.columns]
        else:
            out = [
                merge([p for p in parts if p is not None], first_present(parts).name)
                for parts in columns
            ]
        relation = Relation(out)
        order = node.args.get("order")
        if order is not None or node.args.get("limit") is not None:
            scope = Scope(self, ctes, parent)
            scope.sources.append(Source(None, relation, f"the {op}"))
            if order is not None:
                scope.read_order(order, out)
            for key in ("limit", "offset"):
                if node.args.get(key) is not None:
                    scope.read_filter(node.args[key])
        return relation

    # ------------------------------------------------------------- pivots
    def pivots(
        self, node: exp.Expr, relation: Relation, ctes: dict[str, tuple[str, Relation]]
    ) -> Relation:
        for step in node.args.get("pivots") or []:
            relation = self.pivot(step, relation, ctes)
        return relation

    def pivot(
        self, node: exp.Pivot, relation: Relation, ctes: dict[str, tuple[str, Relation]]
    ) -> Relation:
        scope = Scope(self, ctes, None)
        scope.sources.append(Source(None, relation, "the pivoted input"))
        if node.args.get("unpivot"):
            return unpivot(node, relation, scope)
        return pivot(node, relation, scope)
