"""Control totals: the sums and non-null counts of a table's control columns in
every part of a transition, reconciled like the row ledger
(:mod:`jobforge.engine.ledger`): ``in = out + quarantined + deduplicated + filtered``.

They are measured on the files, not reported by the executor: the input batch
file, the data file written, and the ``row`` JSON of the quarantine and
duplicate files (the rejected or dropped rows' values), each read through
``jobforge.storage.literal`` for the control columns only and summed by DuckDB.
Integer and decimal columns are summed exactly (DuckDB's ``HUGEINT`` and
``DECIMAL`` sums, compared as :class:`~decimal.Decimal`); float columns within
:data:`FLOAT_TOLERANCE`, over their finite values (NaN and infinities are neither
summed nor counted). No file holds the rows a filter dropped: their totals
are the remainder, and zero, checked, when the ledger filtered no row.

Staged -> bronze (:func:`bronze_totals`): staged holds text, bronze the cast
values. What came in is the staged text of each control column cast as bronze
declares it (the same DuckDB SQL the duckdb executor casts with:
:mod:`jobforge.engine.cast_sql`), what went out the bronze file's values, what
was quarantined the rejected rows' staged text (their ``row`` JSON) cast the
same way. A value that does not cast counts in no part (it is null in each);
the other control columns of a row quarantined for it count in ``came_in`` and
``quarantined``. So ``came_in = went_out + quarantined`` holds exactly when
every kept row went out with the value its text casts to.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from jobforge.engine.bronze_plan import bronze_columns
from jobforge.engine.steps import BronzeSchema
from jobforge.errors import ContractError
from jobforge.pipeline.models import ColumnTotal, ControlTotal, RowLedger
from jobforge.provenance import data_columns
from jobforge.storage import literal
from jobforge.storage.pending import PendingFiles
from jobforge.storage.store import StepTargets

if TYPE_CHECKING:  # imported when totals are measured, not with this module
    import duckdb
    import pyarrow as pa

FLOAT_TOLERANCE = 1e-9
"""Float columns reconcile when the parts' sum is within this fraction of the
largest magnitude involved (summation order changes the last bits)."""

_EXACT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
          "UINTEGER", "UBIGINT", "UHUGEINT")  # fmt: skip
_FLOAT = ("FLOAT", "DOUBLE", "REAL")


def _kind(duckdb_type: str, column: str, where: Path) -> str:
    if duckdb_type in _EXACT or duckdb_type.startswith("DECIMAL"):
        return "exact"
    if duckdb_type in _FLOAT:
        return "float"
    raise ContractError(
        f"control_totals: column {column!r} of {where} is {duckdb_type}, expected a number"
    )


def _read(paths: list[Path], columns: list[str]) -> pa.Table | None:
    import pyarrow as pa

    tables = [literal.parquet_file(p).read(columns=columns) for p in paths]
    return pa.concat_tables(tables) if tables else None


def _totals_of(
    con: duckdb.DuckDBPyConnection, table: pa.Table | None, expression: str
) -> ColumnTotal:
    if table is None or table.num_rows == 0:
        return ColumnTotal(sum=None, non_null=0)
    con.register("part", table)
    try:
        query = f"SELECT sum({expression}), count({expression}) FROM part"
        total, count = con.execute(query).fetchall()[0]
    finally:
        con.unregister("part")
    return ColumnTotal(sum=None if total is None else str(total), non_null=count)


def _counted(expression: str, kind: str) -> str:
    """The values of ``expression`` a total sums and counts: for a float column
    its finite values only. NaN and the infinities have no sum that reconciles
    (``inf - inf`` is NaN) and a set-apart row's JSON holds them as null (JSON
    has no NaN), so every part leaves them out alike."""
    return (
        f"CASE WHEN isfinite({expression}) THEN {expression} END" if kind == "float" else expression
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_path(name: str) -> str:
    return "'$.\"" + name.replace("'", "''").replace('"', '\\"') + "\"'"


def measure(
    columns: list[str],
    *,
    came_in: list[Path] | None,
    went_out: Path,
    quarantined: Path | None = None,
    deduplicated: Path | None = None,
) -> list[ControlTotal]:
    """The totals of ``columns`` in each part (``came_in`` ``None``: gold, which
    records what went out only). Set-apart files hold rows as JSON (``row``)."""
    if not columns:
        return []
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        schema = literal.read_schema(went_out)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise ContractError(
                f"control_totals: {', '.join(map(repr, missing))} not a column of the "
                f"output (columns: {', '.join(schema.names)})"
            )
        out = _read([went_out], columns)
        assert out is not None
        ins = _read(came_in, columns) if came_in is not None else None
        rows_apart = {
            part: _read([path], ["row"]) if path is not None and path.exists() else None
            for part, path in (("quarantined", quarantined), ("deduplicated", deduplicated))
        }
        found = []
        for column in columns:
            duckdb_type = _type_of(con, out, column)
            kind = _kind(duckdb_type, column, went_out)
            value = _counted(_quoted(column), kind)
            apart = _counted(
                f'TRY_CAST(json_extract_string("row", {_json_path(column)}) AS {duckdb_type})',
                kind,
            )
            total = ControlTotal(
                column=column,
                kind=kind,  # type: ignore[arg-type]
                went_out=_totals_of(con, out, value),
            )
            if came_in is not None:
                came = _counted(f"CAST({_quoted(column)} AS {duckdb_type})", kind)
                total.came_in = _totals_of(con, ins, came)
                total.quarantined = _totals_of(con, rows_apart["quarantined"], apart)
                total.deduplicated = _totals_of(con, rows_apart["deduplicated"], apart)
            found.append(total)
        return found
    finally:
        con.close()


def _type_of(con: duckdb.DuckDBPyConnection, table: pa.Table, column: str) -> str:
    """The DuckDB type of ``column`` of the output."""
    con.register("out_schema", table.slice(0, 0))
    try:
        described = con.execute(f"DESCRIBE SELECT {_quoted(column)} FROM out_schema").fetchall()
        return str(described[0][1])
    finally:
        con.unregister("out_schema")


def _value(total: ColumnTotal | None, kind: str) -> Decimal | float:
    text = total.sum if total is not None else None
    if text is None:
        return Decimal(0) if kind == "exact" else 0.0
    return Decimal(text) if kind == "exact" else float(text)


def reconcile(totals: list[ControlTotal], ledger: RowLedger) -> list[ControlTotal]:
    """``totals`` with the filtered part filled in; a :class:`ContractError`
    naming the column and every part when one does not reconcile."""
    done = []
    for total in totals:
        if total.came_in is None:  # gold: output totals only
            done.append(total)
            continue
        kind = total.kind
        parts = [total.went_out, total.quarantined, total.deduplicated]
        sum_in = _value(total.came_in, kind)
        sum_parts = sum((_value(p, kind) for p in parts), Decimal(0) if kind == "exact" else 0.0)
        count_rest = total.came_in.non_null - sum(p.non_null for p in parts if p is not None)
        rest = sum_in - sum_parts  # type: ignore[operator]
        if ledger.rows_filtered:
            filtered = ColumnTotal(sum=str(rest), non_null=count_rest)
        else:
            filtered = ColumnTotal(sum=None, non_null=0)
            scale = max(1.0, abs(float(sum_in)), sum(abs(float(_value(p, kind))) for p in parts))
            off = rest != 0 if kind == "exact" else abs(float(rest)) > FLOAT_TOLERANCE * scale
            if off or count_rest != 0:
                raise ContractError(
                    f"control totals of {total.column!r} do not reconcile: in "
                    f"sum={total.came_in.sum} non_null={total.came_in.non_null} but "
                    + " + ".join(
                        f"{name} sum={p.sum if p else None} non_null={p.non_null if p else 0}"
                        for name, p in zip(
                            ("out", "quarantined", "deduplicated"), parts, strict=True
                        )
                    )
                    + f" leaves sum={rest} non_null={count_rest} with no row filtered"
                )
        done.append(total.model_copy(update={"filtered": filtered}))
    return done


BRONZE_NUMBERS = ("int", "float")
"""The bronze casts whose columns have totals from staged -> bronze on."""


def bronze_columns_measured(columns: list[str], schema: BronzeSchema) -> list[str]:
    """The control columns a staged -> bronze transition measures: those bronze
    casts to a number (any other is text in bronze; its totals start in silver,
    where it must be a number)."""
    return [c for c in columns if c in schema.cast and schema.cast[c].type in BRONZE_NUMBERS]


def bronze_totals(
    columns: list[str],
    schema: BronzeSchema,
    *,
    table: str,
    inputs: list[Path],
    pending: PendingFiles,
    targets: StepTargets,
    ledger: RowLedger,
) -> list[ControlTotal]:
    """The reconciled totals of a staged -> bronze transition (see the module
    docstring), from the staged files it read and the temporaries it wrote."""
    import duckdb
    import pyarrow as pa

    from jobforge.engine.cast_sql import SQL_TYPES, cast_value

    written = pending.written(targets.data)
    measured = bronze_columns_measured(columns, schema)
    if not measured or written is None or not inputs:
        return []
    staged_names = data_columns(list(literal.read_schema(inputs[0]).names))
    source_of = {name: src for src, name in bronze_columns(schema, staged_names, table).items()}
    sources = [source_of[c] for c in measured]
    ins = _read(inputs, sources)
    out = _read([written], measured)
    assert out is not None
    apart = pending.written(targets.quarantine) if targets.quarantine else None
    rejected = _read([apart], ["row"]) if apart is not None else None
    con = duckdb.connect(":memory:")
    try:
        found = []
        for column, source in zip(measured, sources, strict=True):
            spec = schema.cast[column]
            typed = SQL_TYPES[spec.type]
            assert ins is not None
            given = ins.schema.field(source).type
            is_text = pa.types.is_string(given) or pa.types.is_large_string(given)
            value_in = (
                cast_value(_quoted(source), spec)
                if is_text
                else f"TRY_CAST({_quoted(source)} AS {typed})"
            )
            text_apart = f'json_extract_string("row", {_json_path(source)})'
            found.append(
                ControlTotal(
                    column=column,
                    kind=_kind(_type_of(con, out, column), column, written),  # type: ignore[arg-type]
                    came_in=_totals_of(con, ins, value_in),
                    went_out=_totals_of(con, out, _quoted(column)),
                    quarantined=_totals_of(con, rejected, cast_value(text_apart, spec)),
                    deduplicated=ColumnTotal(sum=None, non_null=0),
                )
            )
    finally:
        con.close()
    return reconcile(found, ledger)


def step_totals(
    columns: list[str],
    *,
    gold: bool,
    inputs: list[Path],
    pending: PendingFiles,
    targets: StepTargets,
    ledger: RowLedger,
) -> list[ControlTotal]:
    """The reconciled totals of a promotion, from the files it read and the
    temporaries it wrote (a :class:`ContractError` if they do not reconcile)."""
    written = pending.written(targets.data)
    if not columns or written is None:
        return []
    totals = measure(
        columns,
        came_in=None if gold else inputs,
        went_out=written,
        quarantined=pending.written(targets.quarantine) if targets.quarantine else None,
        deduplicated=pending.written(targets.duplicates) if targets.duplicates else None,
    )
    return reconcile(totals, ledger)
