"""Gold SQL: a DuckDB query over the gold inputs, run in a sandbox and written
batch by batch, with row lineage kept; the one place every executor whose
dialect is DuckDB runs gold SQL from (the polars and duckdb executors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.engine import provenance as prov
from jobforge.engine.executor import StepContext
from jobforge.engine.steps import GoldSpec
from jobforge.errors import ContractError, QueryError
from jobforge.storage import literal
from jobforge.storage.hashing import HashingFile

if TYPE_CHECKING:  # DuckDB, pyarrow and the sandbox are imported when a query runs
    import duckdb
    import pyarrow as pa

GOLD_BATCH_ROWS = 122_880
"""Rows per batch (and parquet row group) of a gold SQL result, DuckDB's own row group size."""
WRITE: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
"""How layer files are written, by every executor (zstd level 1: as small as the default
level here, faster)."""
STAGED_WRITE: dict[str, Any] = {
    "compression": "lz4",
    "statistics": {"min": False, "max": False, "distinct_count": False, "null_count": True},
}
"""How staged files are written, by every executor (polars ``sink_parquet`` options): lz4
and null counts only. Staged is all text, read once in full by bronze and rarely queried,
and min/max statistics of long strings are most of its writing cost; null counts stay for
the catalog's profile. polars sets statistics per file, so the provenance columns have no
min/max either; pyarrow's writer cannot keep null counts without min/max, which is why an
executor writes staged through polars (see docs/performance.md)."""


def first_line(exc: BaseException) -> str:
    """DuckDB errors span several lines (candidates, a caret); errors are one line."""
    return str(exc).strip().splitlines()[0]


def run_gold_sql(
    inputs: dict[str, list[Path]], spec: GoldSpec, target: Path | HashingFile, ctx: StepContext
) -> None:
    """Run the gold SQL in a :class:`~jobforge.query.sandbox.Sandbox` and write
    its result to ``target`` (a path, or a hashing sink) from Python, batch by
    batch: the connection itself reads only the inputs' files and cannot write
    any."""
    if spec.sql is None:
        raise ContractError(f"gold {spec.name}: built by a function, not by SQL")
    import duckdb
    import pyarrow as pa

    from jobforge.query.guard import SQLParseError, quote_ident, quote_literal, select_statement
    from jobforge.query.sandbox import Sandbox

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
                else f", [concat({quote_literal(name + ':')}, {prov.BATCH_ID}, ':', "
                f"CAST({prov.SOURCE_ROW} AS VARCHAR))] AS {prov.LINEAGE}"
            )
            con.execute(f"CREATE VIEW {quote_ident(name)} AS SELECT *{lineage} FROM {source}")
        sandbox.lock()
        try:
            result = con.sql(sql)
        except duckdb.Error as exc:
            raise ContractError(f"gold {spec.name}: SQL error: {first_line(exc)}") from None
        names = list(result.columns)
        require_lineage(spec, names)
        types = dict(zip(names, result.types, strict=True))
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        select = ", ".join(_as_written(c, str(types[c])) for c in keep)
        stamp = ctx.processed_at.isoformat()
        write_result(
            con,
            select_statement(
                f"SELECT {select}, 'gold' AS {prov.LAYER}, "
                f"TIMESTAMPTZ {quote_literal(stamp)} AS {prov.PROCESSED_AT} "
                f"FROM (\n{sql}\n) AS gold_result"
            ),
            target,
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
    from jobforge.query.guard import quote_ident

    base = duckdb_type.split("(", 1)[0].strip().lower()
    if base in _CASTS:
        return f"CAST({quote_ident(column)} AS {_CASTS[base]}) AS {quote_ident(column)}"
    if base in ("bignum", "varint"):
        return f"CAST({quote_ident(column)} AS VARCHAR) AS {quote_ident(column)}"
    if _ARRAY.search(duckdb_type):  # a fixed-size array, written as a list before
        listed = _ARRAY.sub("[]", duckdb_type)
        return f"CAST({quote_ident(column)} AS {listed}) AS {quote_ident(column)}"
    return quote_ident(column)


def utc_type(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` with every time zone set to UTC (the instants are the same)."""
    import pyarrow as pa

    if pa.types.is_timestamp(data_type) and data_type.tz is not None:
        return pa.timestamp(data_type.unit, tz="UTC")
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(utc_type(f.type)) for f in data_type.fields])
    if pa.types.is_large_list(data_type):
        return pa.large_list(data_type.value_field.with_type(utc_type(data_type.value_type)))
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(utc_type(data_type.value_type)))
    if pa.types.is_map(data_type):
        return pa.map_(
            data_type.key_field.with_type(utc_type(data_type.key_type)),
            data_type.item_field.with_type(utc_type(data_type.item_type)),
        )
    return data_type


def write_result(
    con: duckdb.DuckDBPyConnection, sql: str, target: Path | HashingFile, spec: GoldSpec
) -> None:
    """Stream the result of ``sql`` into the parquet file ``target`` (zstd level 1)."""
    import pyarrow as pa

    from jobforge.query.export import unwritable

    with con.sql(sql).to_arrow_reader(GOLD_BATCH_ROWS) as reader:
        schema = pa.schema(
            [f.with_type(utc_type(f.type)) for f in reader.schema], metadata=reader.schema.metadata
        )
        try:
            writer = literal.parquet_writer(target, schema, **WRITE)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ContractError(f"gold {spec.name}: {unwritable(schema, exc)}") from None
        with writer:
            for batch in reader:
                writer.write_batch(batch if batch.schema == schema else batch.cast(schema))


def require_lineage(spec: GoldSpec, names: list[str]) -> None:
    if prov.LINEAGE not in names:
        raise ContractError(
            f"gold {spec.name}: the result has no {prov.LINEAGE} column; keep it from the "
            f"inputs (SELECT *, or list_concat(a.{prov.LINEAGE}, b.{prov.LINEAGE}) AS "
            f"{prov.LINEAGE} for a join, flatten(list({prov.LINEAGE})) for GROUP BY)"
        )


SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
    "strings": "VARCHAR[]",
}
_FROM_SQL = {
    "VARCHAR": "string",
    "BIGINT": "int",
    "INTEGER": "int",
    "HUGEINT": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "DOUBLE": "float",
    "FLOAT": "float",
    "BOOLEAN": "bool",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "VARCHAR[]": "strings",
}


def describe_gold(sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """The columns (name -> type) ``sql`` returns over empty inputs with these
    columns, on a connection locked as the gold step's is (one SELECT, no file,
    no setting); raises ``ValueError`` with the reason on one line."""
    import duckdb

    from jobforge.query.guard import quote_ident, select_statement
    from jobforge.query.sandbox import Sandbox

    try:
        select = select_statement(sql)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    sandbox = Sandbox()
    try:
        for table, columns in inputs.items():
            defined = dict(columns)
            defined.setdefault(prov.LINEAGE, "strings")
            body = ", ".join(
                f"{quote_ident(n)} {SQL_TYPES.get(t, 'VARCHAR')}" for n, t in defined.items()
            )
            sandbox.con.execute(f"CREATE TABLE {quote_ident(table)} ({body})")
        con = sandbox.lock()
        try:
            described = con.execute(f"DESCRIBE {select}").fetchall()
        except duckdb.Error as exc:
            raise ValueError(first_line(exc)) from None
    finally:
        sandbox.close()
    return {row[0]: _FROM_SQL.get(str(row[1]), "other") for row in described}
