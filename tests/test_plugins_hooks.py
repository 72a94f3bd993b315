"""Each hook as a plugin author uses it, through real engine runs: readers,
executor, catalog writers and the lifecycle hooks.

Plugins are registered with the ``register_jobforge_plugin`` fixture of
``jobforge.testing`` on the fixture ``jobforge_config`` (bundled plugins only).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from jobforge_polars.executor import PolarsExecutor

from jobforge import hookimpl
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StagedRequest, StepOutcome
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema
from jobforge.errors import PluginError, TransitionError, UnsupportedFormatError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import LineageRecord, TableMetadata
from jobforge.sources.base import ReadResult, SourceSpec

Register = Callable[..., Any]

# one record (line 4 of the file, record 3) has a field too many
RAGGED = "code,title\n1,Alpha\n2,Beta\n3,Gamma,extra\n4,Delta\n"


class Recorder:
    """Writes down every catalog-writer and lifecycle call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def jobforge_before_transition(self, event: TransitionEvent) -> None:
        self.calls.append(("before", event.table, event.source_layer, event.target_layer))

    @hookimpl
    def jobforge_after_transition(self, event: TransitionEvent, record: LineageRecord) -> None:
        self.calls.append(("after", event.target_layer, record.status, record.batch_id))

    @hookimpl
    def jobforge_transition_failed(self, event: TransitionEvent, error: BaseException) -> None:
        self.calls.append(("failed", event.target_layer, type(error).__name__, str(error)))

    @hookimpl
    def jobforge_rows_quarantined(self, event: TransitionEvent, count: int, path: Path) -> None:
        rows = pl.read_parquet(path).height
        self.calls.append(("quarantined", event.target_layer, count, rows))

    @hookimpl
    def jobforge_write_table_metadata(self, metadata: TableMetadata) -> None:
        self.calls.append(("table", metadata.key, metadata.row_count))

    @hookimpl
    def jobforge_write_lineage(self, log: LineageRecord) -> None:
        self.calls.append(("lineage", log.record_type, log.status))


@pytest.fixture
def ragged_csv(tmp_path: Path) -> Path:
    path = tmp_path / "codes.csv"
    path.write_text(RAGGED, encoding="utf-8")
    return path


def test_lifecycle_and_writer_hooks_in_order(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, ragged_csv: Path
) -> None:
    recorder = register_jobforge_plugin(jobforge_config, Recorder(), "recorder")
    engine = PipelineEngine(jobforge_config)
    ingested = engine.ingest(ragged_csv, "codes", "noc")
    assert (ingested.rows, ingested.rows_quarantined) == (3, 1)
    assert recorder.calls == [
        ("before", "codes", "source", "staged"),
        ("lineage", "ingestion", "partial"),
        ("table", "staged.codes", 3),
        ("after", "staged", "partial", ingested.batch_id),
        ("quarantined", "staged", 1, 1),
    ]
    # fan-out: the bundled JSON writer wrote the same entry
    entry = json.loads(
        (jobforge_config.catalog_tables_path() / "staged" / "codes.json").read_text()
    )
    assert entry["row_count"] == 3

    recorder.calls.clear()
    engine.promote_to_bronze("codes", BronzeSchema(cast={"code": "int"}))
    assert recorder.calls == [
        ("before", "codes", "staged", "bronze"),
        ("lineage", "transition", "success"),
        ("table", "bronze.codes", 3),
        ("table", "staged.codes", 3),  # the upstream entry, now listing bronze.codes downstream
        ("after", "bronze", "success", ingested.batch_id),
    ]


