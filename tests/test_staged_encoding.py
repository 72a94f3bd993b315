"""Issue 21: staged is written with lz4 and null counts only (no min/max), and
everything that reads staged still reads the same values from it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema
from jobforge.pipeline.config import Layer, PipelineConfig

from .engine_support import current_frame, make_engine, write_csv

HEADER = ["code", "title", "wage"]
RECORDS = [
    ["00010", "Legislators", "101.5"],
    ["00012", 'A "quoted", title', ""],
    ["11200", "Human resources", "38.25"],
]


def _footer(path: Path) -> dict[str, tuple[str, bool, int | None]]:
    """Per column of the only row group: codec, whether min/max are kept, null count."""
    meta = pq.read_metadata(path)
    assert meta.num_row_groups == 1
    group = meta.row_group(0)
    found = {}
    for i in range(group.num_columns):
        chunk = group.column(i)
        stats = chunk.statistics
        found[chunk.path_in_schema] = (
            chunk.compression,
            bool(stats is not None and stats.has_min_max),
            stats.null_count if stats is not None and stats.has_null_count else None,
        )
    return found


def test_staged_is_lz4_with_null_counts_and_no_min_max(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    _check_staged_footer(engine, tmp_path)


@pytest.mark.parametrize("executor", ["duckdb", pytest.param("spark", marks=pytest.mark.slow)])
def test_every_executor_writes_staged_the_same_way(tmp_path: Path, executor: str) -> None:
    """The DuckDB and Spark executors write staged as the polars one does (one
    policy, ``jobforge.plugin.STAGED_WRITE``); DuckDB's bronze stays zstd with
    statistics."""
    config = PipelineConfig(tmp_path / "data", entry_points=False, executor=executor)
    engine = PipelineEngine(config)
    _check_staged_footer(engine, tmp_path)
    if executor == "duckdb":
        _check_bronze_footer(engine)


def _check_staged_footer(engine: PipelineEngine, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "noc.csv", HEADER, RECORDS)
    ingest = engine.ingest(source, "noc")
    footer = _footer(ingest.path)
    assert list(footer) == [
        "code",
        "title",
        "wage",
        "_source_file",
        "_ingested_at",
        "_batch_id",
        "_layer",
        "_source_row",
    ]
    # The empty wage is an empty text in staged, not a null: every count is 0.
    assert set(footer.values()) == {("LZ4", False, 0)}
    # The catalog's profile of staged still has its null counts: not nullable.
    entry = json.loads(
        (engine.config.catalog_tables_path() / "staged" / "noc.json").read_text(encoding="utf-8")
    )
    nullable = {c["name"]: c["nullable"] for c in entry["columns"]}
    assert nullable["code"] is False and nullable["wage"] is False

    # Readers of staged: the layer's rows, and bronze's casts from them.
    staged = current_frame(engine, Layer.STAGED, "noc")
    assert staged.select("code", "title", "wage").rows() == [tuple(r) for r in RECORDS]
    assert staged["_source_row"].to_list() == [1, 2, 3]
    engine.promote_to_bronze("noc", BronzeSchema(cast={"wage": "float"}))
    bronze = current_frame(engine, Layer.BRONZE, "noc")
    assert bronze.select("code", "wage").rows() == [
        ("00010", 101.5),
        ("00012", None),
        ("11200", 38.25),
    ]


def test_later_layers_keep_zstd_and_statistics(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "noc.csv", HEADER, RECORDS)
    engine.ingest(source, "noc")
    _check_bronze_footer(engine)


def _check_bronze_footer(engine: PipelineEngine) -> None:
    bronze = engine.promote_to_bronze("noc", BronzeSchema(cast={"wage": "float"}))
    footer = _footer(bronze.path)
    assert footer["wage"] == ("ZSTD", True, 1)  # the empty wage became a null
    assert footer["code"] == ("ZSTD", True, 0)
    assert footer["_source_row"] == ("ZSTD", True, 0)


def test_the_benchmark_copies_write_staged_as_the_executor_does() -> None:
    """The copies bound of benchmarks/run.py writes staged with the executor's settings."""
    import importlib.util

    from jobforge_polars.exprs import STAGED_SINK

    from jobforge.plugin import STAGED_WRITE

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
    spec = importlib.util.spec_from_file_location("benchmark_run", path)
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert {**runner.STAGED_WRITE, "lazy": True} == STAGED_SINK
    assert runner.STAGED_WRITE == STAGED_WRITE
