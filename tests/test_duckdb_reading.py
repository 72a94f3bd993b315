"""The DuckDB executor reads its parquet inputs with DuckDB's own reader (within
its memory limit) and writes rows in source order without sorting; a path that
``read_parquet`` would take for a pattern is read literally."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, SilverSpec
from jobforge.pipeline.config import PipelineConfig

ROWS = 300_000
"""Three of DuckDB's row groups (122,880 rows): read by both threads at once."""


def _source(path: Path) -> Path:
    # row i: k = i % 1000 (so rows 1001.. repeat rows 1..1000), n = i, every
    # 7th n is "x" (not an int: bronze quarantine)
    lines = ["k,n"]
    lines += [f"{i % 1000},{'x' if i % 7 == 0 else i}" for i in range(1, ROWS + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("root", ["data", "da[t]a*{1}"])
def test_rows_stay_in_source_order_and_patterns_are_literal(tmp_path: Path, root: str) -> None:
    engine = PipelineEngine(PipelineConfig(tmp_path / root, executor="duckdb"))
    source = _source(tmp_path / "t.csv")
    result = engine.run_full_pipeline(
        source,
        "t",
        bronze_schema=BronzeSchema(cast={"n": CastSpec(type="int")}),
        silver=SilverSpec(dedupe=["k"]),
    )
    bronze = pq.read_table(result.bronze.path).column("_source_row").to_pylist()
    assert bronze == [i for i in range(1, ROWS + 1) if i % 7]
    silver = pq.read_table(result.silver.path)
    # kept: the first row of each k (k = i % 1000) that bronze did not quarantine
    expected: dict[int, int] = {}
    for i in range(1, ROWS + 1):
        if i % 7 and i % 1000 not in expected:
            expected[i % 1000] = i
    assert silver.column("_source_row").to_pylist() == sorted(expected.values())
    dups = pq.read_table(result.silver.duplicates_path)
    assert dups.num_rows == len(bronze) - len(expected)
    assert dups.column("_source_row").to_pylist() == sorted(set(bronze) - set(expected.values()))