def test_a_raising_lifecycle_hook_fails_the_transition_and_is_named(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, ragged_csv: Path
) -> None:
    class Veto:
        @hookimpl
        def jobforge_before_transition(self, event: TransitionEvent) -> None:
            if event.target_layer == "bronze":
                raise RuntimeError("bronze is closed today")

    recorder = register_jobforge_plugin(jobforge_config, Recorder(), "recorder")
    register_jobforge_plugin(jobforge_config, Veto(), "veto")
    engine = PipelineEngine(jobforge_config)
    engine.ingest(ragged_csv, "codes")
    recorder.calls.clear()
    message = (
        "plugin 'veto' (explicit) raised in jobforge_before_transition: "
        "RuntimeError: bronze is closed today"
    )
    with pytest.raises(TransitionError) as caught:
        engine.promote_to_bronze("codes")
    assert str(caught.value) == f"staged -> bronze of 'codes' failed: {message}"
    assert isinstance(caught.value.__cause__, PluginError)
    # veto, registered last, is called first: its error stops the other
    # before-hooks (the recorder's), then the failure is recorded and announced
    assert recorder.calls == [
        ("lineage", "transition", "failed"),
        ("failed", "bronze", "PluginError", message),
    ]
    assert engine.current("bronze", "codes") is None


class PipeReader:
    """Reads ``a|b|c`` text files: a header line, then one record per line."""

    format = "psv"

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ReadResult:
        header, *lines = self.path.read_text(encoding="utf-8").splitlines()
        names = header.split("|")
        rows = [line.split("|") for line in lines]
        table = pa.table(
            {
                "_source_row": pa.array(range(1, len(rows) + 1), pa.int64()),
                **{n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)},
            }
        )
        return ReadResult(batches=table.to_reader, records=len(rows))


class PipePlugin:
    @hookimpl
    def jobforge_source_reader(self, source: SourceSpec) -> PipeReader | None:
        return PipeReader(source.path) if source.effective_format == "psv" else None

    @hookimpl
    def jobforge_source_formats(self) -> list[str]:
        return ["psv"]


def test_a_reader_plugin_claims_its_format(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, tmp_path: Path
) -> None:
    register_jobforge_plugin(jobforge_config, PipePlugin(), "pipes")
    source = tmp_path / "teams.psv"
    source.write_text("team|city\nRavens|Ottawa\nGulls|Halifax\n", encoding="utf-8")
    result = PipelineEngine(jobforge_config).ingest(source, "teams")
    assert result.record is not None
    assert (result.record.reader, result.record.source_format) == ("pipes", "psv")
    staged = pl.read_parquet(result.path)
    assert staged.select("team", "city", "_source_row").rows() == [
        ("Ravens", "Ottawa", 1),
        ("Gulls", "Halifax", 2),
    ]


