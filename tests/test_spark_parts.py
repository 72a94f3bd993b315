"""A Spark version is Spark's part files themselves: with shuffle partitions
> 1 a silver version (ordered by source row: a range shuffle) is several files,
no Spark side file is in a layer folder, the rows read in file order are in
source-row order and equal the polars run cell for cell, and ``verify`` holds
(Spark local[2], so slow). The same under ``[storage] format = "delta"``: one
Delta commit adds every part, and ``verify`` names a flipped byte in one part.
Rows set apart (quarantine of bronze and silver, duplicates) are part files
too, in source-row order, equal to the polars run cell for cell, counted in
full by the store, ``status`` and the query views, one digest per part."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from jobforge import hookimpl
from jobforge.audit.verify import verify
from jobforge.engine.events import TransitionEvent
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.results import PromotionResult
from jobforge.engine.status import warehouse_status
from jobforge.engine.steps import BronzeSchema, CastSpec, Rule, SilverSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine
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


# -- rows set apart in parts ---------------------------------------------------------
SET_APART_TIMES = (*RUN_TIMES, "quarantined_at", "deduplicated_at")


def _value(j: int) -> str:
    """Source value of ``n`` for row ``j``: every seventh one is no integer."""
    return f"x{j}" if j % 7 == 0 else str(j)


def _run_set_apart(
    tmp_path: Path, executor: str, storage_format: str, plugins: tuple[object, ...] = ()
) -> dict[str, object]:
    """Bronze rejects every row whose n is no integer, silver's rule ``n < 40``
    rejects the rows from 40 on, every fifth row repeats the row before it.
    ``plugins`` are registered on the run's config (for the test's lifetime only:
    each run has a config of its own)."""
    # row i repeats row i - 1 when i % 5 == 0 (its code and n)
    rows = [[f"c{i - (i % 5 == 0)}", _value(i - (i % 5 == 0))] for i in range(1, ROWS + 1)]
    source = write_csv(tmp_path / f"{executor}-{storage_format}.csv", ["code", "n"], rows)
    config = PipelineConfig(
        tmp_path / f"{executor}-{storage_format}",
        executor=executor,
        plugin_settings=SPARK if executor == "spark" else {},
        storage_format=storage_format,
    )
    for plugin in plugins:
        config.plugins.register(plugin)
    engine = PipelineEngine(config)
    engine.ingest(source, "t")
    bronze = engine.promote_to_bronze("t", BronzeSchema(cast={"n": CastSpec(type="int")}))
    rule = Rule(id="small", expression="n < 40", message="n must be below 40")
    silver = engine.promote_to_silver("t", SilverSpec(dedupe="row", rules=[rule]))
    return {"engine": engine, "bronze": bronze, "silver": silver}


def _apart(files: list[Path]) -> pl.DataFrame:
    frame = literal.scan_parquet(files).collect()
    return frame.drop([c for c in SET_APART_TIMES if c in frame.columns]).sort("_source_row")


def _source_rows(files: list[Path]) -> list[int]:
    """Source rows in the order the files hold them (parts in part order)."""
    return literal.scan_parquet(files).collect().get_column("_source_row").to_list()


@pytest.mark.parametrize("storage_format", ["parquet", "delta"])
def test_rows_set_apart_by_spark_are_part_files_equal_to_polars(
    tmp_path: Path, storage_format: str
) -> None:
    spark = _run_set_apart(tmp_path, "spark", storage_format)
    polars = _run_set_apart(tmp_path, "polars", storage_format)
    value = {i: _value(i - (i % 5 == 0)) for i in range(1, ROWS + 1)}
    not_cast = [i for i in value if not value[i].isdigit()]
    too_big = [i for i in value if value[i].isdigit() and int(value[i]) >= 40]
    kept = [i for i in value if i not in not_cast and i not in too_big]
    repeats = [i for i in kept if i % 5 == 0]
    assert not_cast == [7, 14, 15, 21, 28, 42, 49, 50, 56]
    assert repeats == [5, 10, 20, 25, 30, 35, 40]
    found = {
        "bronze": (spark["bronze"].quarantine_files, polars["bronze"].quarantine_files, not_cast),
        "silver": (spark["silver"].quarantine_files, polars["silver"].quarantine_files, too_big),
        "duplicates": (
            spark["silver"].duplicates_files,
            polars["silver"].duplicates_files,
            repeats,
        ),
    }
    for area, (by_spark, by_polars, expected) in found.items():
        assert len(by_spark) > 1, area  # in parts
        assert all(".part-" in f.name for f in by_spark), area
        assert len(by_polars) == 1, area
        # read in part order, the rows are in source-row order
        assert _source_rows(by_spark) == expected, area
        got, want = _apart(by_spark), _apart(by_polars)
        assert got.rows() == want.rows(), area
        assert got.schema == want.schema, area
    (message,) = set(_apart(found["silver"][0]).get_column("message").to_list())
    assert message == "n must be below 40"
    first = _apart(found["bronze"][0]).row(0, named=True)
    assert (first["_source_row"], first["message"]) == (7, "n: cannot cast 'x7' to int")
    engine = spark["engine"]
    assert isinstance(engine, PipelineEngine)
    for layer in ("bronze", "silver"):
        assert _ledger(spark, layer) == _ledger(polars, layer)
    # the store lists every part; status and the query views count every row
    store = engine.config.store
    assert store.set_apart_files("t", "bronze") == found["bronze"][0]
    assert store.set_apart_files("t", "duplicates") == found["duplicates"][0]
    status = {(s.layer, s.table): s.quarantined_rows for s in warehouse_status(engine.config)}
    assert status[("bronze", "t")] == len(not_cast)
    assert status[("silver", "t")] == len(too_big)
    with QueryEngine(engine.config) as query:
        rejected = query.query(
            "SELECT layer, count(*) AS n FROM quarantine.t GROUP BY 1 ORDER BY 1"
        )
        assert rejected.rows() == [("bronze", len(not_cast)), ("silver", len(too_big))]
        assert query.query("SELECT count(*) FROM duplicates.t").item() == len(repeats)
    if storage_format == "delta":
        for area in ("bronze", "silver", "duplicates"):
            table = DeltaTable(str(store.set_apart_dir("t", area)))
            names = sorted(u.rsplit("/", 1)[-1] for u in table.file_uris())
            assert names == sorted(f.name for f in found[area][0]), area
    # the record holds a digest per part: a flipped byte in one part is named alone
    assert verify(engine.config).findings == []
    part = found["silver"][0][1]
    content = bytearray(part.read_bytes())
    content[len(content) // 2] ^= 0x01
    part.write_bytes(bytes(content))
    data = engine.config.data_root
    assert [(f.kind, f.table, f.subject) for f in verify(engine.config).findings] == [
        ("changed", "t", part.relative_to(data).as_posix())
    ]


def _ledger(run: dict[str, object], layer: str) -> dict[str, object]:
    result = run[layer]
    assert isinstance(result, PromotionResult)
    return result.record.ledger.model_dump()


class QuarantineWatcher:
    """A plugin that reads the rows each ``jobforge_rows_quarantined`` call names."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, list[str], list[int], list[str]]] = []

    @hookimpl
    def jobforge_rows_quarantined(
        self, event: TransitionEvent, count: int, path: Path, files: list[Path]
    ) -> None:
        rows = literal.scan_parquet(files).collect()
        self.calls.append(
            (
                event.target_layer,
                count,
                [f.name for f in files],
                rows.get_column("_source_row").to_list(),
                rows.get_column("message").to_list(),
            )
        )


