"""Bronze casts as DuckDB SQL: the typed value of each cast column and a flag
where a value was there but did not cast, with the polars executor's rules
(text stripped of surrounding Unicode white space, empty text and null values become
null, numbers in the forms polars parses).

The one place two users share: the duckdb executor's bronze step
(:func:`cast_terms`, through ``jobforge.plugin``) and the control totals of a
staged -> bronze transition (:func:`cast_value`), which measure the staged text
as bronze casts it."""

from __future__ import annotations

from jobforge.engine.bronze_plan import ZONED_TIME
from jobforge.engine.steps import CastSpec
from jobforge.query.guard import quote_ident as ident
from jobforge.query.guard import quote_literal as lit

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


WHITE_SPACE = (
    r"[\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}"
    r"\x{205F}\x{3000}]"
)
"""Unicode's White_Space characters, what the polars executor strips around a
value (RE2's backslash-s is ASCII only: a no-break space would stay)."""


def stripped(column: str) -> str:
    """The column's text without surrounding (Unicode) white space."""
    return _trimmed(ident(column))


def _trimmed(text: str) -> str:
    pattern = f"^{WHITE_SPACE}+|{WHITE_SPACE}+$"
    return f"regexp_replace({text}, {lit(pattern)}, '', 'g')"


def considered(text: str, spec: CastSpec) -> str:
    """True where stripped ``text`` holds a value to cast (null where it is null)."""
    there = f"({text} <> '')"
    if spec.null_values:
        there = f"({there} AND NOT {_in(text, spec.null_values)})"
    return there


def cast_value(text: str, spec: CastSpec) -> str:
    """The typed value of the SQL text expression ``text`` cast by ``spec`` (null
    where it is empty, a null value, or does not cast)."""
    trimmed = _trimmed(text)
    return f"CASE WHEN {considered(trimmed, spec)} THEN {_parse(trimmed, spec)} END"


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
    # DuckDB reads an offset and drops it: a zoned value fails, as in polars.
    local = f"NOT regexp_matches({text}, {lit(ZONED_TIME)})"
    return f"CASE WHEN {local} THEN TRY_CAST({text} AS TIMESTAMP) END"


def cast_terms(column: str, spec: CastSpec, is_text: bool, name: str) -> tuple[str, str, str]:
    """``(text, value, failed)`` select terms of casting ``column`` by ``spec``,
    each a ``<expression> AS <name>_t|_v|_f`` of its own projection level: the
    stripped text, its typed value (over the text column), and the flag (over
    both). Nested, so that each is computed once per value (DuckDB does not
    share the stripping between expressions that repeat it)."""
    text, value = f"{name}_t", f"{name}_v"
    if not is_text:
        typed = f"TRY_CAST({ident(column)} AS {SQL_TYPES[spec.type]})"
        return (
            f"NULL AS {text}",
            f"{typed} AS {value}",
            f"({ident(column)} IS NOT NULL AND {value} IS NULL) AS {name}_f",
        )
    there = considered(text, spec)
    return (
        f"{stripped(column)} AS {text}",
        f"CASE WHEN {there} THEN {_parse(text, spec)} END AS {value}",
        f"(coalesce({there}, false) AND {value} IS NULL) AS {name}_f",
    )
