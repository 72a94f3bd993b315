"""Control totals: the sums and non-null counts of a table's control columns in
every part of a transition, reconciled like the row ledger
(:mod:`jobforge.engine.ledger`): ``in = out + quarantined + deduplicated + filtered``.

They are measured on the files, not reported by the executor: the input batch
file, the data file written, and the ``row`` JSON of the quarantine and
duplicate files (the rejected or dropped rows' values), each read once through
``jobforge.storage.literal`` for the control columns only. The input and output
columns are summed by ``pyarrow.compute``, the set-apart rows' values (each
``TRY_CAST`` to the output column's type) in Python where they are plain
numbers (:mod:`jobforge.engine.apart_values`); DuckDB is opened only where its
rules decide: a set-apart value that is not a plain number, and an input
column whose type differs from the output's (``CAST``).

Integer and decimal columns are summed exactly (64-bit integers in 32-bit
halves, decimals of up to 38 digits as 76-digit decimals, wider ones in
Python), compared as :class:`~decimal.Decimal`; float columns within
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

import math
import threading
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.engine.apart_values import apart_values
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

EXACT = Context(prec=200)
"""Decimal arithmetic on totals: the default context rounds to 28 digits, and a
sum of 38-digit decimals has up to 48 (76-digit decimals summed: 86)."""

_SLICE = 1 << 30
"""Rows summed at once: 2**30 values below 2**32 in magnitude sum within int64."""


def _kind(arrow_type: pa.DataType, column: str, where: Path) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_decimal(arrow_type):
        return "exact"
    if pa.types.is_floating(arrow_type):
        return "float"
    raise ContractError(
        f"control_totals: column {column!r} of {where} is {arrow_type}, expected a number"
    )


def _read(paths: list[Path], columns: list[str]) -> pa.Table | None:
    import pyarrow as pa

    tables = [literal.parquet_file(p).read(columns=columns) for p in paths]
    return pa.concat_tables(tables) if tables else None


def _pieces(values: pa.ChunkedArray) -> list[pa.Array]:
    return [
        chunk.slice(start, _SLICE)
        for chunk in values.chunks
        for start in range(0, max(len(chunk), 1), _SLICE)
    ]


def _scalar_of(value: int, kind: pa.DataType) -> pa.Scalar:
    """A 64-bit integer scalar made from its bytes: ``pa.scalar`` asks whether
    the value is a pandas object, which imports pandas (about 0.2 s) in a
    process that has it installed and has not imported it."""
    import pyarrow as pa

    signed = not pa.types.is_unsigned_integer(kind)
    data = pa.py_buffer(value.to_bytes(8, "little", signed=signed))
    return pa.Array.from_buffers(kind, 1, [None, data])[0]


def _int_sum(piece: pa.Array) -> int:
    """The exact sum of an integer array's values (``pc.sum`` wraps at 2**63)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if piece.type.bit_width < 64:
        found = pc.sum(piece.cast(pa.int64())).as_py()
        return int(found or 0)
    unsigned = pa.types.is_unsigned_integer(piece.type)
    shift = _scalar_of(32, piece.type)
    mask = _scalar_of(0xFFFFFFFF, piece.type)
    high = pc.shift_right(piece, shift)  # arithmetic for signed: x = high * 2**32 + low
    low = pc.bit_wise_and(piece, mask)
    wide = pa.uint64() if unsigned else pa.int64()
    high_sum = int(pc.sum(high.cast(wide)).as_py() or 0)
    low_sum = int(pc.sum(low.cast(pa.int64())).as_py() or 0)
    return high_sum * (1 << 32) + low_sum


def _decimal_sum(piece: pa.Array) -> Decimal:
    import pyarrow as pa
    import pyarrow.compute as pc

    scale = piece.type.scale
    zero = Decimal((0, (0,), -scale))
    if piece.type.precision <= 38:  # < 10**38 each: 2**30 of them sum well within 76 digits
        found = pc.sum(piece.cast(pa.decimal256(76, scale))).as_py()
        return found if found is not None else zero
    total = zero
    with localcontext(EXACT):  # wider than DuckDB's decimals: rare, summed in Python
        for value in piece.to_pylist():
            if value is not None:
                total += value
    return total


