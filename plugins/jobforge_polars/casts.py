"""Bronze casts: text to typed values, with a flag for each value that did not cast."""

from __future__ import annotations

import polars as pl

from jobforge.plugin import ZONED_TIME, CastSpec
from jobforge_polars.exprs import UTC_US, column

_TARGETS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": UTC_US,
}


def _considered(text: pl.Expr, spec: CastSpec) -> pl.Expr:
    """True where stripped text holds a value to cast: not empty, not one of the
    spec's null values (null where the text is null)."""
    considered = text != ""
    if spec.null_values:
        considered = considered & ~text.is_in(list(spec.null_values))
    return considered


def _parse_text(text: pl.Expr, spec: CastSpec) -> pl.Expr:
    """The typed value of stripped text, null where it does not parse (empty text
    included, unless a bool spec lists ``""``: see :func:`cast_columns`)."""
    if spec.type in ("int", "float"):
        number = text
        if spec.thousands:
            number = number.str.replace_all(spec.thousands, "", literal=True)
        if spec.decimal != ".":
            number = number.str.replace_all(spec.decimal, ".", literal=True)
        return number.cast(_TARGETS[spec.type], strict=False)
    if spec.type == "bool":
        lower = text.str.to_lowercase()
        return (
            pl.when(lower.is_in(list(spec.true_values)))
            .then(True)
            .when(lower.is_in(list(spec.false_values)))
            .then(False)
            .otherwise(None)
        )
    if spec.type == "date":
        return text.str.strptime(pl.Date, spec.format or "%Y-%m-%d", strict=False)
    return text.str.to_datetime(spec.format, strict=False, time_unit="us")


def _direct_first(spec: CastSpec) -> bool:
    """Whether a value that parses as it is needs no stripping: numbers without
    separators or null values, and ISO dates (polars parses neither a number
    with surrounding spaces nor a date differently with them)."""
    if spec.null_values:
        return False
    if spec.type in ("int", "float"):
        return spec.thousands is None and spec.decimal == "."
    return spec.type == "date" and spec.format is None


def cast_columns(
    frame: pl.LazyFrame, casts: list[tuple[int, str, CastSpec]], types: pl.Schema
) -> pl.LazyFrame:
    """``frame`` with ``__jf_v<i>`` (the typed value) and ``__jf_f<i>`` (true where
    a value was there but did not cast) for each ``(i, source column, spec)``.

    Text is stripped of surrounding spaces; empty text and the spec's null values
    become null, not a failure. The stripped text and the values are computed
    once each, in steps, so no expression is evaluated twice. Where
    :func:`_direct_first` allows, the text is parsed as it is first and only
    the texts that do not parse are stripped (``__jf_t<i>`` is null elsewhere).
    """
    text_casts = [(i, c, spec) for i, c, spec in casts if types[c] == pl.String]
    direct = [(i, c, spec) for i, c, spec in text_casts if _direct_first(spec)]
    direct_index = {i for i, _, _ in direct}
    stripped = [
        (
            pl.when(pl.col(f"__jf_d{i}").is_null()).then(column(c))
            if i in direct_index
            else column(c)
        )
        .str.strip_chars()
        .alias(f"__jf_t{i}")
        for i, c, _ in text_casts
    ]
    values: list[pl.Expr] = []
    for i, c, spec in casts:
        if types[c] != pl.String:
            values.append(column(c).cast(_TARGETS[spec.type], strict=False).alias(f"__jf_v{i}"))
            continue
        text = pl.col(f"__jf_t{i}")
        empty_parses = spec.type == "bool" and "" in (*spec.true_values, *spec.false_values)
        if i in direct_index:
            value = pl.coalesce(pl.col(f"__jf_d{i}"), _parse_text(text, spec))
        elif spec.type == "datetime":
            # Without a format polars infers one from the first value: only
            # considered text may take part, and no zoned one (which would
            # make the whole column zoned and fail the local times).
            taken = _considered(text, spec)
            if spec.format is None:
                taken = taken & ~text.str.contains(ZONED_TIME)
            value = _parse_text(pl.when(taken).then(text), spec)
        elif spec.null_values or empty_parses:
            value = pl.when(_considered(text, spec)).then(_parse_text(text, spec))
        else:
            value = _parse_text(text, spec)
        values.append(value.alias(f"__jf_v{i}"))
    flags: list[pl.Expr] = []
    for i, c, spec in casts:
        if types[c] != pl.String:
            there = column(c).is_not_null()
        else:
            there = _considered(pl.col(f"__jf_t{i}"), spec).fill_null(False)
        flags.append((there & pl.col(f"__jf_v{i}").is_null()).alias(f"__jf_f{i}"))
    if direct:
        frame = frame.with_columns(
            _parse_text(column(c), spec).alias(f"__jf_d{i}") for i, c, spec in direct
        )
    if stripped:
        frame = frame.with_columns(stripped)
    return frame.with_columns(values).with_columns(flags)
