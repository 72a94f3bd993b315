"""A reader that hands the engine Arrow batches only (a third-party plugin's,
``tests/arrow_readers.py``), run under each bundled executor: polars (which then
scans the Arrow stream instead of a polars plan), DuckDB and Spark in local[2]. Each
writes the staged, bronze and silver rows worked out by hand below, with their
provenance, ledgers and the quarantine of the reader's rejects.

The source, line by line after the header (``_source_row``):

1. ``1|Ann|10``        staged, bronze, silver
2. ``2|Bob|x``         staged; bronze quarantine (``x`` is no int)
3. ``3|Cy|7|extra``    the reader's reject (4 fields): staged quarantine
4. ``4|Dee|12``        staged, bronze, silver
5. ``1|Ann|10``        staged, bronze; a duplicate of row 1 in silver
6. ``5|Eve|-3``        staged, bronze; silver quarantine (rule ``score >= 0``)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, Rule, SilverSpec
from jobforge.errors import SourceError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.base import ReadResult
from jobforge.storage import literal

from .arrow_readers import PipePlugin, PipeReader
from .engine_support import lineage_records
from .test_hostile_inputs import written_files

SOURCE = "id|name|score\n1|Ann|10\n2|Bob|x\n3|Cy|7|extra\n4|Dee|12\n1|Ann|10\n5|Eve|-3\n"
BRONZE = BronzeSchema(cast={"score": CastSpec(type="int")})
SILVER = SilverSpec(
    dedupe="row",
    rules=[Rule(id="score_positive", expression="score >= 0", message="no negative score")],
)
EXECUTORS = ["polars", "duckdb", pytest.param("spark", marks=pytest.mark.slow)]
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {"spark": {"spark": {"master": "local[2]"}}}
PROVENANCE = ["_source_file", "_ingested_at", "_batch_id", "_layer", "_source_row"]


def _engine(root: Path, executor: str, plugin: PipePlugin) -> PipelineEngine:
    config = PipelineConfig(
        root,
        entry_points=False,
        executor=executor,
        plugin_settings=SETTINGS.get(executor, {}),
        plugins=[plugin],
    )
    return PipelineEngine(config)


def _read(path: Path | list[Path] | None) -> pl.DataFrame:
    """The rows of a file, or of an output's files (its parts: every one must exist)."""
    paths = path if isinstance(path, list) else [path]
    assert paths and all(p is not None and p.exists() for p in paths), paths
    return literal.scan_parquet([p for p in paths if p is not None]).collect().sort("_source_row")


