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

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from jobforge.errors import SqlError
from jobforge.sql import duckdb_names
from jobforge.sql.model import LineageKind, SourceColumn
from jobforge.sql.parse import DIALECT, classify_table

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
_RECURSION_LIMIT = 32
_BOUND_PREFIX = "__jobforge_columns_"


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


def _strip_parens(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_column(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and not isinstance(node.this, exp.Star)


def _names(node: exp.Column) -> list[str]:
    return [p.name for p in node.parts]


def _literal_text(node: exp.Expr, what: str) -> str:
    if isinstance(node, exp.Literal):
        return str(node.this)
    raise SqlError(
        f"{what}: {sql_of(node)!r} is not a literal value; the analysis names columns "
        "only after literals"
    )


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
            relation = dedupe(_renamed(relation, alias, f"CTE {name}"))
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
        current = dedupe(_renamed(self.query(body.this, ctes, parent), alias, f"CTE {name}"))
        for _ in range(_RECURSION_LIMIT):
            bound = {**ctes, name.lower(): (name, current)}
            relation = dedupe(_renamed(self.query(body, bound, parent), alias, f"CTE {name}"))
            if _signature(relation) == _signature(current):
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
            columns = _by_name(left, right)
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
                merge([p for p in parts if p is not None], _first(parts).name) for parts in columns
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
        for pivot in node.args.get("pivots") or []:
            relation = self.pivot(pivot, relation, ctes)
        return relation

    def pivot(
        self, node: exp.Pivot, relation: Relation, ctes: dict[str, tuple[str, Relation]]
    ) -> Relation:
        scope = Scope(self, ctes, None)
        scope.sources.append(Source(None, relation, "the pivoted input"))
        if node.args.get("unpivot"):
            return self._unpivot(node, relation, scope)
        return self._pivot(node, relation, scope)

    def _unpivot(self, node: exp.Pivot, relation: Relation, scope: Scope) -> Relation:
        fields = node.args.get("fields")
        groups: list[tuple[str, list[int]]] = []
        if fields:
            spec = fields[0]
            name_column = spec.this.name
            values = node.expressions
            if len(values) == 1 and isinstance(values[0], exp.Tuple):
                values = values[0].expressions
            value_names = [v.name for v in values]
            for item in spec.expressions:
                label: str | None = None
                if isinstance(item, (exp.PivotAlias, exp.Alias)):
                    alias = item.args.get("alias")
                    label = alias.name if alias is not None else None
                    item = item.this
                groups.append(_unpivot_group(item, relation, label))
        else:
            into = node.args.get("into")
            name_column = into.this.name if into is not None else "name"
            value_names = [e.name for e in into.expressions] if into is not None else ["value"]
            for item in node.expressions:
                if isinstance(item, exp.Alias):
                    groups.append(_unpivot_group(item.this, relation, item.alias))
                elif isinstance(item, exp.Columns):
                    for i in scope.columns_selection(item):
                        groups.append((relation.columns[i].name, [i]))
                else:
                    groups.append(_unpivot_group(item, relation, None))
        if not groups:
            raise SqlError("UNPIVOT selects no column")
        for label, members in groups:
            if len(members) != len(value_names):
                raise SqlError(
                    f"UNPIVOT: {label!r} has {len(members)} columns for "
                    f"{len(value_names)} value columns ({', '.join(value_names)})"
                )
        used = {i for _, members in groups for i in members}
        out = [passthrough(c, c.name) for i, c in enumerate(relation.columns) if i not in used]
        names_text = " | ".join(
            exp.Literal.string(label).sql(dialect=DIALECT) for label, _ in groups
        )
        out.append(Col(name_column, frozenset(), K.LITERAL, names_text))
        for v, value_name in enumerate(value_names):
            out.append(merge([relation.columns[m[v]] for _, m in groups], value_name))
        return Relation(out)

    def _pivot(self, node: exp.Pivot, relation: Relation, scope: Scope) -> Relation:
        statement = node.args.get("using") is not None
        if statement:
            aggregates = list(node.args.get("using") or [])
            on_items = list(node.expressions)
        else:
            aggregates = list(node.expressions)
            on_items = list(node.args.get("fields") or [])
        if not aggregates:
            raise SqlError("PIVOT without USING: the analysis needs the aggregate (USING sum(x))")
        on: list[tuple[exp.Expr, Col, list[tuple[str, exp.Expr]]]] = []
        for item in on_items:
            if not isinstance(item, exp.In):
                raise SqlError(
                    f"PIVOT ON {sql_of(item)} without IN (...): its columns are named after "
                    "the data, which the analysis cannot see; list the values with IN (...)"
                )
            column = _strip_parens(item.this)
            if not _is_column(column):
                raise SqlError(f"PIVOT ON {sql_of(column)}: expected a column")
            target, _ = scope.resolve_column(column)
            values: list[tuple[str, exp.Expr]] = []
            for value in item.expressions:
                if isinstance(value, (exp.PivotAlias, exp.Alias)):
                    values.append((value.alias, value.this))
                else:
                    values.append((_literal_text(value, "PIVOT IN"), value))
            on.append((column, target, values))
        named: list[tuple[str | None, Col, exp.Expr]] = []
        for agg in aggregates:
            alias = agg.alias if isinstance(agg, exp.Alias) else None
            body = agg.this if isinstance(agg, exp.Alias) else agg
            if alias is None and len(aggregates) > 1:
                raise SqlError(
                    f"PIVOT USING {sql_of(body)}: give each aggregate a name (AS name) when "
                    "there are several"
                )
            named.append((alias, scope.expression(body, alias or "value"), body))
        group = node.args.get("group")
        on_lower = {t.name.lower() for _, t, _ in on}
        if group is not None:
            kept = []
            for item in group.expressions:
                column = _strip_parens(item)
                if not _is_column(column):
                    raise SqlError(f"PIVOT GROUP BY {sql_of(item)}: expected a column")
                target, _ = scope.resolve_column(column)
                kept.append(target)
        else:
            used = set(on_lower)
            for _, _, body in named:
                for ref in body.find_all(exp.Column):
                    used.add(ref.name.lower())
            kept = [c for c in relation.columns if c.name.lower() not in used]
        for col in kept:
            self.filters |= col.sources
        out = [passthrough(c, c.name) for c in kept]
        on_sources = frozenset().union(*(t.sources for _, t, _ in on))
        for combo in itertools.product(*(values for _, _, values in on)):
            prefix = "_".join(label for label, _ in combo)
            condition = " AND ".join(
                f"{sql_of(column)} = {sql_of(value)}"
                for (column, _, _), (_, value) in zip(on, combo, strict=True)
            )
            for alias, col, body in named:
                name = prefix if alias is None else f"{prefix}_{alias}"
                text = f"{sql_of(body)} FILTER (WHERE {condition})"
                out.append(Col(name, col.sources | on_sources, K.AGGREGATE, text))
        return Relation(out)


class Scope:
    """The names visible in one ``SELECT`` (or a pivot's input)."""

    def __init__(
        self, resolver: Resolver, ctes: dict[str, tuple[str, Relation]], parent: Scope | None
    ) -> None:
        self.r = resolver
        self.ctes = ctes
        self.parent = parent
        self.sources: list[Source] = []
        self.merged: dict[str, Col] = {}
        self.merged_owner: dict[str, int] = {}
        self.aliases: dict[str, Col] = {}
        self.bound: dict[str, Col] = {}
        self.windows: dict[str, exp.Window] = {}
        """Named windows (``WINDOW w AS (...)``): their columns are sources of the
        window functions that use them."""

    # ------------------------------------------------------------- FROM
    def add(self, node: exp.Expr) -> Source:
        alias_node = node.args.get("alias")
        alias = (
            alias_node.name if isinstance(alias_node, exp.TableAlias) and alias_node.name else None
        )
        if isinstance(node, exp.Table):
            kind, name = classify_table(node, self.r.sql)
            known = self.r.known_tables(self.ctes)
            if kind == "function":
                raise SqlError(
                    f"table function {name} reads outside the inputs; read only the inputs "
                    f"({known})"
                )
            if kind == "file":
                raise SqlError(f"FROM {name!r} reads a file; read only the inputs ({known})")
            lower = node.name.lower()
            if node.args.get("db") or node.args.get("catalog"):
                raise SqlError(f"unknown table {name!r}; known: {known}")
            if lower in self.ctes:
                display, relation = self.ctes[lower]
                label = display
            elif lower in self.r.inputs:
                display = self.r.inputs[lower][0]
                relation = self.r.base(lower)
                self.r.tables.add(display)
                label = display
            else:
                raise SqlError(f"unknown table {node.name!r}; known: {known}")
            alias = alias or node.name
            if alias.lower() != lower:
                label = f"{alias} ({display})"
        elif isinstance(node, exp.Subquery):
            relation = dedupe(self.r.query(node.this, self.ctes, self))
            label = alias or "subquery"
        elif isinstance(node, exp.Lateral):
            relation = dedupe(self.r.query(_strip_subquery(node.this), self.ctes, self))
            label = alias or "LATERAL subquery"
        elif isinstance(node, exp.Values):
            relation = self.values(node)
            label = alias or "VALUES"
        elif isinstance(node, exp.Unnest):
            relation = self.unnest(node)
            label = alias or "unnest"
        else:
            raise SqlError(f"unsupported FROM item {node.key.upper()}: {sql_of(node)[:80]}")
        if not isinstance(node, (exp.Values, exp.Unnest)):
            relation = _renamed(relation, alias_node, label)
        relation = self.r.pivots(node, relation, self.ctes)
        for pivot in node.args.get("pivots") or []:
            pivot_alias = pivot.args.get("alias")
            if isinstance(pivot_alias, exp.TableAlias) and pivot_alias.name:
                alias = label = pivot_alias.name
        source = Source(alias, relation, label)
        self.sources.append(source)
        return source

    def values(self, node: exp.Values) -> Relation:
        rows = [
            row.expressions if isinstance(row, exp.Tuple) else [row] for row in node.expressions
        ]
        width = len(rows[0]) if rows else 0
        alias = node.args.get("alias")
        names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
        names += [f"col{i}" for i in range(len(names), width)]
        columns = []
        for j in range(width):
            cols = [self.expression(row[j], names[j]) for row in rows]
            columns.append(merge(cols, names[j]))
        return Relation(columns)

    def unnest(self, node: exp.Unnest) -> Relation:
        alias = node.args.get("alias")
        names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
        cols = []
        for i, arg in enumerate(node.expressions):
            name = names[i] if i < len(names) else "unnest"
            inner = self.expression(arg, name)
            kind = inner.kind if inner.kind in (K.LITERAL, K.AGGREGATE) else K.EXPRESSION
            cols.append(Col(name, inner.sources, kind, f"UNNEST({inner.expression})"))
        return Relation(cols)

    def join(self, join: exp.Join) -> None:
        left_count = len(self.sources)
        source = self.add(join.this)
        method = str(join.args.get("method") or "").upper()
        keys: list[str] = []
        for key in join.args.get("using") or []:
            keys.append(key.name)
        if method == "NATURAL":
            for col in source.relation.columns:
                if self._left_visible(col.name.lower(), left_count):
                    keys.append(col.name)
        for key in keys:
            self._merge_key(key, source, left_count)
        on = join.args.get("on")
        if on is not None:
            self.read_filter(on)

    def _left_visible(self, lower: str, left_count: int) -> bool:
        if lower in self.merged:
            return True
        return any(
            lower not in s.hidden and s.relation.lookup(lower) is not None
            for s in self.sources[:left_count]
        )

    def _merge_key(self, key: str, right_source: Source, left_count: int) -> None:
        lower = key.lower()
        right_index = right_source.relation.lookup(lower)
        if right_index is None:
            raise SqlError(
                f"USING ({key}): {right_source.label} has no column {key!r}; it has: "
                f"{', '.join(right_source.relation.names())}"
            )
        right = right_source.relation.columns[right_index]
        if lower in self.merged:
            left = self.merged[lower]
            owner = self.merged_owner[lower]
        else:
            hits = [
                (i, s.relation.columns[idx])
                for i, s in enumerate(self.sources[:left_count])
                if lower not in s.hidden and (idx := s.relation.lookup(lower)) is not None
            ]
            if not hits:
                raise SqlError(f"USING ({key}): no column {key!r} on the left side of the join")
            if len(hits) > 1:
                labels = ", ".join(self.sources[i].label for i, _ in hits)
                raise SqlError(f"USING ({key}): {key!r} is ambiguous on the left side: {labels}")
            owner, left = hits[0]
        merged = merge([left, right], left.name)
        self.merged[lower] = merged
        self.merged_owner[lower] = owner
        right_source.hidden.add(lower)
        self.r.filters |= left.sources | right.sources
        self.r.touch(left.sources | right.sources)

    def source_named(self, name: str) -> Source | None:
        lower = name.lower()
        for source in self.sources:
            if source.alias is not None and source.alias.lower() == lower:
                return source
        return None

    def visible(self) -> list[tuple[Source, Col]]:
        """The columns ``*`` stands for, in DuckDB's order (a ``USING`` key once,
        where its left side is)."""
        out: list[tuple[Source, Col]] = []
        for i, source in enumerate(self.sources):
            for col in source.relation.columns:
                lower = col.name.lower()
                if lower in source.hidden:
                    continue
                if lower in self.merged and self.merged_owner[lower] == i:
                    out.append((source, self.merged[lower]))
                else:
                    out.append((source, col))
        return out

    # ------------------------------------------------------------- names
    def resolve_column(self, node: exp.Column, prefer_alias: bool = False) -> tuple[Col, list[str]]:
        """The column ``node`` names and the struct fields accessed after it."""
        names = _names(node)
        scope: Scope | None = self
        while scope is not None:
            hit = scope._find(names, prefer_alias)
            if hit is not None:
                return hit
            scope = scope.parent
        raise SqlError(f"unknown column {'.'.join(names)!r}; known: {self._known_columns()}")

    def _find(self, names: list[str], prefer_alias: bool) -> tuple[Col, list[str]] | None:
        first = names[0]
        lower = first.lower()
        if lower in self.bound:
            return self.bound[lower], names[1:]
        if prefer_alias and len(names) == 1 and lower in self.aliases:
            return self.aliases[lower], []
        if len(names) >= 2:
            source = self.source_named(first)
            if source is not None:
                index = source.relation.lookup(names[1])
                if index is None:
                    raise SqlError(
                        f"unknown column {names[0]}.{names[1]!s}; {source.label} has: "
                        f"{', '.join(source.relation.names())}"
                    )
                return source.relation.columns[index], names[2:]
        col = self._unqualified(first)
        if col is not None:
            return col, names[1:]
        if lower in self.aliases:
            return self.aliases[lower], names[1:]
        if len(names) == 1:
            source = self.source_named(first)
            if source is not None:
                sources = frozenset().union(*(c.sources for c in source.relation.columns))
                return Col(source.alias or first, sources, K.EXPRESSION, first), []
        return None

    def _unqualified(self, name: str) -> Col | None:
        lower = name.lower()
        if lower in self.merged:
            return self.merged[lower]
        hits: list[tuple[Source, Col]] = []
        for source in self.sources:
            if lower in source.hidden:
                continue
            index = source.relation.lookup(lower)
            if index is not None:
                hits.append((source, source.relation.columns[index]))
        if len(hits) > 1:
            labels = ", ".join(s.label for s, _ in hits)
            raise SqlError(f"column {name!r} is ambiguous: it is in {labels}; qualify it")
        return hits[0][1] if hits else None

    def _known_columns(self) -> str:
        if len(self.sources) == 1:
            names = [c.name for _, c in self.visible()]
        else:
            names = [f"{s.alias}.{c.name}" if s.alias else c.name for s, c in self.visible()]
        names += [a for a in self.aliases if a not in {n.lower() for n in names}]
        return ", ".join(names) if names else "(none: the query has no FROM)"

    # ------------------------------------------------------------- SELECT list
    def projection(self, item: exp.Expr) -> list[Col]:
        alias = item.alias if isinstance(item, exp.Alias) else None
        body = item.this if isinstance(item, exp.Alias) else item
        if isinstance(body, exp.Star):
            return self.star(body, None)
        if isinstance(body, exp.Column) and isinstance(body.this, exp.Star):
            return self.star(body.this, body.table)
        if body.find(exp.Columns) is not None:
            return self.columns_projection(body, alias)
        return [self.expression(body, alias, item)]

    def star(self, star: exp.Star, qualifier: str | None) -> list[Col]:
        out = []
        for col, _ in self._star_entries(star, qualifier):
            self.r.touch(col.sources)
            out.append(passthrough(col, col.name))
        return out

    def _star_entries(self, star: exp.Star, qualifier: str | None) -> list[tuple[Col, bool]]:
        if qualifier:
            source = self.source_named(qualifier)
            if source is None:
                raise SqlError(
                    f"{qualifier}.*: no table {qualifier!r} in FROM; known: "
                    f"{', '.join(s.alias for s in self.sources if s.alias) or '(none)'}"
                )
            entries = [(source, c) for c in source.relation.columns]
        else:
            entries = self.visible()
            if not entries:
                raise SqlError("SELECT * with no FROM: nothing to expand")
        for excluded in star.args.get("except_") or []:
            names = _names(excluded) if isinstance(excluded, exp.Column) else [excluded.name]
            target = names[-1].lower()
            table = names[0].lower() if len(names) > 1 else None
            kept = [
                (s, c)
                for s, c in entries
                if not (
                    c.name.lower() == target and (table is None or (s.alias or "").lower() == table)
                )
            ]
            if len(kept) == len(entries):
                raise SqlError(
                    f"EXCLUDE ({'.'.join(names)}): no such column; the columns are: "
                    f"{', '.join(c.name for _, c in entries)}"
                )
            entries = kept
        out: list[tuple[Col, bool]] = [(c, False) for _, c in entries]
        for replaced in star.args.get("replace") or []:
            index = _index_of(out, replaced.alias)
            if index is None:
                raise SqlError(f"REPLACE (... AS {replaced.alias}): no such column")
            name = out[index][0].name
            out[index] = (self.expression(replaced.this, name), True)
        for renamed in star.args.get("rename") or []:
            old = renamed.this.name
            index = _index_of(out, old)
            if index is None:
                raise SqlError(f"RENAME ({old} AS {renamed.alias}): no such column")
            out[index] = (passthrough(out[index][0], renamed.alias), True)
        return out

    def columns_selection(self, node: exp.Columns) -> list[int]:
        """Indices into the first source's relation (a pivot's input) that
        ``COLUMNS(...)`` selects."""
        relation = self.sources[0].relation
        indices = [relation.lookup(col.name) for col, _ in self._columns_entries(node)]
        return [i for i in indices if i is not None]

    def _columns_entries(self, node: exp.Columns) -> list[tuple[Col, bool]]:
        arg = node.this
        if isinstance(arg, exp.Star):
            return self._star_entries(arg, None)
        if isinstance(arg, exp.Column) and isinstance(arg.this, exp.Star):
            return self._star_entries(arg.this, arg.table)
        visible = [c for _, c in self.visible()]
        if isinstance(arg, exp.Literal) and arg.is_string:
            chosen = set(duckdb_names.regexp_filter([c.name for c in visible], arg.this))
            entries = [(c, False) for c in visible if c.name in chosen]
        elif isinstance(arg, exp.Array):
            entries = []
            for element in arg.expressions:
                name = _literal_text(element, "COLUMNS([...])")
                matches = [c for c in visible if c.name.lower() == name.lower()]
                if not matches:
                    raise SqlError(
                        f"COLUMNS([...]): no column {name!r}; the columns are: "
                        f"{', '.join(c.name for c in visible)}"
                    )
                entries.append((matches[0], False))
        else:
            raise SqlError(
                f"{sql_of(node)}: the analysis reads COLUMNS with a regular expression, "
                "a list of names or *; not a lambda"
            )
        if not entries:
            raise SqlError(f"{sql_of(node)} matches no column")
        return entries

    def columns_projection(self, body: exp.Expr, alias: str | None) -> list[Col]:
        """``COLUMNS(...)`` alone or inside an expression: one output per column it
        selects, named after that column unless aliased (as DuckDB does)."""
        found = {sql_of(n): n for n in body.find_all(exp.Columns)}
        if len(found) > 1:
            raise SqlError(
                f"{sql_of(body)}: several different COLUMNS(...) in one expression are not "
                "supported"
            )
        node = next(iter(found.values()))
        out = []
        for col, _ in self._columns_entries(node):
            self.r.touch(col.sources)
            if body is node:
                out.append(passthrough(col, alias or col.name))
                continue
            binding = self.r.new_binding()
            self.bound[binding] = col
            bound = body.transform(
                lambda n, b=binding: exp.column(b) if isinstance(n, exp.Columns) else n
            )
            shown = body.transform(
                lambda n, c=col: exp.column(c.name) if isinstance(n, exp.Columns) else n
            )
            result = self.expression(bound, alias or col.name)
            out.append(Col(result.name, result.sources, result.kind, sql_of(shown)))
        return out

    # ------------------------------------------------------------- expressions
    def expression(self, node: exp.Expr, name: str | None, item: exp.Expr | None = None) -> Col:
        """The column ``node`` computes, named ``name`` (or as DuckDB names it)."""
        core = _strip_parens(node)
        if _is_column(core):
            target, fields = self.resolve_column(core)
            self.r.touch(target.sources)
            if fields:
                out_name = name or fields[-1]
                aggregate = target.kind is K.AGGREGATE
                return computed(out_name, target.sources, aggregate, sql_of(core))
            return passthrough(target, name or target.name, sql_of(core))
        out_name = name or self._auto_name(item if item is not None else node)
        inner = core
        while isinstance(inner, (exp.Cast, exp.Paren)):
            inner = inner.this
        if inner is not core and _is_column(inner):
            target, fields = self.resolve_column(inner)
            self.r.touch(target.sources)
            if not fields and target.kind in (K.IDENTITY, K.RENAME, K.CAST):
                return Col(out_name, target.sources, K.CAST, sql_of(core))
            return computed(out_name, target.sources, target.kind is K.AGGREGATE, sql_of(core))
        sources, aggregate = self.collect(core)
        return computed(out_name, sources, aggregate, sql_of(core))

    def _auto_name(self, item: exp.Expr) -> str:
        span = item.meta.get("span")
        if span is None:
            raise SqlError(f"select item {sql_of(item)} has no name; give it one with AS")
        return duckdb_names.expression_name(self.r.sql[span[0] : span[1]])

    def collect(self, node: exp.Expr) -> tuple[frozenset[SourceColumn], bool]:
        """Every input column ``node`` reads (nested queries included) and whether it
        aggregates."""
        sources: set[SourceColumn] = set()
        aggregate = False
        for sub in node.walk(prune=lambda n: n is not node and isinstance(n, exp.Query)):
            if sub is not node and isinstance(sub, exp.Query):
                relation, read = self.r.collecting(lambda q=sub: self.r.query(q, self.ctes, self))
                sources |= read
                aggregate = aggregate or any(c.kind is K.AGGREGATE for c in relation.columns)
            elif isinstance(sub, exp.Column):
                if isinstance(sub.this, exp.Star):
                    source = self.source_named(sub.table) if sub.table else None
                    cols = source.relation.columns if source else [c for _, c in self.visible()]
                    for col in cols:
                        sources |= col.sources
                    self.r.touch(sources)
                    continue
                if _lambda_parameter(sub, node):
                    continue
                target, _ = self.resolve_column(sub)
                self.r.touch(target.sources)
                sources |= target.sources
                aggregate = aggregate or target.kind is K.AGGREGATE
            elif isinstance(sub, exp.Columns):
                raise SqlError(f"{sql_of(sub)} inside {sql_of(node)} is not supported here")
            elif isinstance(sub, exp.Window) and sub.args.get("alias") is not None:
                aggregate = True
                named = self.windows.get(sub.alias.lower())
                if named is not None:
                    sources |= self.collect(named)[0]
            elif isinstance(sub, (exp.AggFunc, exp.Window)) or (
                isinstance(sub, exp.Anonymous)
                and sub.name.lower() in duckdb_names.aggregate_functions()
            ):
                aggregate = True
        return frozenset(sources), aggregate

    def read_filter(self, node: exp.Expr, positional: list[Col] | None = None) -> None:
        """``node`` is read to filter, join, group or order rows."""
        core = _strip_parens(node)
        if positional is not None and isinstance(core, exp.Literal) and not core.is_string:
            index = int(str(core.this)) - 1
            if 0 <= index < len(positional):
                self.r.filters |= positional[index].sources
                return
        sources, _ = self.collect(node)
        self.r.filters |= sources

    def read_order(self, order: exp.Order, out: list[Col]) -> None:
        for ordered in order.expressions:
            key = _strip_parens(ordered.this)
            if isinstance(key, exp.Var) and key.name.upper() == "ALL":
                for col in out:
                    self.r.filters |= col.sources
            elif isinstance(key, exp.Literal) and not key.is_string:
                self.read_filter(key, positional=out)
            elif _is_column(key) and len(_names(key)) == 1 and key.name.lower() in self.aliases:
                self.r.filters |= self.aliases[key.name.lower()].sources
            else:
                self.read_filter(key)


def _lambda_parameter(column: exp.Column, top: exp.Expr) -> bool:
    name = column.parts[0].name.lower()
    node = column.parent
    while node is not None:
        if isinstance(node, exp.Lambda) and any(p.name.lower() == name for p in node.expressions):
            return True
        if node is top:
            break
        node = node.parent
    return False


def _unpivot_group(item: exp.Expr, relation: Relation, label: str | None) -> tuple[str, list[int]]:
    members = item.expressions if isinstance(item, exp.Tuple) else [item]
    indices = []
    for member in members:
        member = _strip_parens(member)
        if not _is_column(member):
            raise SqlError(f"UNPIVOT ON {sql_of(member)}: expected a column")
        index = relation.lookup(member.name)
        if index is None:
            raise SqlError(
                f"UNPIVOT ON {member.name}: no such column; the columns are: "
                f"{', '.join(relation.names())}"
            )
        indices.append(index)
    if label is None:
        label = relation.columns[indices[0]].name if len(indices) == 1 else sql_of(item)
    return label, indices


def _renamed(relation: Relation, alias: exp.Expr | None, label: str) -> Relation:
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


def _by_name(left: Relation, right: Relation) -> list[list[Col | None]]:
    columns: list[list[Col | None]] = [[c, None] for c in left.columns]
    for col in right.columns:
        index = left.lookup(col.name)
        if index is None:
            columns.append([None, col])
        else:
            columns[index][1] = col
    return columns


def _first(parts: list[Col | None]) -> Col:
    for part in parts:
        if part is not None:
            return part
    raise AssertionError("a set operation column with no branch")


def _index_of(entries: list[tuple[Col, bool]], name: str) -> int | None:
    lower = name.lower()
    for i, (col, _) in enumerate(entries):
        if col.name.lower() == lower:
            return i
    return None


def _strip_subquery(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Subquery) else node


def _signature(relation: Relation) -> tuple[tuple[str, frozenset[SourceColumn], str], ...]:
    return tuple((c.name, c.sources, c.kind.value) for c in relation.columns)
