"""Column names that polars would read as patterns ("*", "^a$") go through every layer."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, Rule, SilverSpec
from jobforge.pipeline.config import PipelineConfig


def test_pattern_like_headers_reach_silver(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text('*,^a$,x\n1,"p",10\n1,"p",10\n2,q,oops\n3,r,-1\n', encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    result = engine.run_full_pipeline(
        source,
        "odd",
        bronze_schema=BronzeSchema(cast={"x": "int"}),
        silver=SilverSpec(dedupe="row", rules=[Rule(id="x_positive", expression="x > 0")]),
    )
    # record 3 ("oops") fails the cast; record 2 repeats record 1; record 4 breaks the rule.
    assert result.bronze.record.ledger.rows_quarantined == 1
    assert result.silver.record.ledger.rows_deduplicated == 1
    assert result.silver.record.ledger.rows_quarantined == 1
    silver = pl.read_parquet(result.silver.path)
    assert silver.get_column("*").to_list() == ["1"]
    assert silver.get_column("^a$").to_list() == ["p"]
    assert silver.get_column("x").to_list() == [10]
    assert silver.get_column("_source_row").to_list() == [1]
