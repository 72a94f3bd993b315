"""The bronze step in Spark: the schema contract, renames and casts; rows that
do not cast to quarantine, with the polars executor's messages (in source-row
order, as part files like the data)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobforge.plugin import (
    SOURCE_ROW,
    BronzeSchema,
    PendingFiles,
    StepContext,
    StepOutcome,
    StepTargets,
    bronze_columns,
    cast_message_type,
    data_columns,
    typed_casts,
)
from jobforge_spark.casts import cast_value
from jobforge_spark.columns import (
    all_true,
    any_true,
    carry,
    column,
    first_true,
    json_row,
    python_repr,
    quarantine_rows,
)
from jobforge_spark.output import Scratch, hadoop_path, write_parts


def write_bronze(
    spark: SparkSession,
    scratch: Scratch,
    inputs: list[Path],
    rows_in: int,
    schema: BronzeSchema,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    frame = spark.read.parquet(*[hadoop_path(p) for p in inputs])
    types = {f.name: f.dataType for f in frame.schema.fields}
    data = data_columns(list(types))
    final = bronze_columns(schema, data, ctx.table)
    casts = typed_casts(schema, final)
    where = f"bronze {ctx.table}"
    typed: dict[int, tuple[str, str]] = {}
    values = []
    for i, source, spec in casts:
        is_text = isinstance(types[source], StringType)
        value, failed = cast_value(column(source), is_text, spec, f"{where}: cast {final[source]}")
        values += [value.alias(f"__jf_v{i}"), failed.alias(f"__jf_f{i}")]
        typed[i] = (f"__jf_v{i}", f"__jf_f{i}")
    staged = frame.select("*", *values) if values else frame
    flags = [(F.col(typed[i][1]), source, spec) for i, source, spec in casts]
    failed = any_true([flag for flag, _, _ in flags])
    good = staged.filter(~failed).select(
        *[
            (F.col(typed[i][0]) if i in typed else column(source)).alias(name)
            for i, (source, name) in enumerate(final.items())
        ],
        *carry(ctx, "bronze"),
    )
    out = write_parts(good, targets.data, pending, scratch, where)
    if flags and targets.quarantine is not None and out < rows_in:
        quoted = python_repr()
        described = [
            (
                flag,
                F.concat(
                    F.lit(f"{final[src]}: cannot cast "),
                    quoted(column(src).cast("string")),
                    F.lit(" to " + cast_message_type(spec)),
                ),
            )
            for flag, src, spec in flags
        ]
        rows = quarantine_rows(
            staged.filter(failed).orderBy(F.col(SOURCE_ROW)),
            layer="bronze",
            ctx=ctx,
            rule_id=first_true([(flag, f"cast:{final[src]}") for flag, src, _ in flags]),
            column_names=all_true([(flag, F.lit(final[src])) for flag, src, _ in flags], ", "),
            message=all_true(described, "; "),
            row=json_row(data, frame),
        )
        write_parts(rows, targets.quarantine, pending, scratch, where, set_apart=True)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    applied = [f"cast:{final[src]}:{spec.type}" for _, src, spec in flags]
    renames = [f"rename:{s}->{n}" for s, n in final.items() if s != n]
    return StepOutcome(
        rows_in=rows_in,
        rows_out=out,
        rows_quarantined=quarantined,
        transforms_applied=renames + applied,
    )
