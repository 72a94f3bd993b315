"""Bronze casts as Spark column expressions: the values that pass and fail are
those of the polars executor (plugins/jobforge_polars/casts.py).

Text is stripped of surrounding (Unicode) white space; empty text and the
spec's null values become null, not a failure. Each type accepts exactly what
polars accepts, written as a pattern before the value is parsed (Spark's own
casts take more: ``'5.0'`` as an int, ``'1.5d'`` as a double):

- int: an optional sign and ASCII digits, within 64 bits;
- float: a decimal number with optional exponent, or ``inf``, ``infinity``,
  ``nan`` (any case, optional sign);
- bool: the spec's true and false values, any case;
- date: ``YYYY-M-D`` (one or two digit month and day, an optional ``+``) that
  is a real date; with a ``format``, the strftime directives translated to
  Spark's datetime pattern (:func:`spark_pattern`);
- datetime: with a ``format`` as for dates; without one, what Spark reads as a
  timestamp (ISO 8601; polars infers a format from the first value instead),
  as a timestamp without time zone, as polars writes it; a value with a zone
  designator (``Z``, ``+05:00``: ``ZONED_TIME``) fails.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobforge.plugin import ZONED_TIME, CastSpec, ContractError

_TARGETS = {
    "string": "string",
    "int": "bigint",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "datetime": "timestamp_ntz",
}
_STRIP = r"(?U)^\s+|\s+$"
_INT = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ISO_DATE = r"^\+?([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$"
_NAN = ("nan", "+nan", "-nan")
_POSITIVE_INF = ("inf", "+inf", "infinity", "+infinity")
_NEGATIVE_INF = ("-inf", "-infinity")
_DIRECTIVES = {
    "Y": "yyyy",
    "y": "yy",
    "m": "M",
    "d": "d",
    "H": "H",
    "M": "m",
    "S": "s",
    "f": "SSSSSS",
    "b": "MMM",
    "B": "MMMM",
    "j": "D",
    "%": "%",
}
"""strftime directives with a Spark datetime pattern that parses the same texts."""


def spark_pattern(fmt: str, where: str) -> str:
    """The Spark datetime pattern of the strftime format ``fmt``; a
    :class:`ContractError` naming ``where`` and the directive if it has none."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal).replace("'", "''")
            out.append(f"'{text}'")
            literal.clear()

    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            if directive not in _DIRECTIVES:
                raise ContractError(
                    f"{where}: format {fmt!r}: %{directive} has no Spark equivalent "
                    f"(the spark executor reads {', '.join('%' + d for d in _DIRECTIVES)})"
                )
            if directive == "%":
                literal.append("%")
            else:
                flush()
                out.append(_DIRECTIVES[directive])
            i += 2
            continue
        literal.append(char)
        i += 1
    flush()
    return "".join(out)


def strip(text: Column) -> Column:
    return F.regexp_replace(text, _STRIP, "")


def considered(text: Column, spec: CastSpec) -> Column:
    """True where stripped text holds a value to cast (null where it is null)."""
    there = text != F.lit("")
    if spec.null_values:
        there = there & ~text.isin(list(spec.null_values))
    return there


def _number(text: Column, spec: CastSpec) -> Column:
    if spec.thousands:
        text = F.replace(text, F.lit(spec.thousands), F.lit(""))
    if spec.decimal != ".":
        text = F.replace(text, F.lit(spec.decimal), F.lit("."))
    return text


def parse(text: Column, spec: CastSpec, where: str) -> Column:
    """The typed value of stripped text, null where it does not parse."""
    if spec.type == "int":
        number = _number(text, spec)
        return F.when(number.rlike(_INT), number.try_cast("bigint"))
    if spec.type == "float":
        number = _number(text, spec)
        lower = F.lower(number)
        return (
            F.when(number.rlike(_FLOAT), number.try_cast("double"))
            .when(lower.isin(list(_NAN)), F.lit(float("nan")))
            .when(lower.isin(list(_POSITIVE_INF)), F.lit(float("inf")))
            .when(lower.isin(list(_NEGATIVE_INF)), F.lit(float("-inf")))
        )
    if spec.type == "bool":
        lower = F.lower(text)
        return F.when(lower.isin(list(spec.true_values)), F.lit(True)).when(
            lower.isin(list(spec.false_values)), F.lit(False)
        )
    if spec.type == "date":
        if spec.format is None:
            iso = F.concat(
                F.regexp_extract(text, _ISO_DATE, 1),
                F.lit("-"),
                F.lpad(F.regexp_extract(text, _ISO_DATE, 2), 2, "0"),
                F.lit("-"),
                F.lpad(F.regexp_extract(text, _ISO_DATE, 3), 2, "0"),
            )
            return F.when(
                text.rlike(_ISO_DATE), F.try_to_timestamp(iso, F.lit("yyyy-MM-dd")).cast("date")
            )
        pattern = F.lit(spark_pattern(spec.format, where))
        return F.try_to_timestamp(text, pattern).cast("date")
    if spec.format is None:
        # Spark reads an offset and drops it: a zoned value fails, as in polars.
        return F.when(~text.rlike(ZONED_TIME), text.try_cast("timestamp_ntz"))
    pattern = F.lit(spark_pattern(spec.format, where))
    return F.try_to_timestamp(text, pattern).cast("timestamp_ntz")


def cast_value(value: Column, is_text: bool, spec: CastSpec, where: str) -> tuple[Column, Column]:
    """``(typed value, failed)`` of one source column: ``failed`` is true where a
    value was there but did not cast."""
    if not is_text:
        typed = value.try_cast(_TARGETS[spec.type])
        return typed, value.isNotNull() & typed.isNull()
    text = strip(value)
    there = considered(text, spec)
    typed = F.when(there, parse(text, spec, where))
    return typed, F.coalesce(there, F.lit(False)) & typed.isNull()
