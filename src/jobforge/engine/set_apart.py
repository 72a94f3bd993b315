"""The values of the rows set apart (quarantine and duplicates), described once.

Every executor writes the same columns (:data:`~jobforge.engine.executor.QUARANTINE_COLUMNS`,
:data:`~jobforge.engine.executor.DUPLICATE_COLUMNS`) with the same values; this
module says, column by column, where each value comes from, and an executor
renders each description in its own engine (a polars expression, a DuckDB SQL
term, a Spark column):

- :class:`Carried`: the input row's column of that name (cast to ``type`` when given);
- :class:`Constant`: one value for every row of the step (its table, layer, stamp);
- :class:`StepValue`: what the step works out (the rule that failed, the message,
  the row as JSON, the row a duplicate equals); the executor gives the expression.

Types are named ``"string"``, ``"int64"`` and ``"timestamp"`` (microseconds, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from jobforge.engine.executor import StepContext
from jobforge.provenance import BATCH_ID, INGESTED_AT, SOURCE_FILE, SOURCE_ROW

__all__ = [
    "Carried",
    "Constant",
    "SetApartValue",
    "StepValue",
    "ValueType",
    "duplicate_values",
    "quarantine_values",
]

ValueType = Literal["string", "int64", "timestamp"]


@dataclass(frozen=True)
class Carried:
    """The input row's ``column``, cast to ``type`` (``None``: as it is)."""

    column: str
    type: ValueType | None = None


@dataclass(frozen=True)
class Constant:
    """``value`` (of ``type``) on every row."""

    value: str | datetime | None
    type: ValueType


@dataclass(frozen=True)
class StepValue:
    """What the step works out for each row, as a ``type``; ``name`` is the
    output column (the key the executor gives its expression under)."""

    name: str
    type: ValueType


SetApartValue = Carried | Constant | StepValue


def _provenance() -> dict[str, SetApartValue]:
    return {
        SOURCE_FILE: Carried(SOURCE_FILE),
        INGESTED_AT: Carried(INGESTED_AT),
        BATCH_ID: Carried(BATCH_ID),
        SOURCE_ROW: Carried(SOURCE_ROW, "int64"),
    }


def quarantine_values(
    ctx: StepContext, layer: str, severity: str = "error"
) -> dict[str, SetApartValue]:
    """Column -> value of the quarantine rows of a ``layer`` step; the step gives
    ``rule_id``, ``column``, ``message`` and ``row`` (the row's original values as
    a JSON object, or a reader's raw fields as a JSON array)."""
    return {
        **_provenance(),
        "layer": Constant(layer, "string"),
        "table_name": Constant(ctx.table, "string"),
        "rule_id": StepValue("rule_id", "string"),
        "column": StepValue("column", "string"),
        "message": StepValue("message", "string"),
        "severity": Constant(severity, "string"),
        "row": StepValue("row", "string"),
        "quarantined_at": Constant(ctx.processed_at, "timestamp"),
    }


def duplicate_values(ctx: StepContext) -> dict[str, SetApartValue]:
    """Column -> value of the rows silver dropped as duplicates; the step gives
    ``row`` (the row's values as JSON) and ``duplicate_of`` (the ``_source_row``
    of the row kept)."""
    return {
        **_provenance(),
        "table_name": Constant(ctx.table, "string"),
        "row": StepValue("row", "string"),
        "duplicate_of": StepValue("duplicate_of", "int64"),
        "deduplicated_at": Constant(ctx.processed_at, "timestamp"),
    }
