"""A Spark version is Spark's part files themselves: with shuffle partitions
> 1 a silver version (ordered by source row: a range shuffle) is several files,
no Spark side file is in a layer folder, the rows read in file order are in
source-row order and equal the polars run cell for cell, and ``verify`` holds
(Spark local[2], so slow). The same under ``[storage] format = "delta"``: one
Delta commit adds every part, and ``verify`` names a flipped byte in one part."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from jobforge.audit.verify import verify
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, SilverSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal

from .engine_support import write_csv

pytestmark = pytest.mark.slow

ROWS = 60
SPARK = {
    "spark": {
        "master": "local[2]",
        # no coalescing of small shuffle partitions: 60 rows stay in 3 partitions
        "conf": {"spark.sql.shuffle.partitions": "3", "spark.sql.adaptive.enabled": "false"},
    }
}
RUN_TIMES = ("_ingested_at", "_processed_at", "_batch_id", "_source_file", "_lineage")


def _run(tmp_path: Path, executor: str, storage_format: str = "parquet") -> PipelineEngine:
    # every fifth row repeats the row before it (its code and n): a duplicate
    rows = [[f"c{i - (i % 5 == 0)}", str(i - (i % 5 == 0))] for i in range(1, ROWS + 1)]
    source = write_csv(tmp_path / f"{executor}.csv", ["code", "n"], rows)
    config = PipelineConfig(
        tmp_path / executor,
        executor=executor,
        plugin_settings=SPARK if executor == "spark" else {},
        storage_format=storage_format,
    )
    engine = PipelineEngine(config)
    engine.ingest(source, "t")
    engine.promote_to_bronze("t", BronzeSchema(cast={"n": CastSpec(type="int")}))
    engine.promote_to_silver("t", SilverSpec(dedupe="row"))
    return engine


def _rows(engine: PipelineEngine, layer: str) -> tuple[list[Path], pl.DataFrame]:
    current = engine.current(layer, "t")
    assert current is not None
    files = engine.config.store.files(layer, "t", current)
    frame = literal.scan_parquet(files).collect()
    return files, frame.drop([c for c in RUN_TIMES if c in frame.columns])


@pytest.mark.parametrize("storage_format", ["parquet", "delta"])
def test_a_spark_version_is_its_part_files_in_source_order_equal_to_polars(
    tmp_path: Path, storage_format: str
) -> None:
    spark = _run(tmp_path, "spark", storage_format)
    polars = _run(tmp_path, "polars", storage_format)
    files, silver = _rows(spark, "silver")
    assert len(files) > 1
    assert all(".part-" in f.name for f in files)
    # read in file order, the rows are in source-row order
    kept = [i for i in range(1, ROWS + 1) if i % 5 != 0]
    assert silver.get_column("_source_row").to_list() == kept
    assert silver.get_column("n").to_list() == [i - (i % 5 == 0) for i in kept]
    for layer in ("bronze", "silver"):
        _, by_polars = _rows(polars, layer)
        _, by_spark = _rows(spark, layer)
        assert by_spark.schema == by_polars.schema
        assert by_spark.rows() == by_polars.rows()
    # no Spark side file anywhere in the data root (_SUCCESS, .crc, _temporary)
    names = {p.name for p in (tmp_path / "spark").rglob("*")}
    assert not {n for n in names if n == "_SUCCESS" or n.endswith(".crc") or n == "_temporary"}
    current = spark.current("silver", "t")
    assert current is not None
    assert current.batches[0].rows == len(kept)
    assert verify(spark.config).findings == []
    if storage_format == "delta":
        _delta_holds_every_part(spark, tmp_path / "spark", files, len(kept))


def _delta_holds_every_part(
    spark: PipelineEngine, data: Path, files: list[Path], rows: int
) -> None:
    """Silver's Delta table: one commit (with jobforge's batch and record ids)
    added exactly the version's parts; another engine reads the rows in full;
    a flipped byte in one part is named by ``verify``, alone."""
    current = spark.current("silver", "t")
    assert current is not None
    folder = spark.config.store.table_dir("silver", "t")
    table = DeltaTable(str(folder))
    assert sorted(u.rsplit("/", 1)[-1] for u in table.file_uris()) == sorted(f.name for f in files)
    (commit,) = [c for c in table.history() if "jobforge.version" in c]
    assert commit["jobforge.batch_id"] == current.batches[0].batch_id
    assert commit["jobforge.record_id"] == current.record_id
    assert pl.read_delta(str(folder)).height == rows
    part = files[1]
    content = bytearray(part.read_bytes())
    content[len(content) // 2] ^= 0x01
    part.write_bytes(bytes(content))
    assert [(f.kind, f.table, f.subject) for f in verify(spark.config).findings] == [
        ("changed", "t", part.relative_to(data).as_posix())
    ]


def test_a_run_on_a_spark_context_the_process_already_runs_takes_its_own_settings(
    tmp_path: Path,
) -> None:
    """A notebook's SparkContext is running (its own shuffle settings: 1 partition,
    adaptive execution on). A jobforge run shares it on a session of its own, with
    the run's runtime settings (3 partitions, no coalescing): silver is several
    parts. The owner's session keeps its settings, and the context keeps running."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    owned = SparkContext._active_spark_context is None
    conf = SparkConf().setMaster("local[2]").setAppName("a notebook")
    conf.set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1")
    conf.set("spark.driver.bindAddress", "127.0.0.1")
    context = SparkContext.getOrCreate(conf)
    notebook = SparkSession(context)
    notebook.conf.set("spark.sql.shuffle.partitions", "1")
    notebook.conf.set("spark.sql.adaptive.enabled", "true")
    try:
        spark = _run(tmp_path, "spark")
        files, silver = _rows(spark, "silver")
        assert len(files) > 1
        assert silver.height == ROWS - ROWS // 5
        assert notebook.conf.get("spark.sql.shuffle.partitions") == "1"
        assert notebook.conf.get("spark.sql.adaptive.enabled") == "true"
        assert SparkContext._active_spark_context is context
    finally:
        if owned:
            context.stop()
