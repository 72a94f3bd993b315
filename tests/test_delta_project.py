"""The real project (tests/projects.py) with ``[storage] format = "delta"`` on
local disk: every layer holds the rows the parquet store holds, the catalog
and lineage answer the same, a second run makes no commit, and the Delta
tables are read by polars and by DuckDB (through delta-rs' Arrow dataset)
with the same rows and types."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import literal

from .cli_helpers import jobforge
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, data_files, real_project

RUN_COLUMNS = {"_batch_id", "_ingested_at", "_processed_at", "_source_file"}
"""Provenance that differs between two runs of the same sources (ids, clocks,
the project folder's path)."""


def _delta_project(tmp_path: Path, name: str) -> Path:
    project = real_project(tmp_path, name)
    toml = project / "jobforge.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[project]\n", '[storage]\nformat = "delta"\n\n[project]\n', 1))
    return project


def _run(project: Path) -> list[dict]:
    result = jobforge("run", "--json", cwd=project)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(parquet, delta): the real project run once with each store."""
    base = tmp_path_factory.mktemp("delta-project")
    parquet, delta = real_project(base, "parquet"), _delta_project(base, "delta")
    for project in (parquet, delta):
        steps = _run(project)
        assert len(steps) == 3 * len(REAL_SOURCE_TABLES) + len(REAL_GOLD_TABLES)
        assert {s["status"] for s in steps} <= {"success", "partial"}
    return parquet, delta


BATCH_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _without_ids(value: Any) -> Any:
    """A gold row's provenance (``table:batch:row``) with the batch id left out."""
    if isinstance(value, str):
        return BATCH_ID.sub("<batch>", value)
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _config(project: Path, storage_format: str) -> PipelineConfig:
    return PipelineConfig(project / "data", entry_points=False, storage_format=storage_format)


def _rows(config: PipelineConfig, layer: str, table: str) -> list[tuple]:
    current = config.store.current(layer, table)
    assert current is not None, (layer, table)
    frame = literal.scan_parquet(config.store.files(layer, table, current)).collect()
    frame = frame.drop([c for c in frame.columns if c in RUN_COLUMNS])
    return sorted((tuple(_without_ids(v) for v in row) for row in frame.rows()), key=repr)


def _layer_tables() -> list[tuple[str, str]]:
    tables = [(layer.value, t) for layer in list(Layer)[:3] for t in REAL_SOURCE_TABLES]
    return tables + [("gold", t) for t in REAL_GOLD_TABLES]


def test_every_layer_holds_the_parquet_stores_rows(projects: tuple[Path, Path]) -> None:
    parquet, delta = (_config(projects[0], "parquet"), _config(projects[1], "delta"))
    assert delta.store.name == "delta"
    for layer, table in _layer_tables():
        assert delta.store.tables(layer) == parquet.store.tables(layer)
        assert _rows(delta, layer, table) == _rows(parquet, layer, table), (layer, table)
        folder = delta.layer_path(layer) / table
        assert DeltaTable.is_deltatable(str(folder)), folder
        assert not (folder / "_current.json").exists()


def test_each_version_is_one_commit_naming_batch_and_record(
    projects: tuple[Path, Path],
) -> None:
    config = _config(projects[1], "delta")
    for layer, table in _layer_tables():
        current = config.store.current(layer, table)
        assert current is not None
        (commit,) = DeltaTable(str(config.layer_path(layer) / table)).history()
        assert commit["jobforge.record_id"] == current.record_id
        assert commit["jobforge.batch_id"] == current.batches[-1].batch_id
        assert current.extra["delta_version"] == 0


def test_status_names_the_delta_version(projects: tuple[Path, Path]) -> None:
    parquet, delta = projects
    for project, expected in ((parquet, None), (delta, 0)):
        result = jobforge("status", "--json", cwd=project)
        assert result.code == 0, result.err
        statuses = json.loads(result.out)
        assert len(statuses) == 3 * len(REAL_SOURCE_TABLES) + len(REAL_GOLD_TABLES)
        assert {s["delta_version"] for s in statuses} == {expected}


def test_rows_set_apart_are_delta_tables(projects: tuple[Path, Path]) -> None:
    parquet, delta = (_config(projects[0], "parquet"), _config(projects[1], "delta"))
    # noc_onet drops 78 duplicates in silver (the run's report), og_subgroups 19
    for table, dropped in (("noc_onet", 78), ("og_subgroups", 19)):
        folder = delta.quarantine_path() / table / "duplicates"
        assert DeltaTable(str(folder)).count() == dropped
        expected = sum(
            literal.read_metadata(f).num_rows
            for f in parquet.store.set_apart_files(table, "duplicates")
        )
        assert expected == dropped


def test_catalog_and_lineage_answer_the_same(projects: tuple[Path, Path]) -> None:
    parquet, delta = projects
    for table in REAL_GOLD_TABLES:
        answers = []
        for project in (parquet, delta):
            result = jobforge("lineage", table, "--json", cwd=project)
            assert result.code == 0, result.err
            chain = json.loads(result.out)
            answers.append(sorted(s["table"] for s in chain["sources"]))
        assert answers[0] == answers[1] and answers[0], table
    for project in (parquet, delta):
        query = jobforge(
            "query", "--format", "json", "SELECT count(*) AS n FROM gold.outlook", cwd=project
        )
        assert query.code == 0, query.err
        assert json.loads(query.out) == [{"n": 485}]


def test_a_second_run_makes_no_commit(projects: tuple[Path, Path]) -> None:
    delta = projects[1]
    before = data_files(delta / "data")
    steps = _run(delta)
    assert {s["status"] for s in steps} == {"up to date"}
    after = data_files(delta / "data")
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].parts[:2] == ("catalog", "runs")
    assert not [p for p in new if "_delta_log" in p.parts]


def test_polars_and_duckdb_read_the_same_rows_and_types(projects: tuple[Path, Path]) -> None:
    config = _config(projects[1], "delta")
    for layer, table in (("silver", "noc_structure"), ("gold", "outlook")):
        folder = config.layer_path(layer) / table
        current = config.store.current(layer, table)
        assert current is not None
        ours = literal.scan_parquet(config.store.files(layer, table, current)).collect()
        by_polars = pl.read_delta(str(folder))
        assert by_polars.schema == ours.schema
        assert sorted(by_polars.rows(), key=repr) == sorted(ours.rows(), key=repr)
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")  # how DuckDB hands instants back
            con.register("t", DeltaTable(str(folder)).to_pyarrow_dataset())
            by_duckdb = con.sql("SELECT * FROM t").pl()
            types = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE t)").fetchall())
        if "_processed_at" in types:
            assert types["_processed_at"] == "TIMESTAMP WITH TIME ZONE"
        assert by_duckdb.schema == ours.schema
        assert sorted(by_duckdb.rows(), key=repr) == sorted(ours.rows(), key=repr)
    silver = pl.read_delta(str(config.layer_path("silver") / "noc_structure"))
    assert silver.schema["_processed_at"] == pl.Datetime("us", "UTC")
