"""A table version whose batches are several part files (an executor with
``files_per_version = "many"``, as the Spark executor writes them), under the
parquet store: names, row order, the record's digests, reading downstream and
``verify`` (real parquet files; the executor is the polars one, its outputs cut
in two parts, so this runs without a Spark session)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobforge_polars.executor import PolarsExecutor

from jobforge import hookimpl
from jobforge.audit.verify import verify
from jobforge.engine.executor import (
    BronzeRequest,
    Capabilities,
    GoldRequest,
    SilverRequest,
    StepOutcome,
)
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import versions
from jobforge.storage.pending import PendingFiles

from .engine_support import write_csv
from .reliability import warehouse


def _cut_in_two(pending: PendingFiles, final: Path) -> None:
    """Replace the one file written for ``final`` by two part files (rows in order)."""
    whole = pending.written(final)
    assert whole is not None
    table = pq.read_table(whole)
    half = table.num_rows // 2
    for index, rows in enumerate((table.slice(0, half), table.slice(half))):
        pq.write_table(rows, pending.part_for(final, index))
    whole.unlink()


class InParts(PolarsExecutor):
    name = "in-parts"
    capabilities = Capabilities(transforms=frozenset({"polars"}), files_per_version="many")

    def write_bronze(self, request: BronzeRequest) -> StepOutcome:
        outcome = super().write_bronze(request)
        _cut_in_two(request.pending, request.targets.data)
        return outcome

    def write_silver(self, request: SilverRequest) -> StepOutcome:
        outcome = super().write_silver(request)
        _cut_in_two(request.pending, request.targets.data)
        return outcome

    def write_gold(self, request: GoldRequest) -> StepOutcome:
        outcome = super().write_gold(request)
        _cut_in_two(request.pending, request.targets.data)
        return outcome


class Gives:
    jobforge_plugin_name = "gives-in-parts"

    @hookimpl
    def jobforge_executor(self, config: PipelineConfig) -> object:
        return InParts()


def _engine(data: Path) -> PipelineEngine:
    return PipelineEngine(
        PipelineConfig(data, entry_points=False, plugins=[Gives()], executor="in-parts")
    )


def _built(tmp_path: Path) -> PipelineEngine:
    source = write_csv(
        tmp_path / "t.csv", ["a", "b"], [["1", "w"], ["2", "x"], ["3", "y"], ["4", "z"]]
    )
    engine = _engine(tmp_path / "data")
    engine.run_full_pipeline(source, "t")
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, b, _lineage FROM t"))
    return engine


def test_a_version_in_parts_lists_them_in_row_order_and_downstream_reads_them(
    tmp_path: Path,
) -> None:
    engine = _built(tmp_path)
    for layer, table in (("bronze", "t"), ("silver", "t"), ("gold", "g")):
        current = engine.current(layer, table)
        assert current is not None and len(current.batches) == 1
        batch = current.batches[0]
        stem = batch.file.removesuffix(".parquet")
        assert batch.parts == [f"{stem}.part-00000.parquet", f"{stem}.part-00001.parquet"]
        folder = engine.config.store.table_dir(layer, table)
        # the batch's own name is no file: only its parts and the pointer are there
        assert sorted(p.name for p in folder.iterdir()) == ["_current.json", *batch.parts]
        files = engine.config.store.files(layer, table, current)
        assert [f.name for f in files] == batch.parts
        assert [pq.read_metadata(f).num_rows for f in files] == [2, 2]
        rows = pa.concat_tables(pq.read_table(f) for f in files)
        assert rows.column("a").to_pylist() == ["1", "2", "3", "4"]  # no cast declared
        assert rows.column("b").to_pylist() == ["w", "x", "y", "z"]
        if layer != "gold":
            assert rows.column("_source_row").to_pylist() == [1, 2, 3, 4]
        assert batch.rows == 4


def test_the_record_holds_every_part_and_verify_names_a_flipped_byte_in_one(
    tmp_path: Path,
) -> None:
    engine = _built(tmp_path)
    data = tmp_path / "data"
    current = engine.current("silver", "t")
    assert current is not None
    record_files = sorted((data / "catalog/lineage/t").glob("*.json"))
    made = [json.loads(p.read_text()) for p in record_files]
    silver = next(r for r in made if r.get("target_layer") == "silver")
    folder = engine.config.store.table_dir("silver", "t")
    parts = [folder / name for name in current.batches[0].parts]
    digests = {f["path"]: f for f in silver["files"] if f["role"] == "data"}
    assert sorted(digests) == sorted(p.relative_to(data).as_posix() for p in parts)
    for part in parts:
        found = digests[part.relative_to(data).as_posix()]
        assert found["size_bytes"] == part.stat().st_size
    # silver read both bronze parts: one input per part, same batch and record
    bronze = engine.current("bronze", "t")
    assert bronze is not None
    bronze_dir = engine.config.store.table_dir("bronze", "t")
    assert [i["file"] for i in silver["inputs"]] == [
        str(bronze_dir / n) for n in bronze.batches[0].parts
    ]
    assert {i["record_id"] for i in silver["inputs"]} == {bronze.batches[0].record_id}

    report = verify(engine.config)
    assert report.findings == []
    assert report.files_checked >= 6  # two parts in each of bronze, silver and gold

    content = bytearray(parts[1].read_bytes())
    content[len(content) // 2] ^= 0x01
    parts[1].write_bytes(bytes(content))
    report = verify(engine.config)
    assert [(f.kind, f.table, f.subject) for f in report.findings] == [
        ("changed", "t", parts[1].relative_to(data).as_posix())
    ]


def test_a_batch_published_again_gets_names_free_of_the_earlier_parts(tmp_path: Path) -> None:
    engine = _built(tmp_path)
    before = engine.current("bronze", "t")
    assert before is not None
    engine.promote_to_bronze("t", force=True)
    after = engine.current("bronze", "t")
    assert after is not None
    assert after.batches[0].file != before.batches[0].file
    assert not set(after.batches[0].parts) & set(before.batches[0].parts)
    folder = engine.config.store.table_dir("bronze", "t")
    assert all((folder / n).is_file() for n in after.batches[0].parts)


def test_a_name_whose_first_part_exists_is_taken(tmp_path: Path) -> None:
    (tmp_path / versions.part_file_name("batch=b1.parquet", 0)).write_bytes(b"")
    assert versions.new_batch_file_name("b1", 2, [tmp_path]) == "batch=b1-v2.parquet"
    assert versions.part_file_name("batch=b1-v2.parquet", 12) == "batch=b1-v2.part-00012.parquet"
    assert not os.path.exists(tmp_path / "batch=b1.parquet")


def test_the_crash_trials_checks_read_every_part(tmp_path: Path) -> None:
    """``check_consistency`` (every crash trial's promises) holds on versions in
    parts and names a part that is missing."""
    engine = _built(tmp_path)
    data = tmp_path / "data"
    findings = warehouse.check_consistency(data, recovered=True)
    assert findings.files_checked >= 6  # two parts in each of bronze, silver and gold
    current = engine.current("silver", "t")
    assert current is not None
    part = current.batches[0].parts[1]
    (engine.config.store.table_dir("silver", "t") / part).unlink()
    with pytest.raises(AssertionError, match=f"silver.t lists missing {re.escape(part)}"):
        warehouse.check_consistency(data, recovered=True)
