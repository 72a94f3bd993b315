"""The bundled execution engine: polars lazy frames and streaming parquet sinks.

Each step is one lazy plan whose outputs (data, quarantine, duplicates, a few
counters) are sunk together with ``pl.collect_all``, so every input is read
once. Row counts are taken from the written files' parquet footers.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from jobforge.engine import provenance as prov
from jobforge.engine.executor import (
    DUPLICATE_COLUMNS,
    QUARANTINE_COLUMNS,
    StagedContext,
    StepContext,
    StepOutcome,
    StepTargets,
)
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, SilverSpec, transform_name
from jobforge.errors import ContractError
from jobforge.sources.base import ReadResult
from jobforge.storage.pending import PendingFiles

UTC_US = pl.Datetime("us", "UTC")
_SINK = {"compression": "zstd", "lazy": True}


def _ts(value: object) -> pl.Expr:
    return pl.lit(value, dtype=UTC_US)


def snake_case(name: str) -> str:
    """``"Code - NOC 2021 V1.0"`` -> ``"code_noc_2021_v1_0"``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    name = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return name or "column"


def _json_row(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit("{}")
    return pl.struct([pl.col(c) for c in columns]).struct.json_encode()


def _first_true(flags: list[tuple[pl.Expr, str]]) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(flag).then(pl.lit(label)) for flag, label in flags])


def _all_true(flags: list[tuple[pl.Expr, pl.Expr]], separator: str) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(
        [pl.when(flag).then(text) for flag, text in flags], separator=separator, ignore_nulls=True
    )


def _quarantine_frame(
    frame: pl.LazyFrame,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: pl.Expr,
    column: pl.Expr,
    message: pl.Expr,
    row: pl.Expr,
    severity: str = "error",
) -> pl.LazyFrame:
    return frame.select(
        pl.col(prov.SOURCE_FILE),
        pl.col(prov.INGESTED_AT),
        pl.col(prov.BATCH_ID),
        pl.col(prov.SOURCE_ROW).cast(pl.Int64),
        pl.lit(layer).alias("layer"),
        pl.lit(ctx.table).alias("table_name"),
        rule_id.cast(pl.String).alias("rule_id"),
        column.cast(pl.String).alias("column"),
        message.cast(pl.String).alias("message"),
        pl.lit(severity).alias("severity"),
        row.alias("row"),
        _ts(ctx.processed_at).alias("quarantined_at"),
    ).select(QUARANTINE_COLUMNS)


