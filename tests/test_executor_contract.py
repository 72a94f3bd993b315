"""The executor contract: chosen by name, requests and outcomes, capabilities
checked before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from jobforge_polars.executor import PolarsExecutor

from jobforge import hookimpl
from jobforge.engine.executor import Capabilities, transform, transform_kind
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec, SilverSpec
from jobforge.errors import ContractError, NoPluginError, PluginError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.base import SourceSpec

from .cli_helpers import jobforge
from .engine_support import write_csv


class DeclarativeOnly(PolarsExecutor):
    """The polars executor declaring no Python transforms."""

    name = "declarative"
    capabilities = Capabilities(transforms=frozenset())


class Gives:
    def __init__(self, executor: object) -> None:
        self.executor = executor
        self.jobforge_plugin_name = "gives"

    @hookimpl
    def jobforge_executor(self, config: PipelineConfig) -> object:
        return self.executor


def add_one(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.lit(1).alias("one"))


@transform("arrow")
def arrow_kind(frame: object) -> object:
    return frame


def test_transform_kinds() -> None:
    assert transform_kind(add_one) == "polars"
    assert transform_kind(arrow_kind) == "arrow"


def test_an_executor_nobody_gives_is_named(tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "data", entry_points=False, executor="nope")
    with pytest.raises(NoPluginError) as caught:
        PipelineEngine(config)
    assert str(caught.value) == (
        "no plugin provides jobforge_executor (for the executor 'nope'; plugins answering "
        "jobforge_executor: polars, duckdb, spark)"
    )
    assert not (tmp_path / "data").exists()


def test_an_executor_of_another_name_is_refused(tmp_path: Path) -> None:
    config = PipelineConfig(
        tmp_path / "data", entry_points=False, plugins=[Gives(DeclarativeOnly())]
    )
    with pytest.raises(PluginError) as caught:
        PipelineEngine(config)
    assert str(caught.value) == (
        "plugin 'gives' answered jobforge_executor with the executor 'declarative'; "
        "the configuration asks for 'polars'"
    )


def test_a_missing_capability_stops_silver_before_it_runs(tmp_path: Path) -> None:
    config = PipelineConfig(
        tmp_path / "data",
        entry_points=False,
        plugins=[Gives(DeclarativeOnly())],
        executor="declarative",
    )
    engine = PipelineEngine(config)
    source = write_csv(tmp_path / "t.csv", ["a"], [["1"], ["2"]])
    engine.ingest(source, "t")
    engine.promote_to_bronze("t")
    with pytest.raises(ContractError) as caught:
        engine.promote_to_silver("t", SilverSpec(transforms=[add_one]))
    assert str(caught.value) == (
        "silver 't': transform 'tests.test_executor_contract:add_one' is a polars transform; "
        "the executor 'declarative' lacks the capability transforms='polars' (it runs: none)"
    )
    assert engine.current("silver", "t") is None
    # declarative silver runs under it
    assert engine.promote_to_silver("t").record.row_count_out == 2


def test_read_result_streams_arrow(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "r.csv", ["code", "title"], [["1", "A"], ["2", "B"]])
    config = PipelineConfig(tmp_path / "data", entry_points=False)
    reader, _ = config.plugins.source_reader(SourceSpec(source), config)
    table = reader.read().record_batches().read_all()
    assert sorted(table.column_names) == ["_source_row", "code", "title"]
    assert table.column("code").to_pylist() == ["1", "2"]
    assert table.column("title").to_pylist() == ["A", "B"]
    assert table.column("_source_row").to_pylist() == [1, 2]


PROJECT = """[engine]
executor = "duckdb"

[tables.t]
source = "t.csv"

