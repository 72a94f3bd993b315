"""The gold step in Spark: the gold SQL's Spark translation over the input
tables as temporary views (each with a ``_lineage`` column), row lineage kept."""

from __future__ import annotations

from pathlib import Path

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobforge.engine import provenance as prov
from jobforge.engine.executor import StepContext, StepOutcome, StepTargets
from jobforge.engine.steps import GoldSpec
from jobforge.errors import ContractError
from jobforge.storage.pending import PendingFiles
from jobforge_spark.columns import column, ts
from jobforge_spark.gold_sql import spark_sql
from jobforge_spark.output import Scratch, hadoop_path, write_one_file


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
            if prov.LINEAGE not in frame.columns:
                key = F.concat(
                    F.lit(f"{name}:"),
                    F.col(prov.BATCH_ID),
                    F.lit(":"),
                    F.col(prov.SOURCE_ROW).cast("string"),
                )
                frame = frame.withColumn(prov.LINEAGE, F.array(key))
            frame.createOrReplaceTempView(name)
            views.append(name)
        result = spark.sql(sql)
        names = result.columns
        if prov.LINEAGE not in names:
            raise ContractError(
                f"{where}: the result has no {prov.LINEAGE} column; keep it from the inputs "
                f"(SELECT *, or a.{prov.LINEAGE} || b.{prov.LINEAGE} AS {prov.LINEAGE} for a "
                f"join, flatten(list({prov.LINEAGE})) for GROUP BY)"
            )
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        written = result.select(
            *[column(c) for c in keep],
            F.lit("gold").alias(prov.LAYER),
            ts(ctx.processed_at).alias(prov.PROCESSED_AT),
        )
        write_one_file(written, pending.temp_for(targets.data), scratch, where)
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
