"""Bronze casts as DuckDB SQL: the typed value of each cast column and a flag
where a value was there but did not cast, with the polars executor's rules
(text stripped of surrounding whitespace, empty text and null values become
null, numbers in the forms polars parses)."""

from __future__ import annotations

from jobforge.plugin import CastSpec
from jobforge_duckdb.session import ident, lit

SQL_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}
_INT = r"[+-]?[0-9]+"
_FLOAT = r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)"
"""The number texts polars casts (DuckDB's own casts take more: ``1_000``,
``0x10``, ``1.5`` as an int)."""


def _in(text: str, values: tuple[str, ...]) -> str:
    return f"{text} IN ({', '.join(lit(v) for v in values)})"


def stripped(column: str) -> str:
    """The column's text without surrounding whitespace."""
    return rf"regexp_replace({ident(column)}, '^\s+|\s+$', '', 'g')"


def considered(text: str, spec: CastSpec) -> str:
    """True where stripped ``text`` holds a value to cast (null where it is null)."""
    there = f"({text} <> '')"
    if spec.null_values:
        there = f"({there} AND NOT {_in(text, spec.null_values)})"
    return there


def _parse(text: str, spec: CastSpec) -> str:
    if spec.type in ("int", "float"):
        number = text
        if spec.thousands:
            number = f"replace({number}, {lit(spec.thousands)}, '')"
        if spec.decimal != ".":
            number = f"replace({number}, {lit(spec.decimal)}, '.')"
        pattern = _INT if spec.type == "int" else _FLOAT
        flags = "" if spec.type == "int" else ", 'i'"
        return (
            f"CASE WHEN regexp_full_match({number}, {lit(pattern)}{flags}) "
            f"THEN TRY_CAST({number} AS {SQL_TYPES[spec.type]}) END"
        )
    if spec.type == "bool":
        lower = f"lower({text})"
        return (
            f"CASE WHEN {_in(lower, spec.true_values)} THEN true "
            f"WHEN {_in(lower, spec.false_values)} THEN false END"
        )
    if spec.type == "date":
        return f"CAST(TRY_STRPTIME({text}, {lit(spec.format or '%Y-%m-%d')}) AS DATE)"
    if spec.format:
        return f"TRY_STRPTIME({text}, {lit(spec.format)})"
    return f"TRY_CAST({text} AS TIMESTAMP)"


def cast_value(column: str, spec: CastSpec, is_text: bool) -> tuple[str, str]:
    """``(value, failed)`` SQL expressions of casting ``column`` by ``spec``."""
    if not is_text:
        value = f"TRY_CAST({ident(column)} AS {SQL_TYPES[spec.type]})"
        return value, f"({ident(column)} IS NOT NULL AND {value} IS NULL)"
    text = stripped(column)
    value = f"CASE WHEN {considered(text, spec)} THEN {_parse(text, spec)} END"
    return value, f"(coalesce({considered(text, spec)}, false) AND ({value}) IS NULL)"
