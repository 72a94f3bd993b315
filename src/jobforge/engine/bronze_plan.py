"""The bronze contract over a staged batch's columns: the one place that says
which columns a bronze step keeps, under which names, and refuses a batch that
breaks the declared schema (every executor calls it before it casts)."""

from __future__ import annotations

from jobforge.engine.steps import BronzeSchema, CastSpec
from jobforge.errors import ContractError


def bronze_columns(schema: BronzeSchema, data: list[str], table: str) -> dict[str, str]:
    """Source column -> bronze name, in order, for a batch with data columns
    ``data``; a :class:`ContractError` for a missing required or renamed column,
    a new column under ``on_new_column = "fail"``, two columns becoming one name,
    or a cast naming no column."""
    missing = [c for c in [*schema.required, *schema.rename] if c not in data]
    if missing:
        raise ContractError(
            f"bronze {table}: missing source column(s) "
            f"{', '.join(repr(m) for m in dict.fromkeys(missing))}"
        )
    if schema.on_new_column == "fail":
        declared = schema.declared_source_columns()
        new = [c for c in data if c not in declared]
        if new:
            raise ContractError(
                f"bronze {table}: new source column(s) {', '.join(map(repr, new))} "
                "not declared (on_new_column = fail)"
            )
    final = schema.column_names(data)
    seen: dict[str, str] = {}
    for source, name in final.items():
        if name in seen:
            raise ContractError(
                f"bronze {table}: columns {seen[name]!r} and {source!r} both become {name!r}"
            )
        seen[name] = source
    unknown = [c for c in schema.cast if c not in seen]
    if unknown:
        raise ContractError(
            f"bronze {table}: cast names unknown column(s) {', '.join(map(repr, unknown))}"
        )
    return final


def typed_casts(schema: BronzeSchema, final: dict[str, str]) -> list[tuple[int, str, CastSpec]]:
    """``(position, source column, cast)`` of each column cast to a type other
    than ``string`` (a ``string`` cast keeps the column as it is)."""
    return [
        (index, source, schema.cast[name])
        for index, (source, name) in enumerate(final.items())
        if name in schema.cast and schema.cast[name].type != "string"
    ]


def cast_message_type(spec: CastSpec) -> str:
    """How a quarantine message names a cast's target: ``date (%d/%m/%Y)``."""
    return spec.type + (f" ({spec.format})" if spec.format else "")


ZONED_TIME = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)? ?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
"""A time of day followed by a zone designator (``Z``, ``+05:00``, ``-0800``),
as a regular expression (the same in Rust, RE2 and Java): a ``datetime`` cast
without a ``format`` reads local times, so such a value fails its cast in every
executor (a bronze datetime has no zone, and dropping the offset would move the
instant; left to itself, polars would read the whole column as zoned or not
from its first value, and DuckDB and Spark would drop the offset)."""