def _column_total(values: pa.ChunkedArray) -> ColumnTotal:
    """Sum and non-null count of one column (already of the output's type)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(values.type):  # finite values only (see _counted)
        values = pc.filter(values, pc.is_finite(values))
    count = int(pc.count(values).as_py())
    if count == 0:
        return ColumnTotal(sum=None, non_null=0)
    kind = values.type
    total: int | Decimal | float
    if pa.types.is_integer(kind):
        total = sum(_int_sum(p) for p in _pieces(values))
    elif pa.types.is_decimal(kind):
        parts = [_decimal_sum(p) for p in _pieces(values)]
        total = parts[0]
        with localcontext(EXACT):
            for part in parts[1:]:
                total += part
    else:
        total = float(pc.sum(values.cast(pa.float64())).as_py())
    return ColumnTotal(sum=str(total), non_null=count)


def _counted(expression: str, kind: str) -> str:
    """The values of ``expression`` a total sums and counts: for a float column
    its finite values only. NaN and the infinities have no sum that reconciles
    (``inf - inf`` is NaN) and a set-apart row's JSON holds them as null (JSON
    has no NaN), so every part leaves them out alike."""
    return (
        f"CASE WHEN isfinite({expression}) THEN {expression} END" if kind == "float" else expression
    )


def _float(arrow_type: pa.DataType) -> str:
    """The :func:`_counted` kind of an output column's Arrow type."""
    import pyarrow as pa

    return "float" if pa.types.is_floating(arrow_type) else "exact"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_path(name: str) -> str:
    return "'$.\"" + name.replace("'", "''").replace('"', '\\"') + "\"'"


_THREAD = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection for the totals, opened once a
    thread and kept: opening one costs about 20 ms of CPU, more than all of a
    small step's totals. Only ``SELECT`` and ``DESCRIBE`` run on it, over
    tables registered for one query and unregistered after it, so no state is
    carried from one measurement to the next."""
    con: duckdb.DuckDBPyConnection | None = getattr(_THREAD, "con", None)
    if con is None:
        import duckdb

        con = _THREAD.con = duckdb.connect(":memory:")
    return con


class _DuckDB:
    """DuckDB for one measurement, used only if it is needed, with the DuckDB
    types of the output's control columns."""

    def __init__(self, out: pa.Table, columns: list[str]) -> None:
        self._out = out
        self._columns = columns
        self._types: dict[str, str] | None = None

    def types(self) -> dict[str, str]:
        """The DuckDB type of each control column of the output."""
        if self._types is None:
            listed = ", ".join(map(_quoted, self._columns))
            described = _query(self._out.slice(0, 0), f"DESCRIBE SELECT {listed} FROM part")
            self._types = {str(row[0]): str(row[1]) for row in described}
        return self._types

    def totals(self, table: pa.Table, expressions: list[str]) -> list[ColumnTotal]:
        """Sum and count of each expression over ``table`` (registered as ``part``),
        in one query."""
        listed = ", ".join(f"sum({e}), count({e})" for e in expressions)
        (row,) = _query(table, f"SELECT {listed} FROM part")
        return [
            ColumnTotal(sum=None if total is None else str(total), non_null=int(count))
            for total, count in zip(row[0::2], row[1::2], strict=True)
        ]