def _cast_expr(raw: pl.Expr, spec: CastSpec, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, text considered) for one column; the value is null where the
    text does not parse."""
    if dtype != pl.String:
        target = {
            "string": pl.String,
            "int": pl.Int64,
            "float": pl.Float64,
            "bool": pl.Boolean,
            "date": pl.Date,
            "datetime": UTC_US,
        }[spec.type]
        return raw.cast(target, strict=False), raw
    text = raw.str.strip_chars()
    empty = text == ""
    if spec.null_values:
        empty = empty | text.is_in(list(spec.null_values))
    text = pl.when(empty).then(None).otherwise(text)
    if spec.type == "string":
        return raw, pl.lit(None, dtype=pl.String)
    if spec.type in ("int", "float"):
        number = text
        if spec.thousands:
            number = number.str.replace_all(spec.thousands, "", literal=True)
        if spec.decimal != ".":
            number = number.str.replace_all(spec.decimal, ".", literal=True)
        target = pl.Int64 if spec.type == "int" else pl.Float64
        return number.cast(target, strict=False), text
    if spec.type == "bool":
        lower = text.str.to_lowercase()
        value = (
            pl.when(lower.is_in(list(spec.true_values)))
            .then(True)
            .when(lower.is_in(list(spec.false_values)))
            .then(False)
            .otherwise(None)
        )
        return value, text
    if spec.type == "date":
        return text.str.strptime(pl.Date, spec.format or "%Y-%m-%d", strict=False), text
    value = text.str.to_datetime(spec.format, strict=False, time_unit="us")
    return value, text


class PolarsExecutor:
    """Runs layer steps as polars lazy plans with streaming parquet sinks."""

    name = "polars"

    # -- staged --------------------------------------------------------------------
    def write_staged(
        self, read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
    ) -> StepOutcome:
        names = read.frame.collect_schema().names()
        columns = [c for c in names if c != prov.SOURCE_ROW]
        clash = sorted(set(columns) & prov.ALL_COLUMNS)
        if clash:
            raise ContractError(
                f"{ctx.source_file}: source column(s) {', '.join(clash)} use names reserved "
                "for provenance"
            )
        stamps = [
            pl.lit(ctx.source_file).alias(prov.SOURCE_FILE),
            _ts(ctx.ingested_at).alias(prov.INGESTED_AT),
            pl.lit(ctx.batch_id).alias(prov.BATCH_ID),
            pl.lit("staged").alias(prov.LAYER),
        ]
        # Source columns by position: pl.col("*") or pl.col("^a.*$") would be
        # read as a wildcard or a regex, and a source header may be anything.
        positions = [i for i, c in enumerate(names) if c != prov.SOURCE_ROW]
        data = [pl.nth(positions)] if positions else []
        staged = read.frame.select(*data, *stamps, pl.col(prov.SOURCE_ROW).cast(pl.Int64))
        queries = [staged.sink_parquet(pending.temp_for(targets.data), **_SINK)]
        if read.rejected is not None and targets.quarantine is not None:
            rejected = read.rejected.with_columns(*stamps)
            queries.append(
                _quarantine_frame(
                    rejected,
                    layer="staged",
                    ctx=ctx,
                    rule_id=pl.col("rule_id"),
                    column=pl.lit(None, dtype=pl.String),
                    message=pl.col("message"),
                    row=pl.col("row"),
                ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_SINK)
            )
        pl.collect_all(queries)
        out = pending.row_count(targets.data)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        return StepOutcome(
            rows_in=out + quarantined,
            rows_out=out,
            rows_quarantined=quarantined,
            source_columns={c: [c] for c in columns},
        )

    # -- bronze ----------------------------------------------------------------------
    def write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        frame = pl.scan_parquet(inputs)
        types = frame.collect_schema()
        data = prov.data_columns(list(types.names()))
        missing = [c for c in [*schema.required, *schema.rename] if c not in data]
        if missing:
            raise ContractError(
                f"bronze {ctx.table}: missing source column(s) "
                f"{', '.join(repr(m) for m in dict.fromkeys(missing))}"
            )
        if schema.on_new_column == "fail":
            declared = schema.declared_source_columns()
            new = [c for c in data if c not in declared]
            if new:
                raise ContractError(
                    f"bronze {ctx.table}: new source column(s) {', '.join(map(repr, new))} "
                    "not declared (on_new_column = fail)"
                )
        final = {c: schema.rename.get(c, c) for c in data}
        if schema.snake_case:
            final = {c: snake_case(n) for c, n in final.items()}
        seen: dict[str, str] = {}
        for source, name in final.items():
            if name in seen:
                raise ContractError(
                    f"bronze {ctx.table}: columns {seen[name]!r} and {source!r} both "
                    f"become {name!r}"
                )
            seen[name] = source
        unknown = [c for c in schema.cast if c not in seen]
        if unknown:
            raise ContractError(
                f"bronze {ctx.table}: cast names unknown column(s) {', '.join(map(repr, unknown))}"
            )
        values: list[pl.Expr] = []
        flags: list[tuple[str, str, CastSpec]] = []
        for index, (source, name) in enumerate(final.items()):
            spec = schema.cast.get(name)
            if spec is None or spec.type == "string":
                values.append(pl.col(source).alias(f"__jf_v{index}"))
                continue
            value, text = _cast_expr(pl.col(source), spec, types[source])
            values.append(value.alias(f"__jf_v{index}"))
            values.append((text.is_not_null() & value.is_null()).alias(f"__jf_f{index}"))
            flags.append((f"__jf_f{index}", source, spec))
        staged = frame.with_columns(values)
        failed = pl.any_horizontal([pl.col(f) for f, _, _ in flags]) if flags else pl.lit(False)
        good = staged.filter(~failed).select(
            *[pl.col(f"__jf_v{i}").alias(name) for i, name in enumerate(final.values())],
            *self._carry(ctx, "bronze"),
        )
        queries = [good.sink_parquet(pending.temp_for(targets.data), **_SINK)]
        if flags and targets.quarantine is not None:
            bad = staged.filter(failed)
            described = [
                (
                    pl.col(f),
                    pl.format(
                        "{}: cannot cast {} to {}",
                        pl.lit(final[src]),
                        pl.col(src)
                        .cast(pl.String)
                        .map_batches(
                            lambda s: s.map_elements(repr, return_dtype=pl.String),
                            return_dtype=pl.String,
                        ),
                        pl.lit(spec.type + (f" ({spec.format})" if spec.format else "")),
                    ),
                )
                for f, src, spec in flags
            ]
            queries.append(
                _quarantine_frame(
                    bad,
                    layer="bronze",
                    ctx=ctx,
                    rule_id=_first_true([(pl.col(f), f"cast:{final[src]}") for f, src, _ in flags]),
                    column=_all_true(
                        [(pl.col(f), pl.lit(final[src])) for f, src, _ in flags], ", "
                    ),
                    message=_all_true(described, "; "),
                    row=_json_row(data),
                ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_SINK)
            )
        pl.collect_all(queries)
        out = pending.row_count(targets.data)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        casts = [f"cast:{final[src]}:{spec.type}" for _, src, spec in flags]
        renames = [f"rename:{s}->{n}" for s, n in final.items() if s != n]
        return StepOutcome(
            rows_in=rows_in,
            rows_out=out,
            rows_quarantined=quarantined,
            transforms_applied=renames + casts,
            source_columns={n: [s] for s, n in final.items()},
        )

    @staticmethod
    def _carry(ctx: StepContext, layer: str) -> list[pl.Expr]:
        return [
            pl.col(prov.SOURCE_FILE),
            pl.col(prov.INGESTED_AT),
            pl.col(prov.BATCH_ID),
            pl.lit(layer).alias(prov.LAYER),
            pl.col(prov.SOURCE_ROW),
            _ts(ctx.processed_at).alias(prov.PROCESSED_AT),
        ]

    # -- silver ----------------------------------------------------------------------
    def write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        frame = pl.scan_parquet(inputs)
        names = list(frame.collect_schema().names())
        data = prov.data_columns(names)
        rule_flags: list[tuple[str, pl.Expr]] = []
        for index, rule in enumerate(spec.rules):
            try:
                expr = pl.sql_expr(rule.expression)
                frame.select(expr).collect_schema()
            except Exception as exc:
                raise ContractError(
                    f"silver {ctx.table}: rule {rule.id!r} ({rule.expression}) is not valid "
                    f"here: {str(exc).splitlines()[0]}"
                ) from None
            rule_flags.append((f"__jf_r{index}", (~expr).fill_null(False)))
        flagged = frame.with_columns([e.alias(n) for n, e in rule_flags]) if rule_flags else frame
        errors = [
            (n, r)
            for (n, _), r in zip(rule_flags, spec.rules, strict=True)
            if r.severity == "error"
        ]
        warns = [
            (n, r) for (n, _), r in zip(rule_flags, spec.rules, strict=True) if r.severity == "warn"
        ]
        rejected = pl.any_horizontal([pl.col(n) for n, _ in errors]) if errors else pl.lit(False)
        any_warn = pl.any_horizontal([pl.col(n) for n, _ in warns]) if warns else pl.lit(False)

        if spec.dedupe == "none":
            keys: list[str] = []
        elif spec.dedupe == "row":
            keys = data
        else:
            keys = list(spec.dedupe)
            unknown = [k for k in keys if k not in data]
            if unknown:
                raise ContractError(
                    f"silver {ctx.table}: dedupe key(s) {', '.join(map(repr, unknown))} "
                    "are not columns"
                )
        kept = flagged.filter(~rejected)
        if keys:
            kept = kept.with_columns((~pl.struct(keys).is_first_distinct()).alias("__jf_dup"))
            unique = kept.filter(~pl.col("__jf_dup"))
        else:
            unique = kept
        transforms = spec.resolved_transforms()
        result = unique.select(*[pl.col(c) for c in data], *self._carry(ctx, "silver"))
        for transform in transforms:
            result = transform(result)
            if not isinstance(result, pl.LazyFrame):
                raise ContractError(
                    f"silver {ctx.table}: transform {transform_name(transform)} returned "
                    f"{type(result).__name__}, expected a polars LazyFrame"
                )
        lost = [c for c in prov.LAYER_COLUMNS if c not in result.collect_schema().names()]
        if lost:
            raise ContractError(
                f"silver {ctx.table}: transforms dropped provenance column(s) {', '.join(lost)}"
            )
        queries: list[pl.LazyFrame] = [result.sink_parquet(pending.temp_for(targets.data), **_SINK)]
        if errors and targets.quarantine is not None:
            queries.append(
                _quarantine_frame(
                    flagged.filter(rejected),
                    layer="silver",
                    ctx=ctx,
                    rule_id=_first_true([(pl.col(n), r.id) for n, r in errors]),
                    column=_all_true(
                        [
                            (
                                pl.col(n),
                                pl.lit(", ".join(pl.sql_expr(r.expression).meta.root_names())),
                            )
                            for n, r in errors
                        ],
                        "; ",
                    ),
                    message=_all_true(
                        [
                            (pl.col(n), pl.lit(r.message or f"failed: {r.expression}"))
                            for n, r in errors
                        ],
                        "; ",
                    ),
                    row=_json_row(data),
                ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_SINK)
            )
        if keys and targets.duplicates is not None:
            queries.append(
                kept.filter(pl.col("__jf_dup"))
                .select(
                    pl.col(prov.SOURCE_FILE),
                    pl.col(prov.INGESTED_AT),
                    pl.col(prov.BATCH_ID),
                    pl.col(prov.SOURCE_ROW),
                    pl.lit(ctx.table).alias("table_name"),
                    _json_row(data).alias("row"),
                    _ts(ctx.processed_at).alias("deduplicated_at"),
                )
                .select(DUPLICATE_COLUMNS)
                .sink_parquet(pending.temp_for(targets.duplicates, drop_if_empty=True), **_SINK)
            )
        counters = [pl.col(n).sum().alias(r.id) for n, r in [*errors, *warns]]
        counters += [
            pl.len().alias("__jf_total"),
            # len - rejected, not (~rejected).sum(): without error rules `rejected`
            # is a literal, and the sum of a literal is not a row count.
            (pl.len() - rejected.cast(pl.Int64).sum()).alias("__jf_accepted"),
            (~rejected & any_warn).sum().alias("__jf_warned"),
        ]
        queries.append(flagged.select(counters))
        totals = pl.collect_all(queries)[-1].row(0, named=True)
        if int(totals["__jf_total"]) != rows_in:
            raise ContractError(
                f"silver {ctx.table}: read {totals['__jf_total']} rows from bronze, whose "
                f"footers say {rows_in}"
            )
        out = pending.row_count(targets.data)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        duplicates = pending.row_count(targets.duplicates) if targets.duplicates else 0
        unique_rows = int(totals["__jf_accepted"]) - duplicates
        filtered = unique_rows - out if transforms else 0
        if filtered < 0:
            raise ContractError(
                f"silver {ctx.table}: transforms turned {unique_rows} rows into {out}; a silver "
                "transform may drop or change rows but not add them (build new rows in gold)"
            )
        return StepOutcome(
            rows_in=rows_in,
            rows_out=out,
            rows_quarantined=quarantined,
            rows_deduplicated=duplicates,
            rows_filtered=filtered,
            rows_warned=int(totals["__jf_warned"] or 0),
            rule_counts={r.id: int(totals[r.id] or 0) for _, r in [*errors, *warns]},
            transforms_applied=(
                ([f"dedupe:{'row' if spec.dedupe == 'row' else ','.join(keys)}"] if keys else [])
                + [f"rule:{r.id}:{r.severity}" for r in spec.rules]
                + [f"transform:{transform_name(t)}" for t in transforms]
            ),
            source_columns={c: [c] for c in data},
        )

    # -- gold -------------------------------------------------------------------------
    def write_gold(
        self,
        inputs: dict[str, list[Path]],
        spec: GoldSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        tmp = pending.temp_for(targets.data)
        if spec.sql is not None:
            columns = self._gold_sql(inputs, spec, tmp, ctx)
        else:
            columns = self._gold_python(inputs, spec, tmp, ctx)
        out = pending.row_count(targets.data)
        return StepOutcome(
            rows_in=0,
            rows_out=out,
            transforms_applied=[f"gold:{spec.transform_label}"],
            source_columns=columns,
        )

    @staticmethod
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
        self, inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
    ) -> dict[str, list[str]]:
        frames = {n: self._with_lineage(n, pl.scan_parquet(p)) for n, p in inputs.items()}
        result = spec.resolved_function()(frames)
        if isinstance(result, pl.DataFrame):
            result = result.lazy()
        if not isinstance(result, pl.LazyFrame):
            raise ContractError(
                f"gold {spec.name}: {spec.transform_label} returned {type(result).__name__}, "
                "expected a polars LazyFrame"
            )
        names = list(result.collect_schema().names())
        self._require_lineage(spec, names)
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        result.select(
            *keep, pl.lit("gold").alias(prov.LAYER), _ts(ctx.processed_at).alias(prov.PROCESSED_AT)
        ).sink_parquet(tmp, compression="zstd")
        return self._same_name_sources(inputs, frames, keep)

    def _gold_sql(
        self, inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
    ) -> dict[str, list[str]]:
        con = duckdb.connect(config={"threads": 2})
        try:
            input_columns: dict[str, list[str]] = {}
            for name, paths in inputs.items():
                files = "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"
                cols = [
                    r[0]
                    for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files})").fetchall()
                ]
                input_columns[name] = cols
                lineage = (
                    ""
                    if prov.LINEAGE in cols
                    else f", [concat({_sql_str(name + ':')}, {prov.BATCH_ID}, ':', "
                    f"CAST({prov.SOURCE_ROW} AS VARCHAR))] AS {prov.LINEAGE}"
                )
                con.execute(
                    f"CREATE VIEW {_ident(name)} AS SELECT *{lineage} FROM read_parquet({files})"
                )
            try:
                described = con.execute(f"DESCRIBE {spec.sql}").fetchall()
            except duckdb.Error as exc:
                raise ContractError(f"gold {spec.name}: SQL error: {_first_line(exc)}") from None
            names = [r[0] for r in described]
            self._require_lineage(spec, names)
            keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
            select = ", ".join(_ident(c) for c in keep)
            stamp = ctx.processed_at.isoformat()
            con.execute(
                f"COPY (SELECT {select}, 'gold' AS {prov.LAYER}, "
                f"TIMESTAMPTZ {_sql_str(stamp)} AS {prov.PROCESSED_AT} "
                f"FROM ({spec.sql}) AS gold_result) "
                f"TO {_sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
            )
        except duckdb.Error as exc:
            raise ContractError(f"gold {spec.name}: SQL error: {_first_line(exc)}") from None
        finally:
            con.close()
        return {
            c: [f"{n}.{c}" for n, cols in input_columns.items() if c in cols]
            for c in keep
            if any(c in cols for cols in input_columns.values())
        }

    @staticmethod
    def _same_name_sources(
        inputs: dict[str, list[Path]], frames: dict[str, pl.LazyFrame], columns: list[str]
    ) -> dict[str, list[str]]:
        known = {n: set(f.collect_schema().names()) for n, f in frames.items()}
        return {
            c: [f"{n}.{c}" for n in inputs if c in known[n]]
            for c in columns
            if any(c in cols for cols in known.values())
        }

    @staticmethod
    def _require_lineage(spec: GoldSpec, names: list[str]) -> None:
        if prov.LINEAGE not in names:
            raise ContractError(
                f"gold {spec.name}: the result has no {prov.LINEAGE} column; keep it from the "
                f"inputs (SELECT *, or list_concat(a.{prov.LINEAGE}, b.{prov.LINEAGE}) AS "
                f"{prov.LINEAGE} for a join, flatten(list({prov.LINEAGE})) for GROUP BY)"
            )


def _first_line(exc: BaseException) -> str:
    """DuckDB errors span several lines (candidates, a caret); errors are one line."""
    return str(exc).strip().splitlines()[0]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