def test_unclaimed_files_list_every_plugin_format(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, tmp_path: Path
) -> None:
    register_jobforge_plugin(jobforge_config, PipePlugin(), "pipes")
    source = tmp_path / "notes.xyz"
    source.write_text("hello\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError) as caught:
        PipelineEngine(jobforge_config).ingest(source, "notes")
    assert str(caught.value) == (
        f"{source}: no reader for format 'xyz'; supported formats: "
        "psv, csv, tsv, xlsx, json, ndjson, jsonl, parquet"
    )


def test_the_first_claim_wins_over_the_bundled_reader(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, tmp_path: Path
) -> None:
    class CsvAsPipes:
        @hookimpl
        def jobforge_source_reader(self, source: SourceSpec) -> PipeReader | None:
            return PipeReader(source.path) if source.effective_format == "csv" else None

    register_jobforge_plugin(jobforge_config, CsvAsPipes(), "csv-as-pipes")
    source = tmp_path / "odd.csv"
    source.write_text("a,b|c\n1,2|3\n", encoding="utf-8")
    result = PipelineEngine(jobforge_config).ingest(source, "odd")
    assert result.record is not None and result.record.reader == "csv-as-pipes"
    assert pl.read_parquet(result.path).select("a,b", "c").rows() == [("1,2", "3")]


def test_an_executor_plugin_runs_the_steps(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, ragged_csv: Path
) -> None:
    class CountingExecutor(PolarsExecutor):
        staged_writes = 0

        def write_staged(self, request: StagedRequest) -> StepOutcome:
            CountingExecutor.staged_writes += 1
            return super().write_staged(request)

    class Engine:
        @hookimpl
        def jobforge_executor(self, config: PipelineConfig) -> PolarsExecutor:
            return CountingExecutor()

    register_jobforge_plugin(jobforge_config, Engine(), "counting")
    assert jobforge_config.plugins.implementations("jobforge_executor") == [
        "counting",
        "polars",
        "duckdb",
        "spark",
    ]
    engine = PipelineEngine(jobforge_config)
    assert isinstance(engine.executor, CountingExecutor)
    engine.ingest(ragged_csv, "codes")
    assert CountingExecutor.staged_writes == 1


def test_layout_hooks_move_quarantine_and_catalog(
    jobforge_config: PipelineConfig,
    register_jobforge_plugin: Register,
    ragged_csv: Path,
    tmp_path: Path,
) -> None:
    class Elsewhere:
        @hookimpl
        def jobforge_resolve_quarantine_path(self) -> Path:
            return tmp_path / "rejects"

        @hookimpl
        def jobforge_resolve_catalog_path(self, config: PipelineConfig) -> Path:
            return config.data_root.parent / "meta"

    register_jobforge_plugin(jobforge_config, Elsewhere(), "elsewhere")
    result = PipelineEngine(jobforge_config).ingest(ragged_csv, "codes")
    assert result.quarantine_path is not None
    assert result.quarantine_path.is_relative_to(tmp_path / "rejects" / "codes")
    assert (tmp_path / "meta" / "tables" / "staged" / "codes.json").is_file()
    assert not (jobforge_config.data_root / "catalog" / "tables" / "staged").exists()


class Meddler:
    """Enrichment hooks that change, in place, the metadata they are given (and
    return nothing): the entry must not show it. A later hook sees the values the
    entry holds, not the changes."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    @hookimpl(tryfirst=True)
    def jobforge_enrich_table_metadata(self, metadata: TableMetadata) -> None:
        self.seen.append(("table", metadata.description, list(metadata.upstream_tables)))
        metadata.description = "meddled"
        metadata.upstream_tables.append("gold.nowhere")
        metadata.columns[0].example_values.append("meddled")

    @hookimpl(tryfirst=True)
    def jobforge_enrich_column_metadata(self, column: Any) -> None:
        self.seen.append(("column", column.name, list(column.example_values)))
        column.example_values.clear()
        column.source_columns.append("meddled")


def test_enrichment_hooks_change_an_entry_only_through_their_updates(
    jobforge_config: PipelineConfig, register_jobforge_plugin: Register, tmp_path: Path
) -> None:
    source = tmp_path / "codes.csv"
    source.write_text("code,title\n1,Alpha\n2,Beta\n", encoding="utf-8")
    meddler = register_jobforge_plugin(jobforge_config, Meddler(), "meddler")
    PipelineEngine(jobforge_config).ingest(source, "codes", "noc")
    entry = json.loads(
        (jobforge_config.catalog_tables_path() / "staged" / "codes.json").read_text()
    )
    columns = {c["name"]: c for c in entry["columns"]}
    assert entry["upstream_tables"] == []
    # the bundled JSON catalog (after the meddler) still filled the empty description
    assert entry["description"].startswith("codes in the staged layer")
    assert columns["code"]["example_values"] == ["1", "2"]
    assert columns["title"]["example_values"] == ["Alpha", "Beta"]
    assert all("meddled" not in c["source_columns"] for c in entry["columns"])
    # each call was given the entry's values, whatever the calls before did
    assert meddler.seen[0] == ("table", "", [])
    assert ("column", "code", ["1", "2"]) in meddler.seen
    assert ("column", "title", ["Alpha", "Beta"]) in meddler.seen