def _query(table: pa.Table, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` with ``table`` registered as ``part`` for it alone."""
    con = _connection()
    con.register("part", table)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.unregister("part")


_NONE = ColumnTotal(sum=None, non_null=0)


def _apart_totals(
    duck: _DuckDB, table: pa.Table | None, columns: list[str], out: pa.Table
) -> list[ColumnTotal]:
    """The totals of set-apart rows (``row`` JSON), each value ``TRY_CAST`` to the
    output column's DuckDB type (what the row would have held): summed in Python
    when every value is a plain number (:mod:`jobforge.engine.apart_values`),
    else by DuckDB."""
    if table is None or table.num_rows == 0:
        return [_NONE for _ in columns]
    found = apart_values(
        table.column("row").to_pylist(), {c: out.schema.field(c).type for c in columns}
    )
    if found is not None:
        return [_values_total(found[c]) for c in columns]
    types = duck.types()
    expressions = [
        _counted(
            f'TRY_CAST(json_extract_string("row", {_json_path(c)}) AS {types[c]})',
            _float(out.schema.field(c).type),
        )
        for c in columns
    ]
    return duck.totals(table, expressions)


def _values_total(values: list[int | Decimal | float | None]) -> ColumnTotal:
    """Sum and non-null count of values of one type (exact for ints and decimals)."""
    present = [
        v for v in values if v is not None and not (isinstance(v, float) and not math.isfinite(v))
    ]
    if not present:
        return _NONE
    with localcontext(EXACT):
        total = present[0]
        for value in present[1:]:
            total += value  # type: ignore[operator]
    return ColumnTotal(sum=str(total), non_null=len(present))


def _input_total(duck: _DuckDB, ins: pa.Table | None, out: pa.Table, column: str) -> ColumnTotal:
    """The input's totals of ``column`` as the output's type (DuckDB's ``CAST``
    when the types differ, as a promotion would have cast them)."""
    if ins is None or ins.num_rows == 0:
        return _NONE
    if ins.schema.field(column).type == out.schema.field(column).type:
        return _column_total(ins.column(column))
    cast = f"CAST({_quoted(column)} AS {duck.types()[column]})"
    (total,) = duck.totals(ins, [_counted(cast, _float(out.schema.field(column).type))])
    return total


def measure(
    columns: list[str],
    *,
    came_in: list[Path] | None,
    went_out: Path | list[Path],
    quarantined: Path | list[Path] | None = None,
    deduplicated: Path | list[Path] | None = None,
) -> list[ControlTotal]:
    """The totals of ``columns`` in each part (``came_in`` ``None``: gold, which
    records what went out only). Set-apart files hold rows as JSON (``row``);
    each of the three outputs may be a file or its parts (every one is read)."""
    if not columns:
        return []
    outs = went_out if isinstance(went_out, list) else [went_out]  # an output's parts
    schema = literal.read_schema(outs[0])
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise ContractError(
            f"control_totals: {', '.join(map(repr, missing))} not a column of the "
            f"output (columns: {', '.join(schema.names)})"
        )
    kinds = {c: _kind(schema.field(c).type, c, outs[0]) for c in columns}
    out = _read(outs, columns)
    assert out is not None
    found = [
        ControlTotal(
            column=column,
            kind=kinds[column],  # type: ignore[arg-type]
            went_out=_column_total(out.column(column)),
        )
        for column in columns
    ]
    if came_in is None:
        return found
    duck = _DuckDB(out, columns)
    ins = _read(came_in, columns)
    for total in found:
        total.came_in = _input_total(duck, ins, out, total.column)
    for part, given in (("quarantined", quarantined), ("deduplicated", deduplicated)):
        paths = given if isinstance(given, list) else [given] if given is not None else []
        rows = _read([p for p in paths if p.exists()], ["row"])
        apart = _apart_totals(duck, rows, columns, out)
        for total, value in zip(found, apart, strict=True):
            setattr(total, part, value)
    return found


def _value(total: ColumnTotal | None, kind: str) -> Decimal | float:
    text = total.sum if total is not None else None
    if text is None:
        return Decimal(0) if kind == "exact" else 0.0
    return Decimal(text) if kind == "exact" else float(text)


def reconcile(totals: list[ControlTotal], ledger: RowLedger) -> list[ControlTotal]:
    """``totals`` with the filtered part filled in; a :class:`ContractError`
    naming the column and every part when one does not reconcile."""
    with localcontext(EXACT):  # exact sums of wide decimals stay exact
        return [_reconciled(total, ledger) for total in totals]


def _reconciled(total: ControlTotal, ledger: RowLedger) -> ControlTotal:
    if total.came_in is None:  # gold: output totals only
        return total
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
                    for name, p in zip(("out", "quarantined", "deduplicated"), parts, strict=True)
                )
                + f" leaves sum={rest} non_null={count_rest} with no row filtered"
            )
    return total.model_copy(update={"filtered": filtered})


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
    import pyarrow as pa

    from jobforge.engine.cast_sql import SQL_TYPES, cast_value

    parts = pending.written_files(targets.data)
    measured = bronze_columns_measured(columns, schema)
    if not measured or not parts or not inputs:
        return []
    staged_names = data_columns(list(literal.read_schema(inputs[0]).names))
    source_of = {name: src for src, name in bronze_columns(schema, staged_names, table).items()}
    sources = [source_of[c] for c in measured]
    ins = _read(inputs, sources)
    out = _read(parts, measured)
    assert ins is not None and out is not None
    apart = pending.written_files(targets.quarantine) if targets.quarantine else []
    rejected = _read(apart, ["row"])  # a quarantine in parts: every part
    kinds = [_kind(out.schema.field(c).type, c, parts[0]) for c in measured]
    came_in: list[str] = []
    quarantined: list[str] = []
    for column, source, kind in zip(measured, sources, kinds, strict=True):
        spec = schema.cast[column]
        given = ins.schema.field(source).type
        is_text = pa.types.is_string(given) or pa.types.is_large_string(given)
        value_in = (
            cast_value(_quoted(source), spec)
            if is_text
            else f"TRY_CAST({_quoted(source)} AS {SQL_TYPES[spec.type]})"
        )
        came_in.append(_counted(value_in, kind))
        text_apart = f'json_extract_string("row", {_json_path(source)})'
        quarantined.append(_counted(cast_value(text_apart, spec), kind))
    duck = _DuckDB(out, measured)
    came = duck.totals(ins, came_in)  # every column in one query of each part
    rejected_totals = (
        duck.totals(rejected, quarantined)
        if rejected is not None and rejected.num_rows
        else [_NONE for _ in measured]
    )
    found = [
        ControlTotal(
            column=column,
            kind=kind,  # type: ignore[arg-type]
            came_in=came_total,
            went_out=_column_total(out.column(column)),
            quarantined=apart_total,
            deduplicated=_NONE,
        )
        for column, kind, came_total, apart_total in zip(
            measured, kinds, came, rejected_totals, strict=True
        )
    ]
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
    written = pending.written_files(targets.data)
    if not columns or not written:
        return []
    totals = measure(
        columns,
        came_in=None if gold else inputs,
        went_out=written,
        quarantined=pending.written_files(targets.quarantine) if targets.quarantine else None,
        deduplicated=pending.written_files(targets.duplicates) if targets.duplicates else None,
    )
    return reconcile(totals, ledger)
