"""The gold step: a SQL query (DuckDB) or a Python function (polars) over silver
tables, with row lineage kept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from jobforge.engine import provenance as prov
from jobforge.engine.executor import StepContext, StepOutcome, StepTargets
from jobforge.engine.polars.exprs import WRITE, first_line, ident, sql_str, ts
from jobforge.engine.polars.streaming import streaming
from jobforge.engine.steps import GoldSpec
from jobforge.errors import ContractError
from jobforge.storage.pending import PendingFiles


def write_gold(
    inputs: dict[str, list[Path]],
    spec: GoldSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    tmp = pending.temp_for(targets.data)
    if spec.sql is not None:
        columns = _gold_sql(inputs, spec, tmp, ctx)
    else:
        with streaming([p for paths in inputs.values() for p in paths]):
            columns = _gold_python(inputs, spec, tmp, ctx)
    out = pending.row_count(targets.data)
    return StepOutcome(
        rows_in=0,
        rows_out=out,
        transforms_applied=[f"gold:{spec.transform_label}"],
        source_columns=columns,
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
) -> dict[str, list[str]]:
    frames = {n: _with_lineage(n, pl.scan_parquet(p)) for n, p in inputs.items()}
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
    ).sink_parquet(tmp, **WRITE)
    return _same_name_sources(inputs, frames, keep)


def _gold_sql(
    inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
) -> dict[str, list[str]]:
    con = duckdb.connect(config={"threads": 2})
    try:
        input_columns: dict[str, list[str]] = {}
        for name, paths in inputs.items():
            files = "[" + ", ".join(sql_str(str(p)) for p in paths) + "]"
            cols = [
                r[0]
                for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files})").fetchall()
            ]
            input_columns[name] = cols
            lineage = (
                ""
                if prov.LINEAGE in cols
                else f", [concat({sql_str(name + ':')}, {prov.BATCH_ID}, ':', "
                f"CAST({prov.SOURCE_ROW} AS VARCHAR))] AS {prov.LINEAGE}"
            )
            con.execute(
                f"CREATE VIEW {ident(name)} AS SELECT *{lineage} FROM read_parquet({files})"
            )
        try:
            described = con.execute(f"DESCRIBE {spec.sql}").fetchall()
        except duckdb.Error as exc:
            raise ContractError(f"gold {spec.name}: SQL error: {first_line(exc)}") from None
        names = [r[0] for r in described]
        _require_lineage(spec, names)
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        select = ", ".join(ident(c) for c in keep)
        stamp = ctx.processed_at.isoformat()
        con.execute(
            f"COPY (SELECT {select}, 'gold' AS {prov.LAYER}, "
            f"TIMESTAMPTZ {sql_str(stamp)} AS {prov.PROCESSED_AT} "
            f"FROM ({spec.sql}) AS gold_result) "
            f"TO {sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"
        )
    except duckdb.Error as exc:
        raise ContractError(f"gold {spec.name}: SQL error: {first_line(exc)}") from None
    finally:
        con.close()
    return {
        c: [f"{n}.{c}" for n, cols in input_columns.items() if c in cols]
        for c in keep
        if any(c in cols for cols in input_columns.values())
    }


def _same_name_sources(
    inputs: dict[str, list[Path]], frames: dict[str, pl.LazyFrame], columns: list[str]
) -> dict[str, list[str]]:
    known = {n: set(f.collect_schema().names()) for n, f in frames.items()}
    return {
        c: [f"{n}.{c}" for n in inputs if c in known[n]]
        for c in columns
        if any(c in cols for cols in known.values())
    }


def _require_lineage(spec: GoldSpec, names: list[str]) -> None:
    if prov.LINEAGE not in names:
        raise ContractError(
            f"gold {spec.name}: the result has no {prov.LINEAGE} column; keep it from the "
            f"inputs (SELECT *, or list_concat(a.{prov.LINEAGE}, b.{prov.LINEAGE}) AS "
            f"{prov.LINEAGE} for a join, flatten(list({prov.LINEAGE})) for GROUP BY)"
        )