class OlderQuarantineWatcher:
    """An implementation written before ``files`` existed: called as before."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    @hookimpl
    def jobforge_rows_quarantined(self, event: TransitionEvent, count: int, path: Path) -> None:
        self.calls.append((event.target_layer, count, path.name))


@pytest.mark.parametrize("executor", ["spark", "polars"])
def test_the_quarantine_hook_names_every_file_the_rows_are_in(
    tmp_path: Path, executor: str
) -> None:
    """Spark writes bronze's and silver's quarantine in parts: the hook's ``files``
    are those parts, in order, and hold exactly the rows counted; with polars
    ``files`` is the one quarantine file. An older implementation still gets
    ``count`` and the batch's quarantine name."""
    watcher, older = QuarantineWatcher(), OlderQuarantineWatcher()
    run = _run_set_apart(tmp_path, executor, "parquet", plugins=(watcher, older))
    bronze, silver = run["bronze"], run["silver"]
    assert isinstance(bronze, PromotionResult) and isinstance(silver, PromotionResult)
    value = {i: _value(i - (i % 5 == 0)) for i in range(1, ROWS + 1)}
    not_cast = [7, 14, 15, 21, 28, 42, 49, 50, 56]  # x7, x14, x14 (row 15 repeats 14), ...
    assert [i for i in value if not value[i].isdigit()] == not_cast
    too_big = [i for i in value if value[i].isdigit() and int(value[i]) >= 40]
    # row 40 repeats row 39 (n = 39); rows 45, 55, 60 repeat rows of n >= 40: the rule
    # comes before the de-duplication, so they are quarantined too
    assert too_big == [41, 43, 44, 45, 46, 47, 48, 51, 52, 53, 54, 55, 57, 58, 59, 60]
    assert watcher.calls == [
        (
            "bronze",
            9,
            [f.name for f in bronze.quarantine_files],
            not_cast,
            [f"n: cannot cast '{value[i]}' to int" for i in not_cast],
        ),
        (
            "silver",
            16,
            [f.name for f in silver.quarantine_files],
            too_big,
            ["n must be below 40"] * 16,
        ),
    ]
    batch = bronze.batch_id
    assert older.calls == [
        ("bronze", 9, f"batch={batch}.parquet"),
        ("silver", 16, f"batch={batch}.parquet"),
    ]
    if executor == "spark":
        assert len(bronze.quarantine_files) > 1 and len(silver.quarantine_files) > 1
        assert all(".part-" in f.name for f in bronze.quarantine_files)
    else:
        assert [f.name for f in bronze.quarantine_files] == [f"batch={batch}.parquet"]
