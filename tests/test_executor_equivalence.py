"""Both bundled executors, on every real file of tests/data/real: staged, bronze
and silver outputs, and the rows set apart, equal cell for cell after sorting by
source row (the stamps of the run itself aside: batch id and times). And the polars
executor fed the readers' Arrow streams only (no polars plan) writes what it
writes with the plans."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import SilverSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal

from .arrow_readers import ArrowOnly
from .engine_support import REAL

REAL_FILES = sorted(p for p in REAL.iterdir() if p.suffix in (".csv", ".json"))
RUN_STAMPS = {"_batch_id", "_ingested_at", "_processed_at", "quarantined_at", "deduplicated_at"}


def _outputs(
    tmp_path: Path, source: Path, executor: str, plugins: tuple[object, ...] = ()
) -> dict[str, pl.DataFrame]:
    folder = tmp_path / (executor + ("-plugins" if plugins else ""))
    engine = PipelineEngine(
        PipelineConfig(folder, entry_points=False, executor=executor, plugins=list(plugins))
    )
    staged = engine.ingest(source, "t")
    bronze = engine.promote_to_bronze("t")
    silver = engine.promote_to_silver("t", SilverSpec(dedupe="row"))
    found = {"staged": staged.path, "bronze": bronze.path, "silver": silver.path}
    for area in ("staged", "bronze", "silver", "duplicates"):
        for file in engine.config.store.set_apart_files("t", area):
            found[f"set apart: {area}"] = file
    frames = {}
    for name, path in found.items():
        frame = literal.scan_parquet(path).collect()
        frames[name] = frame.drop([c for c in frame.columns if c in RUN_STAMPS]).sort("_source_row")
    return frames


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda p: p.name)
def test_polars_and_duckdb_write_the_same_cells(tmp_path: Path, source: Path) -> None:
    polars_out = _outputs(tmp_path, source, "polars")
    duckdb_out = _outputs(tmp_path, source, "duckdb")
    assert sorted(polars_out) == sorted(duckdb_out)
    for name, expected in polars_out.items():
        got = duckdb_out[name]
        assert got.columns == expected.columns, name
        assert got.schema == expected.schema, name
        assert got.height == expected.height, name
        assert got.rows() == expected.rows(), name


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda p: p.name)
def test_polars_fed_arrow_only_writes_the_same_cells(tmp_path: Path, source: Path) -> None:
    native = _outputs(tmp_path, source, "polars")
    arrow = _outputs(tmp_path, source, "polars", (ArrowOnly(),))
    assert sorted(native) == sorted(arrow)
    for name, expected in native.items():
        got = arrow[name]
        assert got.schema == expected.schema, name
        assert got.rows() == expected.rows(), name
