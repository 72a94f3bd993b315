"""Issue 4: failures. A failed transition writes a ``failed`` lineage record, raises
TransitionError and publishes nothing; bad names and unsupported formats are
refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge import hookimpl
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec
from jobforge.errors import (
    InvalidNameError,
    SourceError,
    TransitionError,
    UnsupportedFormatError,
)
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import IngestionRecord, TransitionRecord

from .engine_support import lineage_files, make_engine, sha256_file, tree, write_csv

HEADER = ["code", "amount"]
RECORDS = [["a", "1"], ["b", "2"], ["c", "3"]]


def _drop_batch_id(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.drop("_batch_id")


def _double(frame: pl.LazyFrame) -> pl.LazyFrame:
    return pl.concat([frame, frame])


def _explode(frame: pl.LazyFrame) -> pl.LazyFrame:
    raise RuntimeError("the transform broke")


FAILURES: dict[str, tuple[Callable[[PipelineEngine], Any], str, str, str]] = {
    # name: (call, table whose lineage gets the record, transition kind, error text)
    "rule on a missing column": (
        lambda e: e.promote_to_silver(
            "t", SilverSpec(rules=[Rule(id="r", expression="missing > 1")])
        ),
        "t",
        "bronze-silver",
        "silver t: rule 'r' (missing > 1) is not valid here",
    ),
    "bronze rename of a missing column": (
        lambda e: e.promote_to_bronze("t", BronzeSchema(rename={"nope": "x"})),
        "t",
        "staged-bronze",
        "bronze t: missing source column(s) 'nope'",
    ),
    "cast of an unknown column": (
        lambda e: e.promote_to_bronze("t", BronzeSchema(cast={"nope": "int"})),
        "t",
        "staged-bronze",
        "bronze t: cast names unknown column(s) 'nope'",
    ),
    "new column with on_new_column=fail": (
        lambda e: e.promote_to_bronze("t", BronzeSchema(required=["code"], on_new_column="fail")),
        "t",
        "staged-bronze",
        "bronze t: new source column(s) 'amount' not declared (on_new_column = fail)",
    ),
    "transform that drops provenance": (
        lambda e: e.promote_to_silver("t", SilverSpec(transforms=[_drop_batch_id])),
        "t",
        "bronze-silver",
        "silver t: transforms dropped provenance column(s) _batch_id",
    ),
    "transform that adds rows": (
        lambda e: e.promote_to_silver("t", SilverSpec(transforms=[_double])),
        "t",
        "bronze-silver",
        "silver t: transforms turned 3 rows into 6",
    ),
    "transform that raises": (
        lambda e: e.promote_to_silver("t", SilverSpec(transforms=[_explode])),
        "t",
        "bronze-silver",
        "the transform broke",
    ),
    "gold without _lineage": (
        lambda e: e.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT code FROM t")),
        "g",
        "silver-gold",
        "gold g: the result has no _lineage column",
    ),
    "gold SQL error": (
        lambda e: e.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT nope FROM t")),
        "g",
        "silver-gold",
        'gold g: SQL error: Binder Error: Referenced column "nope" not found',
    ),
}


@pytest.fixture
def loaded(tmp_path: Path) -> PipelineEngine:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "t.csv", HEADER, RECORDS)
    engine.run_full_pipeline(source, "t", bronze_schema=BronzeSchema(cast={"amount": "int"}))
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT * FROM t"))
    return engine


@pytest.mark.parametrize("name", list(FAILURES))
def test_failed_transition_is_recorded_raised_and_publishes_nothing(
    loaded: PipelineEngine, name: str
) -> None:
    call, table, kind, text = FAILURES[name]
    root = loaded.config.data_root
    before = tree(root)
    records_before = lineage_files(loaded, table)
    with pytest.raises(TransitionError) as raised:
        call(loaded)
    message = str(raised.value)
    assert text in message
    assert "\n" not in message  # one line, no traceback
    # exactly one new file: the failed lineage record; data, pointers, quarantine and
    # catalog entries are as they were, and no temporary file is left behind; the
    # table's chain head moved to the failed record (failures are in the chain too)
    after = tree(root)
    (new,) = [p for p in after if p not in before]
    head = f"catalog/chain/{table}.json"
    assert head in before and after[head] != before[head]
    assert {p: h for p, h in after.items() if p not in (new, head)} == {
        p: h for p, h in before.items() if p != head
    }
    assert json.loads((root / head).read_text())["record_id"] in new
    assert new.startswith(f"catalog/lineage/{table}/") and f"-{kind}-" in new
    assert [p for p in lineage_files(loaded, table) if p not in records_before] == [root / new]
    record = TransitionRecord.model_validate(json.loads((root / new).read_text()))
    assert record.status == "failed"
    assert record.row_count_out == 0
    assert record.errors is not None and text in record.errors[0]
    assert record.errors[0] in message


def test_failed_gold_first_build_publishes_no_table(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.run_full_pipeline(write_csv(tmp_path / "t.csv", HEADER, RECORDS), "t")
    with pytest.raises(TransitionError):
        engine.promote_to_gold(GoldSpec(name="fresh", inputs=["t"], sql="SELECT code FROM t"))
    assert engine.current("gold", "fresh") is None
    assert list((engine.config.layer_path("gold") / "fresh").glob("*")) == []
    (record,) = [json.loads(p.read_text()) for p in lineage_files(engine, "fresh")]
    assert record["status"] == "failed" and record["row_count_in"] == 3


BAD_NAMES = ["../x", "a/b", "", "x" * 200, "a\\b", "..", "/abs"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_table_name_is_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "src" / "t.csv", HEADER, RECORDS)
    before = tree(engine.config.data_root)
    with pytest.raises(InvalidNameError, match="invalid table name"):
        engine.ingest(source, bad)
    with pytest.raises(InvalidNameError):
        engine.run_full_pipeline(source, bad)
    with pytest.raises(InvalidNameError):
        engine.promote_to_bronze(bad)
    with pytest.raises(InvalidNameError):
        engine.promote_to_silver(bad)
    # a spec is checked when it is built (pydantic reports the same message)
    with pytest.raises(ValueError, match="invalid table name"):
        GoldSpec(name=bad, inputs=["t"], sql="SELECT * FROM t")
    with pytest.raises(ValueError, match="invalid table name"):
        GoldSpec(name="g", inputs=[bad], sql="SELECT 1")
    assert tree(engine.config.data_root) == before
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bad", ["a/b", "../d", "d/", "x" * 200])
def test_bad_domain_is_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "src" / "t.csv", HEADER, RECORDS)
    before = tree(engine.config.data_root)
    with pytest.raises(InvalidNameError, match="invalid domain"):
        engine.ingest(source, "t", domain=bad)
    with pytest.raises(InvalidNameError, match="invalid domain"):
        engine.run_full_pipeline(source, "t", domain=bad)
    assert tree(engine.config.data_root) == before
    assert engine.current("staged", "t") is None


SUPPORTED = "csv, tsv, xlsx, json, ndjson, jsonl, parquet"


@pytest.mark.parametrize(
    ("file_name", "declared", "shown"),
    [("data.xml", None, "xml"), ("notes.md", None, "md"), ("t.csv", "xml", "xml")],
)
def test_unsupported_format_lists_the_supported_ones(
    tmp_path: Path, file_name: str, declared: str | None, shown: str
) -> None:
    engine = make_engine(tmp_path)
    source = tmp_path / file_name
    source.write_text("code,amount\na,1\n", encoding="utf-8")
    before = tree(engine.config.data_root)
    with pytest.raises(UnsupportedFormatError) as raised:
        engine.ingest(source, "t", format=declared)
    assert str(raised.value) == (
        f"{source}: no reader for format {shown!r}; supported formats: {SUPPORTED}"
    )
    assert raised.value.exit_code == 1
    assert tree(engine.config.data_root) == before
    assert lineage_files(engine, "t") == []


def test_unreadable_source_is_refused_without_a_record(tmp_path: Path) -> None:
    """A file that is not what it claims (invalid JSON) is refused with one line naming
    the file and the place; no data and no lineage record are written."""
    engine = make_engine(tmp_path)
    source = tmp_path / "broken.json"
    source.write_text('[{"a": 1},\n {"a": }]\n', encoding="utf-8")
    before = tree(engine.config.data_root)
    with pytest.raises(SourceError, match=r"broken\.json: invalid JSON at line 2"):
        engine.ingest(source, "broken")
    assert tree(engine.config.data_root) == before


class _BrokenReader:
    format = "csv"

    def read(self) -> Any:
        raise RuntimeError("the disk went away")


class _BrokenReaderPlugin:
    """A plugin whose reader fails while reading (not a refusal of bad input)."""

    @hookimpl
    def jobforge_source_reader(self, source: Any, config: Any) -> Any:
        return _BrokenReader() if source.path.name == "t.csv" else None


def test_failed_ingestion_is_recorded_as_a_failed_ingestion(tmp_path: Path) -> None:
    engine = PipelineEngine(
        PipelineConfig(tmp_path / "data", entry_points=False), plugins=[_BrokenReaderPlugin()]
    )
    source = write_csv(tmp_path / "t.csv", HEADER, RECORDS)
    with pytest.raises(TransitionError, match="source -> staged of 't' failed: RuntimeError"):
        engine.ingest(source, "t")
    (path,) = lineage_files(engine, "t")
    assert "-ingest-" in path.name
    record = IngestionRecord.model_validate_json(path.read_text())
    assert record.status == "failed" and record.errors == ["the disk went away"]
    assert record.source_sha256 == sha256_file(source)
    assert (record.row_count_in, record.row_count_out) == (0, 0)
    assert engine.current("staged", "t") is None
    assert list(engine.config.layer_path("staged").rglob("*.parquet")) == []
