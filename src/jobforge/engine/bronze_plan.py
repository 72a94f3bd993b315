"""What a bronze step does to a staged table's columns, worked out before any
row is read: the same for every executor, so each refuses the same contracts
with the same messages."""

from __future__ import annotations

from jobforge.engine.steps import BronzeSchema, CastSpec
from jobforge.errors import ContractError


def bronze_plan(
    table: str, schema: BronzeSchema, data: list[str]
) -> tuple[dict[str, str], list[tuple[int, str, CastSpec]]]:
    """``(source column -> bronze name, [(position, source column, cast)])`` for
    the staged data columns ``data``; a :class:`ContractError` for a missing
    required or renamed column, an undeclared one under ``on_new_column =
    fail``, two columns given one name, or a cast of an unknown column."""
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
    casts = [
        (index, source, schema.cast[name])
        for index, (source, name) in enumerate(final.items())
        if name in schema.cast and schema.cast[name].type != "string"
    ]
    return final, casts
