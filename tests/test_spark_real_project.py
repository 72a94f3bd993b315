"""The real project (tests/data/real_project over every file of tests/data/real)
run by the real ``jobforge`` command with ``executor = "spark"`` (local[2],
shuffle partitions 3: the outputs are in parts) and with polars: every layer,
quarantine and duplicates file equal cell for cell after sorting by source row,
the same column types, the same row ledgers and the same lineage answers (of a
table, and of one gold row back to its source rows: ``lineage --where``).

What differs between two runs by nature is set aside: batch ids (UUIDs, also
inside ``_lineage``: mapped to the table's name), the timestamps of the run
(``_ingested_at``, ``_processed_at``, ``quarantined_at``, ``deduplicated_at``)
and the folder the sources were copied to (``_source_file``: its name kept).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal

from .cli_helpers import jobforge
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, real_project

pytestmark = pytest.mark.slow

RUN_TIMES = ("_ingested_at", "_processed_at", "quarantined_at", "deduplicated_at")
# three shuffle partitions, none coalesced: silver, gold, quarantine and duplicates
# outputs are several part files each (where they have rows enough)
SPARK_ENGINE = (
    '\n[engine]\nexecutor = "spark"\n[engine.spark]\nmaster = "local[2]"\n'
    'conf = { "spark.sql.shuffle.partitions" = "3", "spark.sql.adaptive.enabled" = "false" }\n'
)
WHERE = "noc_code = '21211'"


def _run(project: Path) -> list[dict]:
    result = jobforge("run", "--json", cwd=project, timeout=1800)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict]]]:
    base = tmp_path_factory.mktemp("spark-real")
    polars_project = real_project(base, "polars")
    spark_project = real_project(base, "spark")
    toml = spark_project / "jobforge.toml"
    toml.write_text(toml.read_text() + SPARK_ENGINE)
    return {
        "polars": (polars_project, _run(polars_project)),
        "spark": (spark_project, _run(spark_project)),
    }


def _engine(project: Path) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(project / "data", entry_points=False))


def _batch_names(engine: PipelineEngine) -> dict[str, str]:
    """Each batch id of the run -> ``batch:<table>`` (one batch per source table)."""
    names = {}
    for table in REAL_SOURCE_TABLES:
        current = engine.current("staged", table)
        assert current is not None
        for batch in current.batches:
            names[batch.batch_id] = f"batch:{table}"
    return names


def _comparable(frame: pl.DataFrame, batches: dict[str, str]) -> pl.DataFrame:
    """``frame`` without what differs between runs by nature, sorted."""
    frame = frame.drop([c for c in RUN_TIMES if c in frame.columns])
    pattern = "|".join(map(re.escape, batches))
    if "_batch_id" in frame.columns:
        frame = frame.with_columns(pl.col("_batch_id").replace_strict(batches))
    if "_lineage" in frame.columns:
        frame = frame.with_columns(
            pl.col("_lineage").list.eval(pl.element().str.replace(pattern, "B")).list.sort()
        )
    if "_source_file" in frame.columns:
        frame = frame.with_columns(pl.col("_source_file").str.split("/").list.last())
    keys = ["_source_row"] if "_source_row" in frame.columns else []
    rest = [c for c in frame.columns if c not in keys and frame.schema[c] != pl.List]
    return frame.sort([*keys, *rest], nulls_last=True)


def _files_frame(files: list[Path]) -> pl.DataFrame | None:
    return literal.scan_parquet(files).collect() if files else None


def test_every_step_reports_the_same_counts(runs: dict) -> None:
    def counts(steps: list[dict]) -> dict:
        keys = ("status", "rows_in", "rows_out", "rows_quarantined", "rows_deduplicated")
        return {(s["table"], s["layer"]): {k: s.get(k) for k in keys} for s in steps}

    polars_steps, spark_steps = runs["polars"][1], runs["spark"][1]
    assert len(spark_steps) == 3 * len(REAL_SOURCE_TABLES) + len(REAL_GOLD_TABLES)
    assert counts(spark_steps) == counts(polars_steps)
    # and something was set apart on both: the comparison below is not of empty files
    assert any(s.get("rows_quarantined") for s in spark_steps)
    assert any(s.get("rows_deduplicated") for s in spark_steps)


@pytest.mark.parametrize("layer", ["staged", "bronze", "silver", "gold"])
def test_every_layer_is_equal_cell_for_cell(runs: dict, layer: str) -> None:
    polars_engine, spark_engine = _engine(runs["polars"][0]), _engine(runs["spark"][0])
    tables = REAL_GOLD_TABLES if layer == "gold" else REAL_SOURCE_TABLES
    for table in tables:
        frames = []
        for engine in (polars_engine, spark_engine):
            current = engine.current(layer, table)
            assert current is not None, f"{layer}.{table}"
            files = engine.config.store.files(layer, table, current)
            frames.append(_comparable(_files_frame(files), _batch_names(engine)))
        expected, got = frames
        assert got.schema == expected.schema, f"{layer}.{table}"
        assert got.height == expected.height > 0, f"{layer}.{table}"
        assert got.equals(expected), f"{layer}.{table}"


@pytest.mark.parametrize("area", ["staged", "bronze", "silver", "duplicates"])
def test_rows_set_apart_are_equal_cell_for_cell(runs: dict, area: str) -> None:
    polars_engine, spark_engine = _engine(runs["polars"][0]), _engine(runs["spark"][0])
    found = 0
    for table in REAL_SOURCE_TABLES:
        frames = []
        for engine in (polars_engine, spark_engine):
            frame = _files_frame(engine.config.store.set_apart_files(table, area))
            frames.append(None if frame is None else _comparable(frame, _batch_names(engine)))
        expected, got = frames
        assert (got is None) == (expected is None), f"{area}.{table}"
        if got is not None and expected is not None:
            found += got.height
            assert got.schema == expected.schema, f"{area}.{table}"
            assert got.equals(expected), f"{area}.{table}"
    if area in ("bronze", "duplicates"):
        assert found > 0  # the real files do send rows there (no silver rule fails on them)


def test_the_ledgers_and_lineage_answers_are_the_same(runs: dict) -> None:
    ledger_keys = (
        "status",
        "row_count_in",
        "row_count_out",
        "ledger",
        "rule_counts",
        "transforms_applied",
    )

    def ledgers(project: Path) -> dict:
        found = {}
        for folder in sorted((project / "data" / "catalog" / "lineage").iterdir()):
            for path in sorted(folder.glob("*.json")):
                record = json.loads(path.read_text())
                key = (folder.name, record.get("source_layer"), record.get("target_layer"))
                found[key] = {k: record.get(k) for k in ledger_keys}
        return found

    polars_ledgers = ledgers(runs["polars"][0])
    assert ledgers(runs["spark"][0]) == polars_ledgers
    assert len(polars_ledgers) >= len(REAL_SOURCE_TABLES)

    def answer(project: Path, table: str) -> dict:
        result = jobforge("lineage", table, "--json", cwd=project)
        assert result.code == 0, result.err
        chain = json.loads(result.out)
        text = json.dumps(chain, sort_keys=True)
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "B", text)
        text = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.+Z-]+", "T", text)
        text = text.replace(str(project), "P")
        return json.loads(text)

    for table in REAL_GOLD_TABLES:
        assert answer(runs["spark"][0], table).keys() == answer(runs["polars"][0], table).keys()
        assert len(answer(runs["spark"][0], table)["sources"]) == len(
            answer(runs["polars"][0], table)["sources"]
        )


def test_the_spark_outputs_are_in_parts(runs: dict) -> None:
    """What the comparisons above read is Spark's part files: silver and gold
    versions and the rows set apart have several parts each."""
    engine = _engine(runs["spark"][0])
    in_parts = []
    for layer, tables in (("silver", REAL_SOURCE_TABLES), ("gold", REAL_GOLD_TABLES)):
        for table in tables:
            current = engine.current(layer, table)
            assert current is not None
            if any(len(b.parts) > 1 for b in current.batches):
                in_parts.append(f"{layer}.{table}")
    assert "gold.outlook" in in_parts
    assert len(in_parts) > len(REAL_SOURCE_TABLES)
    for area in ("bronze", "duplicates"):
        files = [
            f for t in REAL_SOURCE_TABLES for f in engine.config.store.set_apart_files(t, area)
        ]
        assert len(files) > 1 and all(".part-" in f.name for f in files), area


def test_lineage_of_a_gold_row_is_the_same(runs: dict) -> None:
    def traced(project: Path) -> list[dict]:
        result = jobforge("lineage", "outlook", "--where", WHERE, "--json", cwd=project)
        assert result.code == 0, result.err
        found = json.loads(result.out)
        for row in found:  # what differs by nature: the folder, batch ids and times
            for origin in row["origins"]:
                origin["source_file"] = Path(origin["source_file"]).name
        text = json.dumps(found, sort_keys=True)
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "B", text)
        text = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.+Z-]+", "T", text)
        return list(json.loads(text.replace(str(project), "P")))

    expected = traced(runs["polars"][0])
    assert traced(runs["spark"][0]) == expected
    (row,) = expected
    origins = {o["source_file"]: o for o in row["origins"]}
    assert set(origins) == {"employment_emploi_2024_2033_noc2021.csv", "noc_structure_en.csv"}
    assert origins["employment_emploi_2024_2033_noc2021.csv"]["raw"]["2033"] == "42700"
