"""Column lineage read from a polars lazy plan: the plan a gold function (or a
silver transform) builds over the frames it is given.

The plan is walked node by node from its serialized form: each input frame is
recognised as the very sub-plan it was given as, and every column of every
node is followed back to the input columns it is computed from (the root names
of its expressions) and how (:data:`~jobforge.pipeline.models.LineageKind`).
Selectors, output names and join suffixes are resolved by polars itself, on
the sub-plans. Nothing is guessed: a node or an expression this module does
not know (a Python UDF, a file the function reads itself, a pivot), or a
result whose columns differ from what the walk found, makes the whole plan
unreadable (:func:`read_plan` returns ``None``) and the caller records the
declared lineage or ``unknown``.

Polars' JSON form of a plan is deprecated (it may go in a later polars): when
it is gone, every plan is unreadable, which is recorded as such, never wrong.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from jobforge.catalog.derivation import (
    Derivation,
    split_source,
    strongest_kind,
    unique,
)


class Unreadable(Exception):
    """The plan holds something whose lineage cannot be read."""


@dataclass(frozen=True)
class _Col:
    name: str
    sources: tuple[str, ...]
    kind: str
    expression: str | None


def read_plan(
    result: pl.LazyFrame, inputs: Mapping[str, tuple[pl.LazyFrame, str]]
) -> dict[str, Derivation] | None:
    """The lineage of every column of ``result`` (``None`` if it cannot be read).

    ``inputs``: each input's name -> the frame given to the code that built
    ``result``, and the qualified table its columns are named after
    (``silver.people``: sources become ``silver.people.<column>``).
    """
    try:
        leaves = {_key(_plan(frame)): prefix for frame, prefix in inputs.values()}
        columns = _Walker(leaves).walk(_plan(result))
        names = result.collect_schema().names()
    except Unreadable:
        return None
    except Exception:  # polars could not serialise or resolve part of the plan
        return None
    if [c.name for c in columns] != names:
        return None
    return {c.name: Derivation(c.kind, c.sources, c.expression) for c in columns}  # type: ignore[arg-type]


def _plan(frame: pl.LazyFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(frame.serialize(format="json"))


def _key(node: Any) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def _frame(node: Any) -> pl.LazyFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.LazyFrame.deserialize(io.StringIO(json.dumps(node)), format="json")


def _expr(node: Any) -> pl.Expr:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")


def _names(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def _walk_json(node: Any) -> Iterator[tuple[str, Any]]:
    """Every ``{variant: value}`` pair in an expression tree, depth first (a
    variant without a value, such as ``"Len"``, as ``(variant, None)``)."""
    if isinstance(node, str):
        yield node, None
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk_json(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_json(value)


_AGGREGATING = {"Agg", "Len", "Over", "Rolling"}
_NAMING = {"Alias", "KeepName", "RenameAlias"}


def _strip_names(node: Any) -> Any:
    """The expression under ``.alias()``, ``.name.keep()``, ``.name.suffix()``..."""
    while isinstance(node, dict) and len(node) == 1:
        (variant, value), *_ = node.items()
        if variant == "Alias":
            node = value[0]
        elif variant == "KeepName":
            node = value
        elif variant == "RenameAlias":
            node = value["expr"]
        else:
            break
    return node


def _variant(node: Any) -> str | None:
    if isinstance(node, dict) and len(node) == 1:
        key: str = next(iter(node))
        return key
    return None


def _passthrough(col: _Col, name: str) -> _Col:
    kind = col.kind
    if kind in ("identity", "rename"):
        bare = [(split_source(s) or ("", "", s))[2] for s in col.sources]
        kind = "identity" if bare and all(b == name for b in bare) else "rename"
    return _Col(name, col.sources, kind, col.expression)


def _merge(cols: list[_Col], name: str, expression: str | None = None) -> _Col:
    """One column whose values come from any of ``cols`` (a coalesced join key,
    the branches of a concatenation)."""
    sources = unique(s for c in cols for s in c.sources)
    kind = strongest_kind(c.kind for c in cols)
    merged = _Col(name, sources, kind, expression)
    return _passthrough(merged, name) if kind in ("identity", "rename") else merged


class _Walker:
    def __init__(self, leaves: dict[str, str]) -> None:
        self.leaves = leaves

    def walk(self, node: Any) -> list[_Col]:
        prefix = self.leaves.get(_key(node))
        if prefix is not None:
            return [
                _Col(name, (f"{prefix}.{name}",), "identity", None) for name in _names(_frame(node))
            ]
        variant = _variant(node)
        handler: Callable[[Any, Any], list[_Col]] | None = getattr(self, f"_{variant}", None)
        if variant is None or handler is None:
            raise Unreadable(f"plan node {variant!r}")
        return handler(node[variant], node)

    # -- nodes that keep their input's columns ----------------------------------------------
    def _passing(self, body: Any, _node: Any) -> list[_Col]:
        return self.walk(body["input"])

    _Filter = _Sort = _Slice = _Distinct = _Cache = _passing

    def _DataFrameScan(self, body: Any, node: Any) -> list[_Col]:
        # a frame built in the code itself: its values are constants of the code
        return [
            _Col(name, (), "literal", "a frame built in the code") for name in _names(_frame(node))
        ]

    # -- projections ---------------------------------------------------------------------
    def _Select(self, body: Any, node: Any) -> list[_Col]:
        columns = self.walk(body["input"])
        frame = _frame(body["input"])
        out = [c for expr in body["expr"] for c in self._outputs(expr, columns, frame)]
        return out

    def _HStack(self, body: Any, node: Any) -> list[_Col]:
        columns = self.walk(body["input"])
        frame = _frame(body["input"])
        added = [c for expr in body["exprs"] for c in self._outputs(expr, columns, frame)]
        by_name = {c.name: c for c in added}
        out = [by_name.pop(c.name, c) for c in columns]
        return out + [c for c in added if c.name in by_name]

    def _SimpleProjection(self, body: Any, node: Any) -> list[_Col]:
        columns = {c.name: c for c in self.walk(body["input"])}
        return [columns[name] for name in _names(_frame(node))]

    def _GroupBy(self, body: Any, node: Any) -> list[_Col]:
        if body.get("apply") is not None:
            raise Unreadable("group_by().map_groups()")
        columns = self.walk(body["input"])
        frame = _frame(body["input"])
        keys = [c for expr in body["keys"] for c in self._outputs(expr, columns, frame)]
        aggs = [
            c for expr in body["aggs"] for c in self._outputs(expr, columns, frame, aggregate=True)
        ]
        return keys + aggs

    # -- several inputs ------------------------------------------------------------------
    def _Join(self, body: Any, node: Any) -> list[_Col]:
        left = self.walk(body["input_left"])
        right = self.walk(body["input_right"])
        lefts = {c.name: c for c in left}
        rights = {c.name: c for c in right}
        out_names = _names(_frame(node))
        suffix = body.get("options", {}).get("args", {}).get("suffix") or "_right"
        equi = (body.get("condition") or {}).get("Equi") or {}
        pairs = [
            (lk["Column"], rk["Column"])
            for lk, rk in zip(equi.get("left_on", []), equi.get("right_on", []), strict=False)
            if _variant(lk) == "Column" and _variant(rk) == "Column"
        ]
        coalesced = {
            lk: rk for lk, rk in pairs if (rk if rk not in lefts else rk + suffix) not in out_names
        }
        out = []
        for name in out_names:
            if name in lefts:
                col = lefts[name]
                if name in coalesced and coalesced[name] in rights:
                    col = _merge([col, rights[coalesced[name]]], name)
                out.append(col)
            elif name in rights:
                out.append(rights[name])
            elif name.endswith(suffix) and name[: -len(suffix)] in rights:
                out.append(_passthrough(rights[name[: -len(suffix)]], name))
            else:
                raise Unreadable(f"join output {name!r}")
        return out

    def _Union(self, body: Any, node: Any) -> list[_Col]:
        parts = [self.walk(child) for child in body["inputs"]]
        names = _names(_frame(node))
        diagonal = bool(body.get("args", {}).get("diagonal"))
        out = []
        for index, name in enumerate(names):
            if diagonal:
                found = [c for part in parts for c in part if c.name == name]
            else:
                found = [part[index] for part in parts if index < len(part)]
            if not found:
                raise Unreadable(f"concatenated column {name!r}")
            texts = unique(c.expression for c in found if c.expression)
            out.append(_merge(found, name, " | ".join(texts) or None))
        return out

    def _HConcat(self, body: Any, node: Any) -> list[_Col]:
        return [c for child in body["inputs"] for c in self.walk(child)]

    # -- functions on whole frames ------------------------------------------------------
    def _MapFunction(self, body: Any, node: Any) -> list[_Col]:
        columns = self.walk(body["input"])
        function = body["function"]
        variant = _variant(function) if isinstance(function, dict) else function
        out_names = _names(_frame(node))
        by_name = {c.name: c for c in columns}
        if variant == "Rename":
            spec = function["Rename"]
            renames = dict(zip(spec["existing"], spec["new"], strict=True))
            moved = [_passthrough(c, renames.get(c.name, c.name)) for c in columns]
            if [c.name for c in moved] != out_names:
                raise Unreadable("rename")
            return moved
        if variant in ("Explode", "Unnest"):
            before = _frame(body["input"]).collect_schema()
            after = _frame(node).collect_schema()
            gone = [c for c in columns if c.name not in after]
            out = []
            for name in out_names:
                if name in by_name and before[name] == after[name]:
                    out.append(by_name[name])
                elif name in by_name:  # exploded: an element instead of the list
                    col = by_name[name]
                    kind = strongest_kind([col.kind, "expression"])
                    out.append(_Col(name, col.sources, kind, f"{variant.lower()}({name})"))
                elif variant == "Unnest" and gone:  # a field of an unnested struct
                    sources = unique(s for c in gone for s in c.sources)
                    kind = strongest_kind([*(c.kind for c in gone), "expression"])
                    out.append(_Col(name, sources, kind, f"unnest: field {name}"))
                else:
                    raise Unreadable(f"{variant} output {name!r}")
            return out
        if variant == "RowIndex":
            return [
                by_name[n] if n in by_name else _Col(n, (), "literal", "row index")
                for n in out_names
            ]
        raise Unreadable(f"map function {variant!r}")

    # -- expressions ---------------------------------------------------------------------
    def _outputs(
        self, node: Any, columns: list[_Col], frame: pl.LazyFrame, aggregate: bool = False
    ) -> list[_Col]:
        """The columns one expression produces over ``columns`` (``frame``: the
        input as polars sees it, to name the outputs and expand selectors)."""
        expr = _expr(node)
        names = _names(frame.select(expr))
        refs: list[str] = []
        selectors: list[str] = []
        variants: set[str] = set()
        for variant, value in _walk_json(node):
            variants.add(variant)
            if variant == "Column" and isinstance(value, str):
                refs.append(value)
            elif variant == "Selector":
                selectors.append(_key(value))
            elif variant in ("AnonymousFunction", "Eval", "SubPlan", "Python"):
                raise Unreadable(f"expression {variant}")
        if len(set(selectors)) > 1:
            raise Unreadable("more than one selector in an expression")
        if selectors:
            selector = next(v for k, v in _walk_json(node) if k == "Selector")
            expanded = _names(frame.select(_expr({"Selector": selector})))
            if len(expanded) != len(names):
                raise Unreadable("selector expansion")
            used = [[*refs, expanded[i]] for i in range(len(names))]
        else:
            if len(names) != 1:
                raise Unreadable("expression output")
            used = [refs]
        by_name = {c.name: c for c in columns}
        core = _strip_names(node)
        bare = _variant(core) in ("Column", "Selector")
        cast = _variant(core) == "Cast" and _variant(_strip_names(core["Cast"]["expr"])) in (
            "Column",
            "Selector",
        )
        aggregating = aggregate or bool(variants & _AGGREGATING)
        text = str(expr)
        out = []
        for name, refs_here in zip(names, used, strict=True):
            missing = [r for r in refs_here if r not in by_name]
            if missing:
                raise Unreadable(f"column {missing[0]!r}")
            parts = [by_name[r] for r in dict.fromkeys(refs_here)]
            sources = unique(s for c in parts for s in c.sources)
            if bare and not aggregate:
                out.append(_passthrough(parts[0], name))
                continue
            if not parts and "Len" not in variants:
                kind = "literal"
            elif aggregating:
                kind = "aggregate"
            elif cast and not aggregate:
                kind = strongest_kind(["cast", *(c.kind for c in parts)])
            else:
                kind = strongest_kind(["expression", *(c.kind for c in parts)])
            out.append(_Col(name, sources, kind, text))
        return out
