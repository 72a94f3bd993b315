"""The gold step in Spark: the gold SQL's Spark translation over the input
tables as temporary views (each with a ``_lineage`` column), row lineage kept."""

from __future__ import annotations

from pathlib import Path

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobforge.plugin import (
    BATCH_ID,
    LAYER,
    LINEAGE,
    PROCESSED_AT,
    SOURCE_ROW,
    ContractError,
    GoldSpec,
    PendingFiles,
    StepContext,
    StepOutcome,
    StepTargets,
)
from jobforge_spark.columns import column, ts
from jobforge_spark.gold_sql import spark_sql
from jobforge_spark.output import Scratch, hadoop_path, write_parts


def write_gold(
    spark: SparkSession,
    scratch: Scratch,
    inputs: dict[str, list[Path]],
    spec: GoldSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    where = f"gold {spec.name}"
    if spec.sql is None:
        raise ContractError(
            f"{where}: the spark executor runs gold SQL only; {spec.transform_label} is a "
            "polars function"
        )
    try:
        sql = spark_sql(spec.sql)
    except ValueError as exc:
        raise ContractError(f"{where}: {exc}") from None
    views: list[str] = []
    try:
        for name, paths in inputs.items():
            frame = spark.read.parquet(*[hadoop_path(p) for p in paths])
            if LINEAGE not in frame.columns:
                key = F.concat(
                    F.lit(f"{name}:"),
                    F.col(BATCH_ID),
                    F.lit(":"),
                    F.col(SOURCE_ROW).cast("string"),
                )
                frame = frame.withColumn(LINEAGE, F.array(key))
            frame.createOrReplaceTempView(name)
            views.append(name)
        result = spark.sql(sql)
        names = result.columns
        if LINEAGE not in names:
            raise ContractError(
                f"{where}: the result has no {LINEAGE} column; keep it from the inputs "
                f"(SELECT *, or a.{LINEAGE} || b.{LINEAGE} AS {LINEAGE} for a "
                f"join, flatten(list({LINEAGE})) for GROUP BY)"
            )
        keep = [c for c in names if c not in (LAYER, PROCESSED_AT)]
        written = result.select(
            *[column(c) for c in keep],
            F.lit("gold").alias(LAYER),
            ts(ctx.processed_at).alias(PROCESSED_AT),
        )
        write_parts(written, targets.data, pending, scratch, where)
    except PySparkException as exc:
        raise ContractError(f"{where}: SQL error: {str(exc).strip().splitlines()[0]}") from None
    finally:
        for name in views:
            spark.catalog.dropTempView(name)
    return StepOutcome(
        rows_in=0,
        rows_out=pending.row_count(targets.data),
        transforms_applied=[f"gold:{spec.transform_label}"],
    )
