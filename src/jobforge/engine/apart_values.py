"""The control-column values of set-apart rows (the ``row`` JSON of quarantine
and duplicates files) without DuckDB, where the answer is unambiguous.

The definition is DuckDB's ``TRY_CAST(json_extract_string(row, '$."c"') AS
<the output column's type>)`` (:mod:`jobforge.engine.control_totals`). Executors
write these rows from typed values, so a control column's value is nearly
always a JSON number or ``null``; for those the cast is plain arithmetic:

- an integer column: a JSON integer (or a string of ASCII digits with an
  optional ``-``), ``NULL`` when outside the type's range;
- a ``DOUBLE`` column: any finite JSON number, correctly rounded;
- a decimal column: a JSON number or numeric string with no more fraction
  digits than the scale and no more digits than the precision;
- a missing key or ``null``: ``NULL``.

Anything else (text to parse, a value to round, ``true``, a ``FLOAT`` column, a
row that is not a JSON object) returns ``None`` for the whole part, and the
caller asks DuckDB, whose answer is the definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

_DIGITS = re.compile(r"-?[0-9]+")
_PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")

Value = int | Decimal | float | None
Values = list[Value]
Caster = Callable[[object], Value]


class _Scientific(str):
    """A JSON number written with an exponent (``1e-05``): a double, nothing else."""


def _json_float(text: str) -> Decimal | _Scientific:
    return Decimal(text) if _PLAIN.fullmatch(text) else _Scientific(text)


class _Unsure(Exception):
    """The value's cast needs DuckDB's rules."""


def _integer(value: object, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        raise _Unsure
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise _Unsure
    return number if low <= number <= high else None


def _double(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | _Scientific):
        raise _Unsure
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise _Unsure
    return number


def _decimal(value: object, precision: int, scale: int) -> Decimal:
    if isinstance(value, bool | _Scientific):
        raise _Unsure
    if isinstance(value, str):
        if not _PLAIN.fullmatch(value):
            raise _Unsure
        value = Decimal(value)
    if not isinstance(value, int | Decimal):
        raise _Unsure
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent > scale:
        raise _Unsure  # TRY_CAST would round
    with localcontext(prec=200):
        exact = number.quantize(Decimal((0, (1,), -scale)))
    if len(exact.as_tuple().digits) > precision:
        raise _Unsure  # out of range: DuckDB's NULL, not decided here
    return exact.copy_abs() if exact == 0 else exact  # a decimal has no -0


def _caster(arrow_type: pa.DataType) -> Caster | None:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        bits = arrow_type.bit_width
        if pa.types.is_unsigned_integer(arrow_type):
            low, high = 0, (1 << bits) - 1
        else:
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return lambda value: _integer(value, low, high)
    if pa.types.is_float64(arrow_type):
        return _double
    if pa.types.is_decimal(arrow_type) and arrow_type.precision <= 38:
        precision, scale = arrow_type.precision, arrow_type.scale
        return lambda value: _decimal(value, precision, scale)
    return None


def apart_values(rows: list[str | None], types: dict[str, pa.DataType]) -> dict[str, Values] | None:
    """Each column's values in ``rows`` (JSON objects) as the output's type, or
    ``None`` when one of them needs DuckDB's cast."""
    casters: dict[str, Caster] = {}
    for column, kind in types.items():
        caster = _caster(kind)
        if caster is None:
            return None
        casters[column] = caster
    found: dict[str, Values] = {column: [] for column in types}
    try:
        for text in rows:
            if text is None:
                raise _Unsure
            row = json.loads(text, parse_float=_json_float)
            if not isinstance(row, dict):
                raise _Unsure
            for column, cast in casters.items():
                value = row.get(column)
                found[column].append(None if value is None else cast(value))
    except (_Unsure, ValueError):
        return None
    return found