@pytest.fixture(scope="module", params=EXECUTORS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    executor: str = request.param
    base = tmp_path_factory.mktemp(executor)
    source = base / "people.psv"
    source.write_text(SOURCE, encoding="utf-8")
    plugin = PipePlugin(batch_rows=2)
    engine = _engine(base / "data", executor, plugin)
    assert engine.executor.name == executor
    staged = engine.ingest(source, "people")
    bronze = engine.promote_to_bronze("people", BRONZE)
    silver = engine.promote_to_silver("people", SILVER)
    return engine, plugin, source, staged, bronze, silver


def test_staged_holds_the_records_with_their_provenance(run: Any) -> None:
    _engine, plugin, source, staged, _bronze, _silver = run
    frame = _read(staged.path)
    assert frame.columns == ["id", "name", "score", *PROVENANCE]
    assert frame.select("id", "name", "score", "_source_row").rows() == [
        ("1", "Ann", "10", 1),
        ("2", "Bob", "x", 2),
        ("4", "Dee", "12", 4),
        ("1", "Ann", "10", 5),
        ("5", "Eve", "-3", 6),
    ]
    assert frame.schema["_source_row"] == pl.Int64
    assert frame.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert all(frame.schema[c] == pl.String for c in ("id", "name", "score"))
    assert set(frame["_source_file"]) == {source.as_posix()}
    assert set(frame["_batch_id"]) == {staged.batch_id}
    assert set(frame["_layer"]) == {"staged"}
    assert set(frame["_ingested_at"]) == {staged.record.started_at}
    # The reader that ingested opened each of its streams once (one pass), and
    # parsed the six lines in each; the one claimed for the fingerprint, none.
    assert [(r.opened, r.parsed) for r in plugin.readers] == [(0, 0), (2, 12)]


def test_the_readers_rejects_are_quarantined(run: Any) -> None:
    engine, _plugin, source, staged, _bronze, _silver = run
    (file,) = engine.config.store.set_apart_files("people", "staged")
    rejected = _read(file)
    assert rejected.select(
        "_source_row", "layer", "rule_id", "column", "message", "severity", "row"
    ).rows() == [
        (
            3,
            "staged",
            "bad_record",
            None,
            "line 4: expected 3 fields, found 4",
            "error",
            "3|Cy|7|extra",
        )
    ]
    assert rejected.row(0, named=True)["_source_file"] == source.as_posix()
    assert rejected.row(0, named=True)["_batch_id"] == staged.batch_id
    assert rejected.row(0, named=True)["table_name"] == "people"


def test_the_ledgers_balance_and_the_records_say_so(run: Any) -> None:
    engine, _plugin, _source, staged, bronze, silver = run
    record = staged.record
    assert (record.row_count_in, record.row_count_out, record.rows_quarantined) == (6, 5, 1)
    assert record.status == "partial" and record.reader == "pipe-arrow"
    assert record.source_format == "psv"
    ledger = bronze.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (5, 4, 1)
    assert ledger.balanced
    ledger = silver.record.ledger
    assert (ledger.rows_in, ledger.rows_out) == (4, 2)
    assert (ledger.rows_quarantined, ledger.rows_deduplicated) == (1, 1)
    assert ledger.balanced
    assert silver.record.rule_counts == {"score_positive": 1}
    kinds = [r["record_type"] for r in lineage_records(engine, "people")]
    assert kinds == ["ingestion", "transition", "transition"]


def test_bronze_casts_and_quarantines(run: Any) -> None:
    _engine, _plugin, _source, staged, bronze, _silver = run
    frame = _read(bronze.files)
    assert frame.select("id", "name", "score", "_source_row").rows() == [
        ("1", "Ann", 10, 1),
        ("4", "Dee", 12, 4),
        ("1", "Ann", 10, 5),
        ("5", "Eve", -3, 6),
    ]
    assert frame.schema["score"] == pl.Int64
    assert set(frame["_layer"]) == {"bronze"} and set(frame["_batch_id"]) == {staged.batch_id}
    bad = _read(bronze.quarantine_files)
    assert bad.select("_source_row", "rule_id", "column", "message").rows() == [
        (2, "cast:score", "score", "score: cannot cast 'x' to int")
    ]
    assert json.loads(bad["row"][0]) == {"id": "2", "name": "Bob", "score": "x"}


def test_silver_deduplicates_and_applies_its_rule(run: Any) -> None:
    _engine, _plugin, _source, _staged, _bronze, silver = run
    frame = _read(silver.files)
    assert frame.select("id", "name", "score", "_source_row").rows() == [
        ("1", "Ann", 10, 1),
        ("4", "Dee", 12, 4),
    ]
    assert set(frame["_layer"]) == {"silver"}
    bad = _read(silver.quarantine_files)
    assert bad.select("_source_row", "rule_id", "message").rows() == [
        (6, "score_positive", "no negative score")
    ]
    dups = _read(silver.duplicates_files)
    assert dups.select("_source_row", "duplicate_of").rows() == [(5, 1)]


def test_the_stream_is_lazy_and_can_be_read_again(tmp_path: Path) -> None:
    source = tmp_path / "people.psv"
    source.write_text(SOURCE, encoding="utf-8")
    reader = PipeReader(source, batch_rows=2)
    read = reader.read()
    assert read.records == 6 and (reader.opened, reader.parsed) == (0, 0)
    stream = read.record_batches()
    assert reader.parsed == 0  # opening a stream parses nothing
    first = stream.read_next_batch()
    assert first.num_rows == 2 and reader.parsed == 2
    rest = stream.read_all()
    assert [first.num_rows, rest.num_rows] == [2, 3]
    again = read.record_batches().read_all()
    assert again.column("_source_row").to_pylist() == [1, 2, 4, 5, 6]
    assert again.column("name").to_pylist() == ["Ann", "Bob", "Dee", "Ann", "Eve"]
    assert read.native_plan("polars") is None


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_refusal_half_way_through_the_stream_writes_nothing(
    tmp_path: Path, executor: str
) -> None:
    """The reader finds a bad line only when the stream reaches it, after a first
    batch went to the executor: a refusal, whichever engine read the stream
    (DuckDB reports a Python error inside its scan as its own)."""
    source = tmp_path / "bad.psv"
    source.write_text(SOURCE.replace("1|Ann|10\n5|", "!oops\n5|"), encoding="utf-8")
    root = tmp_path / "data"
    engine = _engine(root, executor, PipePlugin(batch_rows=2))
    with pytest.raises(SourceError) as caught:
        engine.ingest(source, "people")
    assert str(caught.value) == f"{source}: line 6 starts with '!'"
    assert engine.current("staged", "people") is None
    assert written_files(root) == []


def test_a_polars_frame_is_no_stream() -> None:
    """The former contract (a LazyFrame as the records) is refused, saying where
    a reader's own plan goes."""
    frame = pl.LazyFrame({"_source_row": [1]})
    for field in ("batches", "rejected"):
        given = {"batches": frame} if field == "batches" else {"batches": list, "rejected": frame}
        with pytest.raises(TypeError) as caught:
            ReadResult(**given)  # type: ignore[arg-type]
        assert str(caught.value) == (
            f"ReadResult.{field}: expected a function returning a pyarrow.RecordBatchReader, "
            "got LazyFrame (a reader's own plan, such as a polars LazyFrame, goes in native=)"
        )
    with pytest.raises(TypeError, match=r"ReadResult.batches\(\) returned list, expected"):
        ReadResult(batches=list).record_batches()  # type: ignore[arg-type]
