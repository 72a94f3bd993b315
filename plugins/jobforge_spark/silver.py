"""The silver step in Spark: rules (failures to quarantine), exact
de-duplication (dropped rows to the duplicates file), then arrow transforms
per partition (``mapInArrow``).

De-duplication compares the full key values (Spark groups nulls together and
NaN with NaN, -0.0 with 0.0, as polars does) and keeps the first row in file
order: inputs in the order given, rows by ``_source_row``. The rows written
keep that order.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobforge.plugin import (
    SOURCE_ROW,
    ContractError,
    PendingFiles,
    Rule,
    SilverSpec,
    StepContext,
    StepOutcome,
    StepTargets,
    data_columns,
    duplicate_values,
    filtered_rows,
    split_transforms,
    transform_kind,
    transform_name,
)
from jobforge_spark.arrow import per_partition, worker_errors
from jobforge_spark.columns import (
    all_true,
    any_true,
    carry,
    column,
    first_true,
    json_row,
    quarantine_rows,
    set_apart,
)
from jobforge_spark.output import Scratch, hadoop_path, write_parts

_FILE = "__jf_file"
_RANK = "__jf_rank"
DUPLICATE_OF = "duplicate_of"


def read_in_order(spark: SparkSession, inputs: list[Path]) -> DataFrame:
    """The inputs as one frame with ``__jf_file``, each file's place in ``inputs``."""
    frames = [
        spark.read.parquet(hadoop_path(p)).withColumn(_FILE, F.lit(i)) for i, p in enumerate(inputs)
    ]
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


def rule_columns(rule: Rule) -> str:
    """The columns a rule reads, as the polars executor names them in quarantine."""
    return ", ".join(dict.fromkeys(pl.sql_expr(rule.expression).meta.root_names()))


def write_silver(
    spark: SparkSession,
    scratch: Scratch,
    inputs: list[Path],
    rows_in: int,
    spec: SilverSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    where = f"silver {ctx.table}"
    transforms = spec.resolved_transforms()
    native, arrow = split_transforms(where, transforms)
    if native:
        raise ContractError(
            f"{where}: the spark executor runs arrow transforms only, not "
            f"{transform_name(native[0])} ({transform_kind(native[0])})"
        )
    frame = read_in_order(spark, inputs)
    data = data_columns([c for c in frame.columns if c != _FILE])
    failures: list[tuple[Column, Rule]] = []
    for rule in spec.rules:
        try:
            expression = F.expr(rule.expression)
            frame.select(expression).schema  # noqa: B018  (analysis: names and types)
        except PySparkException as exc:
            raise ContractError(
                f"{where}: rule {rule.id!r} ({rule.expression}) is not valid here: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None
        failures.append((F.coalesce(~expression, F.lit(False)), rule))
    errors = [(f, r) for f, r in failures if r.severity == "error"]
    warns = [(f, r) for f, r in failures if r.severity == "warn"]
    rejected = any_true([f for f, _ in errors])
    any_warn = any_true([f for f, _ in warns])

    if spec.dedupe == "none":
        keys: list[str] = []
    elif spec.dedupe == "row":
        keys = data
    else:
        keys = list(spec.dedupe)
        unknown = [k for k in keys if k not in data]
        if unknown:
            raise ContractError(
                f"{where}: dedupe key(s) {', '.join(map(repr, unknown))} are not columns"
            )
    counters = [F.sum(f.cast("bigint")).alias(r.id) for f, r in failures]
    counters += [
        F.count(F.lit(1)).alias("__jf_total"),
        F.sum((~rejected).cast("bigint")).alias("__jf_accepted"),
        F.sum((~rejected & any_warn).cast("bigint")).alias("__jf_warned"),
    ]
    totals = frame.agg(*counters).collect()[0].asDict()
    if int(totals["__jf_total"]) != rows_in:
        raise ContractError(
            f"{where}: read {totals['__jf_total']} rows from bronze, whose footers say {rows_in}"
        )
    accepted = int(totals["__jf_accepted"] or 0)
    if errors and targets.quarantine is not None and accepted < rows_in:
        rows = quarantine_rows(
            frame.filter(rejected).orderBy(F.col(_FILE), F.col(SOURCE_ROW)),
            layer="silver",
            ctx=ctx,
            rule_id=first_true([(f, r.id) for f, r in errors]),
            column_names=all_true([(f, F.lit(rule_columns(r))) for f, r in errors], "; "),
            message=all_true(
                [(f, F.lit(r.message or f"failed: {r.expression}")) for f, r in errors], "; "
            ),
            row=json_row(data, frame),
        )
        write_parts(rows, targets.quarantine, pending, scratch, where, set_apart=True)
    kept = frame.filter(~rejected)
    order = [F.col(_FILE), F.col(SOURCE_ROW)]
    if keys:
        equal = Window.partitionBy(*[column(k) for k in keys]).orderBy(*order)
        kept = kept.select(
            "*",
            F.row_number().over(equal).alias(_RANK),
            F.first(F.col(SOURCE_ROW)).over(equal).alias(DUPLICATE_OF),
        ).persist()
    try:
        unique = kept.filter(F.col(_RANK) == 1) if keys else kept
        result = unique.orderBy(*order).select(*[column(c) for c in data], *carry(ctx, "silver"))
        if arrow:
            result = per_partition(result, arrow, where)
        with worker_errors():
            write_parts(result, targets.data, pending, scratch, where)
        if keys and targets.duplicates is not None:
            dropped = kept.filter(F.col(_RANK) > 1).orderBy(*order)
            given = {"row": json_row(data, frame), "duplicate_of": F.col(DUPLICATE_OF)}
            rows = dropped.select(*set_apart(duplicate_values(ctx), given))
            write_parts(rows, targets.duplicates, pending, scratch, where, set_apart=True)
    finally:
        if keys:
            kept.unpersist()
    out = pending.row_count(targets.data)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    duplicates = pending.row_count(targets.duplicates) if targets.duplicates else 0
    return StepOutcome(
        rows_in=rows_in,
        rows_out=out,
        rows_quarantined=quarantined,
        rows_deduplicated=duplicates,
        rows_filtered=filtered_rows(where, accepted - duplicates, out, bool(transforms)),
        rows_warned=int(totals["__jf_warned"] or 0),
        rule_counts={r.id: int(totals[r.id] or 0) for _, r in [*errors, *warns]},
        transforms_applied=(
            ([f"dedupe:{'row' if spec.dedupe == 'row' else ','.join(keys)}"] if keys else [])
            + [f"rule:{r.id}:{r.severity}" for r in spec.rules]
            + [f"transform:{transform_name(t)}" for t in transforms]
        ),
    )