[tables.t.silver]
{silver}
"""


def test_dry_run_names_the_executor_and_refuses_what_it_lacks(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    toml = tmp_path / "jobforge.toml"
    toml.write_text(PROJECT.format(silver='transforms = ["json:dumps"]'), encoding="utf-8")
    refused = jobforge("run", "--dry-run", cwd=tmp_path)
    assert refused.code == 2
    assert refused.err.splitlines()[-1] == (
        "  tables.t.silver: silver 't': transform 'json:dumps' is a polars transform; "
        "the executor 'duckdb' lacks the capability transforms='polars' (it runs: arrow)"
    )
    assert not (tmp_path / "data" / "staged").exists()
    toml.write_text(PROJECT.format(silver='dedupe = "row"'), encoding="utf-8")
    plan = json.loads(jobforge("run", "--dry-run", "--json", cwd=tmp_path).out)
    assert [(s["layer"], s["executor"]) for s in plan["steps"]] == [
        ("staged", "duckdb"),
        ("bronze", "duckdb"),
        ("silver", "duckdb"),
    ]


def test_an_arrow_gold_function_is_refused_before_it_runs(tmp_path: Path) -> None:
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    source = write_csv(tmp_path / "t.csv", ["a"], [["1"], ["2"]])
    engine.run_full_pipeline(source, "t")
    spec = GoldSpec(name="g", inputs=["t"], function=arrow_kind)
    with pytest.raises(ContractError) as caught:
        engine.promote_to_gold(spec)
    assert str(caught.value) == (
        "gold 'g': function 'tests.test_executor_contract:arrow_kind' is an arrow transform; "
        "arrow transforms run per batch in silver only (a gold function sees whole tables: "
        "write it as gold SQL or for the executor's own kind)"
    )
    assert engine.current("gold", "g") is None


def test_a_polars_transform_after_an_arrow_one_is_refused(tmp_path: Path) -> None:
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    source = write_csv(tmp_path / "t.csv", ["a"], [["1"], ["2"]])
    engine.ingest(source, "t")
    engine.promote_to_bronze("t")
    with pytest.raises(ContractError) as caught:
        engine.promote_to_silver("t", SilverSpec(transforms=[arrow_kind, add_one]))
    assert str(caught.value) == (
        "silver 't': transform 'tests.test_executor_contract:add_one' (polars) follows the "
        "arrow transform 'tests.test_executor_contract:arrow_kind'; arrow transforms run "
        "last, so list them after the others"
    )
    assert engine.current("silver", "t") is None


class ManyFiles(PolarsExecutor):
    """The polars executor declaring that it writes a folder of files per output."""

    name = "many"
    capabilities = Capabilities(transforms=frozenset({"polars"}), files_per_version="many")


class KeepsMany:
    name = "keeps-many"
    files_per_version = "many"


class KeepsOneStorePlugin:
    """A real table store (the parquet store's files and pointers) that declares
    it keeps one file per batch: what a store without part files says. The
    bundled parquet and Delta stores both keep parts."""

    jobforge_plugin_name = "keeps-one-store"

    @hookimpl
    def jobforge_table_store(self, config: PipelineConfig) -> object:
        from jobforge_parquet_store.store import ParquetStore

        class KeepsOne(ParquetStore):
            name = "keeps-one"
            files_per_version = "one"

        return KeepsOne(config)


def test_an_executor_writing_many_files_is_refused_by_a_store_keeping_one(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    source = write_csv(tmp_path / "t.csv", ["a"], [["1"], ["2"]])

    def config(plugins: list[object], **extra: object) -> PipelineConfig:
        return PipelineConfig(
            data, entry_points=False, plugins=[*plugins, KeepsOneStorePlugin()], **extra
        )

    many = PipelineEngine(config([Gives(ManyFiles())], executor="many"))
    assert many.config.store.name == "keeps-one"
    refusal = (
        "the executor 'many' writes many files per table version (capability "
        "files_per_version='many'); the table store 'keeps-one' keeps one"
    )
    with pytest.raises(ContractError) as caught:
        many.ingest(source, "t")
    assert str(caught.value) == f"staged 't': {refusal}"
    assert many.current("staged", "t") is None
    assert not (many.config.catalog_lineage_path() / "t").exists()
    # the versions one-file executors made are refused the same way, and kept as they are
    one = PipelineEngine(config([]))
    one.run_full_pipeline(source, "t")
    one.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, _lineage FROM t"))
    records = sorted((one.config.catalog_lineage_path() / "t").glob("*.json"))
    versions = {layer: one.current(layer, "t") for layer in ("staged", "bronze", "silver")}
    gold = one.current("gold", "g")
    steps = [
        ("bronze 't'", lambda: many.promote_to_bronze("t", force=True)),
        ("silver 't'", lambda: many.promote_to_silver("t", force=True)),
        (
            "gold 'g'",
            lambda: many.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT 1")),
        ),
    ]
    for step, run in steps:
        with pytest.raises(ContractError) as caught:
            run()
        assert str(caught.value) == f"{step}: {refusal}"
    assert {layer: one.current(layer, "t") for layer in versions} == versions
    assert one.current("gold", "g") == gold
    assert sorted((one.config.catalog_lineage_path() / "t").glob("*.json")) == records


def test_a_store_keeping_many_files_takes_an_executor_writing_many() -> None:
    from jobforge_delta.store import DeltaStore
    from jobforge_parquet_store.store import ParquetStore

    from jobforge.engine.capabilities import store_problems

    assert store_problems(ManyFiles(), ParquetStore(PipelineConfig(Path("data")))) == []
    assert store_problems(ManyFiles(), DeltaStore(PipelineConfig(Path("data")))) == []

    assert store_problems(ManyFiles(), KeepsMany(), "bronze 't'") == []
    assert store_problems(DeclarativeOnly(), KeepsMany()) == []
    assert store_problems(ManyFiles(), object(), "bronze 't'") == [
        "bronze 't': the executor 'many' writes many files per table version (capability "
        "files_per_version='many'); the table store 'object' keeps one"
    ]
