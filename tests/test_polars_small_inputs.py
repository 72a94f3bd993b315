"""The polars executor's silver step reads a small input into memory once and runs
its plans on those rows; a larger one is scanned by each plan
(``jobforge_polars.streaming.read``). Both give the same rows: the hand-checked
cases of ``tests/test_silver_dedupe_exact.py`` run both ways, the executor
conformance suite runs both ways (``polars-scanned``), and here any table of
codes and amounts does.
"""

from __future__ import annotations

import json
from pathlib import Path

import jobforge_polars.streaming
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobforge_polars.streaming import measured, read

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, Rule, SilverSpec
from jobforge.pipeline.config import PipelineConfig


def _file(path: Path, rows: int) -> Path:
    pl.DataFrame({"n": list(range(rows)), "t": [f"v{i % 7}" for i in range(rows)]}).write_parquet(
        path
    )
    return path


def _in_memory(frame: pl.LazyFrame) -> bool:
    plan = frame.explain()
    assert ("Parquet SCAN" in plan) != plan.startswith("DF ")
    return plan.startswith("DF ")


def test_a_small_input_is_read_once_and_a_large_one_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = measured([_file(tmp_path / "small.parquet", 500)])
    assert small.rows == 500 and small.size > 0
    assert _in_memory(read(small))
    limit = jobforge_polars.streaming._SMALL_ROWS
    at_limit = measured([_file(tmp_path / "at.parquet", limit)])
    over = measured([_file(tmp_path / "over.parquet", limit + 1)])
    assert _in_memory(read(at_limit))
    assert not _in_memory(read(over))
    # two files: their rows and bytes add up
    both = measured([tmp_path / "small.parquet", tmp_path / "at.parquet"])
    assert both.rows == 500 + limit and both.size == small.size + at_limit.size
    assert not _in_memory(read(both))
    # bytes bound the read too
    monkeypatch.setattr(jobforge_polars.streaming, "_SMALL_BYTES", small.size - 1)
    assert not _in_memory(read(small))
    # the same rows either way
    assert read(small).collect().equals(pl.read_parquet(tmp_path / "small.parquet"))
    assert read(over).collect().equals(pl.read_parquet(tmp_path / "over.parquet"))


def _silver(folder: Path, csv: str) -> dict[str, object]:
    source = folder / "rows.csv"
    source.write_text(csv, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(folder / "data", entry_points=False))
    result = engine.run_full_pipeline(
        source,
        "rows",
        bronze_schema=BronzeSchema(cast={"amount": "int"}),
        silver=SilverSpec(
            dedupe=["code"], rules=[Rule(id="not_negative", expression="amount >= 0")]
        ),
    )
    silver = result.silver
    kept = pl.read_parquet(silver.path).select("_source_row", "code", "amount").rows()
    found: dict[str, object] = {"kept": kept, "ledger": silver.record.ledger.model_dump()}
    if silver.duplicates_path is not None and Path(silver.duplicates_path).exists():
        dups = pl.read_parquet(silver.duplicates_path)
        found["duplicates"] = sorted(
            zip(dups.get_column("_source_row"), dups.get_column("duplicate_of"), strict=True)
        )
    if silver.quarantine_path is not None and Path(silver.quarantine_path).exists():
        apart = pl.read_parquet(silver.quarantine_path)
        found["quarantined"] = sorted(
            (r, rule, json.loads(row))
            for r, rule, row in apart.select("_source_row", "rule_id", "row").rows()
        )
    return found


rows = st.lists(
    st.tuples(st.sampled_from("ABCDE"), st.none() | st.integers(-3, 9)), min_size=1, max_size=25
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=rows)
def test_read_once_and_scanned_give_the_same_silver(
    tmp_path_factory: pytest.TempPathFactory, table: list[tuple[str, int | None]]
) -> None:
    csv = "code,amount\n" + "".join(f"{c},{'' if a is None else a}\n" for c, a in table)
    once = _silver(tmp_path_factory.mktemp("once"), csv)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobforge_polars.streaming, "_SMALL_ROWS", -1)
        scanned = _silver(tmp_path_factory.mktemp("scanned"), csv)
    assert once == scanned
    # and both as the rows say: the first row of each code among those the rule keeps
    passing = [(i, c, a) for i, (c, a) in enumerate(table, start=1) if a is None or a >= 0]
    first: dict[str, tuple[int, str, int | None]] = {}
    for row in passing:
        first.setdefault(row[1], row)
    assert sorted(once["kept"]) == sorted(first.values())  # type: ignore[arg-type]
