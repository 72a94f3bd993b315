"""The gold step: a SQL query (DuckDB) or a Python function (polars) over silver
tables, with row lineage kept."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobforge import provenance as prov
from jobforge.engine.executor import StepContext, StepOutcome, StepTargets
from jobforge.engine.steps import GoldSpec
from jobforge.errors import ContractError, QueryError
from jobforge.query.export import unwritable
from jobforge.query.guard import SQLParseError, select_statement
from jobforge.query.sandbox import Sandbox
from jobforge.storage import literal
from jobforge.storage.pending import PendingFiles
from jobforge_polars.exprs import WRITE, first_line, ident, sql_str, ts
from jobforge_polars.streaming import streaming

GOLD_BATCH_ROWS = 122_880
"""Rows per batch (and parquet row group) of a gold SQL result, DuckDB's own row group size."""
_LOCAL = pafs.LocalFileSystem()


def write_gold(
    inputs: dict[str, list[Path]],
    spec: GoldSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    tmp = pending.temp_for(targets.data)
    if spec.sql is not None:
        _gold_sql(inputs, spec, tmp, ctx)
    else:
        with streaming([p for paths in inputs.values() for p in paths]):
            _gold_python(inputs, spec, tmp, ctx)
    out = pending.row_count(targets.data)
    return StepOutcome(
        rows_in=0,
        rows_out=out,
        transforms_applied=[f"gold:{spec.transform_label}"],
    )


def _with_lineage(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    if prov.LINEAGE in frame.collect_schema().names():
        return frame
    key = pl.concat_str(
        [
            pl.lit(f"{name}:"),
            pl.col(prov.BATCH_ID),
            pl.lit(":"),
            pl.col(prov.SOURCE_ROW).cast(pl.String),
        ]
    )
    return frame.with_columns(pl.concat_list([key]).alias(prov.LINEAGE))


def _gold_python(
    inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
) -> None:
    frames = {n: _with_lineage(n, literal.scan_parquet(p)) for n, p in inputs.items()}
    result = spec.resolved_function()(frames)
    if isinstance(result, pl.DataFrame):
        result = result.lazy()
    if not isinstance(result, pl.LazyFrame):
        raise ContractError(
            f"gold {spec.name}: {spec.transform_label} returned {type(result).__name__}, "
            "expected a polars LazyFrame"
        )
    names = list(result.collect_schema().names())
    _require_lineage(spec, names)
    keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
    result.select(
        *keep, pl.lit("gold").alias(prov.LAYER), ts(ctx.processed_at).alias(prov.PROCESSED_AT)
    ).sink_parquet(literal.text(tmp), **WRITE)


def _gold_sql(inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext) -> None:
    """Run the gold SQL in a :class:`~jobforge.query.sandbox.Sandbox` and write
    its result to ``tmp`` from Python, batch by batch: the connection itself
    reads only the inputs' files and cannot write any."""
    try:
        sql = select_statement(spec.sql)
    except SQLParseError as exc:
        raise ContractError(f"gold {spec.name}: SQL error: {exc}") from None
    except QueryError as exc:
        raise ContractError(f"gold {spec.name}: {exc}") from None
    sandbox = Sandbox({"threads": 2})
    con = sandbox.con
    try:
        for name, paths in inputs.items():
            source = sandbox.parquet(paths)
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            lineage = (
                ""
                if prov.LINEAGE in cols
                else f", [concat({sql_str(name + ':')}, {prov.BATCH_ID}, ':', "
                f"CAST({prov.SOURCE_ROW} AS VARCHAR))] AS {prov.LINEAGE}"
            )
            con.execute(f"CREATE VIEW {ident(name)} AS SELECT *{lineage} FROM {source}")
        sandbox.lock()
        try:
            result = con.sql(sql)
        except duckdb.Error as exc:
            raise ContractError(f"gold {spec.name}: SQL error: {first_line(exc)}") from None
        names = list(result.columns)
        _require_lineage(spec, names)
        types = dict(zip(names, result.types, strict=True))
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        select = ", ".join(_as_written(c, str(types[c])) for c in keep)
        stamp = ctx.processed_at.isoformat()
        _write(
            con,
            select_statement(
                f"SELECT {select}, 'gold' AS {prov.LAYER}, "
                f"TIMESTAMPTZ {sql_str(stamp)} AS {prov.PROCESSED_AT} "
                f"FROM (\n{sql}\n) AS gold_result"
            ),
            tmp,
            spec,
        )
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise ContractError(f"gold {spec.name}: SQL error: {first_line(exc)}") from None
    finally:
        sandbox.close()


# DuckDB types whose Arrow form differs from what DuckDB's own parquet writer
# wrote for them before gold results were written from Python: cast so that a
# gold column keeps its type (HUGEINT, e.g. the SUM of BIGINTs, as DOUBLE).
_CASTS = {"hugeint": "DOUBLE", "uhugeint": "DOUBLE", "enum": "VARCHAR", "bit": "VARCHAR"}
_ARRAY = re.compile(r"\[\d+\]$")


def _as_written(column: str, duckdb_type: str) -> str:
    base = duckdb_type.split("(", 1)[0].strip().lower()
    if base in _CASTS:
        return f"CAST({ident(column)} AS {_CASTS[base]}) AS {ident(column)}"
    if base in ("bignum", "varint"):
        return f"CAST({ident(column)} AS VARCHAR) AS {ident(column)}"
    if _ARRAY.search(duckdb_type):  # a fixed-size array, written as a list before
        return f"CAST({ident(column)} AS {_ARRAY.sub('[]', duckdb_type)}) AS {ident(column)}"
    return ident(column)


def _utc(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` with every time zone set to UTC (the instants are the same)."""
    if pa.types.is_timestamp(data_type) and data_type.tz is not None:
        return pa.timestamp(data_type.unit, tz="UTC")
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_utc(f.type)) for f in data_type.fields])
    if pa.types.is_large_list(data_type):
        return pa.large_list(data_type.value_field.with_type(_utc(data_type.value_type)))
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_utc(data_type.value_type)))
    if pa.types.is_map(data_type):
        return pa.map_(
            data_type.key_field.with_type(_utc(data_type.key_type)),
            data_type.item_field.with_type(_utc(data_type.item_type)),
        )
    return data_type


def _write(con: duckdb.DuckDBPyConnection, sql: str, tmp: Path, spec: GoldSpec) -> None:
    """Stream the result of ``sql`` into the parquet file ``tmp`` (zstd level 1)."""
    with con.sql(sql).to_arrow_reader(GOLD_BATCH_ROWS) as reader:
        schema = pa.schema(
            [f.with_type(_utc(f.type)) for f in reader.schema], metadata=reader.schema.metadata
        )
        try:
            writer = pq.ParquetWriter(str(tmp), schema, filesystem=_LOCAL, **WRITE)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ContractError(f"gold {spec.name}: {unwritable(schema, exc)}") from None
        with writer:
            for batch in reader:
                writer.write_batch(batch if batch.schema == schema else batch.cast(schema))


def _require_lineage(spec: GoldSpec, names: list[str]) -> None:
    if prov.LINEAGE not in names:
        raise ContractError(
            f"gold {spec.name}: the result has no {prov.LINEAGE} column; keep it from the "
            f"inputs (SELECT *, or list_concat(a.{prov.LINEAGE}, b.{prov.LINEAGE}) AS "
            f"{prov.LINEAGE} for a join, flatten(list({prov.LINEAGE})) for GROUP BY)"
        )
