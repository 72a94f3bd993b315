"""The names one ``SELECT`` sees: its ``FROM`` items, ``USING`` keys, select
aliases and the enclosing scopes; and what its expressions are made of."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from sqlglot import exp

from jobforge.errors import SqlError
from jobforge.sql import duckdb_names
from jobforge.sql.model import SourceColumn
from jobforge.sql.parse import classify_table
from jobforge.sql.relation import (
    Col,
    K,
    Relation,
    Source,
    column_names,
    computed,
    dedupe,
    index_of,
    is_column,
    literal_text,
    merge,
    passthrough,
    renamed,
    sql_of,
    strip_parens,
    strip_subquery,
)

if TYPE_CHECKING:
    from jobforge.sql.resolve import Resolver


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
            relation = dedupe(self.r.query(strip_subquery(node.this), self.ctes, self))
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
            relation = renamed(relation, alias_node, label)
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
        names = column_names(node)
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
            names = column_names(excluded) if isinstance(excluded, exp.Column) else [excluded.name]
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
            index = index_of(out, replaced.alias)
            if index is None:
                raise SqlError(f"REPLACE (... AS {replaced.alias}): no such column")
            name = out[index][0].name
            out[index] = (self.expression(replaced.this, name), True)
        for rename in star.args.get("rename") or []:
            old = rename.this.name
            index = index_of(out, old)
            if index is None:
                raise SqlError(f"RENAME ({old} AS {rename.alias}): no such column")
            out[index] = (passthrough(out[index][0], rename.alias), True)
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
                name = literal_text(element, "COLUMNS([...])")
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
        core = strip_parens(node)
        if is_column(core):
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
        if inner is not core and is_column(inner):
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
                relation, read = self.r.collecting(partial(self.r.query, sub, self.ctes, self))
                sources |= read
                aggregate = aggregate or any(c.kind is K.AGGREGATE for c in relation.columns)
            elif isinstance(sub, exp.Column):
                if isinstance(sub.this, exp.Star):
                    for col, _ in self._star_entries(sub.this, sub.table or None):
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
        core = strip_parens(node)
        if positional is not None and isinstance(core, exp.Literal) and not core.is_string:
            index = int(str(core.this)) - 1
            if 0 <= index < len(positional):
                self.r.filters |= positional[index].sources
                return
        sources, _ = self.collect(node)
        self.r.filters |= sources

    def _alias_only(self, key: exp.Column) -> bool:
        return len(column_names(key)) == 1 and key.name.lower() in self.aliases

    def read_order(self, order: exp.Order, out: list[Col]) -> None:
        for ordered in order.expressions:
            key = strip_parens(ordered.this)
            if isinstance(key, exp.Var) and key.name.upper() == "ALL":
                for col in out:
                    self.r.filters |= col.sources
            elif isinstance(key, exp.Literal) and not key.is_string:
                self.read_filter(key, positional=out)
            elif is_column(key) and self._alias_only(key):
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
