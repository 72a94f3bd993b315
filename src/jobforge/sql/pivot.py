"""``PIVOT`` and ``UNPIVOT`` over a relation (DuckDB's statements and the
SQL-standard clauses, as sqlglot parses them)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from sqlglot import exp

from jobforge.errors import SqlError
from jobforge.sql.parse import DIALECT
from jobforge.sql.relation import (
    Col,
    K,
    Relation,
    is_column,
    literal_text,
    merge,
    passthrough,
    sql_of,
    strip_parens,
)

if TYPE_CHECKING:
    from jobforge.sql.scope import Scope


def unpivot(node: exp.Pivot, relation: Relation, scope: Scope) -> Relation:
    """``UNPIVOT``: the other columns, then the name column, then the value columns."""
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
    names_text = " | ".join(exp.Literal.string(label).sql(dialect=DIALECT) for label, _ in groups)
    out.append(Col(name_column, frozenset(), K.LITERAL, names_text))
    for v, value_name in enumerate(value_names):
        out.append(merge([relation.columns[m[v]] for _, m in groups], value_name))
    return Relation(out)


def pivot(node: exp.Pivot, relation: Relation, scope: Scope) -> Relation:
    """``PIVOT`` with ``IN`` lists: the group columns, then one column per value
    combination and aggregate, named as DuckDB names them."""
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
        column = strip_parens(item.this)
        if not is_column(column):
            raise SqlError(f"PIVOT ON {sql_of(column)}: expected a column")
        target, _ = scope.resolve_column(column)
        values: list[tuple[str, exp.Expr]] = []
        for value in item.expressions:
            if isinstance(value, (exp.PivotAlias, exp.Alias)):
                values.append((value.alias, value.this))
            else:
                values.append((literal_text(value, "PIVOT IN"), value))
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
            column = strip_parens(item)
            if not is_column(column):
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
        scope.r.filters |= col.sources
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


def _unpivot_group(item: exp.Expr, relation: Relation, label: str | None) -> tuple[str, list[int]]:
    members = item.expressions if isinstance(item, exp.Tuple) else [item]
    indices = []
    for member in members:
        member = strip_parens(member)
        if not is_column(member):
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
