"""A table version whose batches are several part files, under the Delta store
(``[storage] format = "delta"``): one Delta commit adds every part with
jobforge's commit metadata, a batch published again and a replaced version
remove every part of the old one, ``verify`` names a flipped byte in one part,
``--as-of`` reads a version in parts, and compaction merges a staged batch's
parts like single files (and the batch cut out of the compacted file again
has all its rows). Real Delta tables and parquet files; the executor is the
polars one with its outputs cut in two parts (tests/test_version_parts.py),
so no Spark session is needed."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from jobforge import hookimpl
from jobforge.audit.verify import verify
from jobforge.engine.executor import Capabilities, StagedRequest, StepOutcome
from jobforge.engine.maintain import maintain
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.plugin import COMPACTED_PREFIX
from jobforge.query.engine import QueryEngine

from .engine_support import write_csv
from .test_version_parts import InParts, _cut_in_two


class StagedInParts(InParts):
    """Every output in two parts, staged included (compaction merges staged)."""

    name = "staged-in-parts"
    capabilities = Capabilities(transforms=frozenset({"polars"}), files_per_version="many")

    def write_staged(self, request: StagedRequest) -> StepOutcome:
        outcome = super().write_staged(request)
        _cut_in_two(request.pending, request.targets.data)
        return outcome


class Gives:
    jobforge_plugin_name = "gives-staged-in-parts"

    @hookimpl
    def jobforge_executor(self, config: PipelineConfig) -> object:
        return StagedInParts()


ROWS = [["1", "w"], ["2", "x"], ["3", "y"], ["4", "z"]]


def _engine(data: Path) -> PipelineEngine:
    return PipelineEngine(
        PipelineConfig(
            data,
            entry_points=False,
            plugins=[Gives()],
            executor="staged-in-parts",
            storage_format="delta",
        )
    )


def _built(tmp_path: Path) -> PipelineEngine:
    source = write_csv(tmp_path / "t.csv", ["a", "b"], ROWS)
    engine = _engine(tmp_path / "data")
    engine.run_full_pipeline(source, "t")
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, b, _lineage FROM t"))
    return engine


def _delta_files(folder: Path, version: int | None = None) -> list[str]:
    table = DeltaTable(str(folder), version=version)
    return sorted(uri.rsplit("/", 1)[-1] for uri in table.file_uris())


def test_one_delta_commit_adds_every_part_with_jobforges_metadata(tmp_path: Path) -> None:
    engine = _built(tmp_path)
    store = engine.config.store
    assert store.name == "delta" and store.files_per_version == "many"
    for layer, table in (("staged", "t"), ("bronze", "t"), ("silver", "t"), ("gold", "g")):
        current = engine.current(layer, table)
        assert current is not None and len(current.batches) == 1
        batch = current.batches[0]
        stem = batch.file.removesuffix(".parquet")
        assert batch.parts == [f"{stem}.part-00000.parquet", f"{stem}.part-00001.parquet"]
        folder = store.table_dir(layer, table)
        assert _delta_files(folder) == batch.parts
        # the batch's own name is no file: its parts and the Delta log only
        assert sorted(p.name for p in folder.iterdir()) == ["_delta_log", *batch.parts]
        history = DeltaTable(str(folder)).history()
        assert len(history) == 1  # one commit added both parts
        commit = history[0]
        assert commit["jobforge.batch_id"] == batch.batch_id
        assert commit["jobforge.record_id"] == current.record_id
        assert json.loads(commit["jobforge.version"])["batches"][0]["parts"] == batch.parts
        # other engines read the version with both parts, rows in order
        read = pl.read_delta(str(folder))
        assert read["a"].to_list() == ["1", "2", "3", "4"]
        assert read["b"].to_list() == ["w", "x", "y", "z"]
        assert [pq.read_metadata(folder / p).num_rows for p in batch.parts] == [2, 2]


def test_republished_and_replaced_versions_remove_every_old_part(tmp_path: Path) -> None:
    engine = _built(tmp_path)
    store = engine.config.store
    before = {layer: engine.current(layer, t) for layer, t in (("bronze", "t"), ("gold", "g"))}
    engine.promote_to_bronze("t", force=True)  # the same batch published again
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, _lineage FROM t"))
    for layer, table in (("bronze", "t"), ("gold", "g")):
        old, new = before[layer], engine.current(layer, table)
        assert old is not None and new is not None
        assert len(new.batches) == 1
        assert not set(old.batches[0].parts) & set(new.batches[0].parts)
        folder = store.table_dir(layer, table)
        assert _delta_files(folder) == new.batches[0].parts
        assert _delta_files(folder, int(old.extra["delta_version"])) == old.batches[0].parts
        latest = DeltaTable(str(folder))
        removed = sorted(
            r["path"]
            for r in _actions(folder, int(new.extra["delta_version"]))
            if r.get("remove") is not None
            for r in [r["remove"]]
        )
        assert removed == old.batches[0].parts
        assert latest.to_pyarrow_table().num_rows == 4
    # every version is still readable: all its parts are there (history says so)
    for layer, table in (("bronze", "t"), ("gold", "g")):
        history = store.history(layer, table)
        assert history is not None and len(history) == 2
        assert [v.extra["readable"] for v in history] == [True, True]
    # --as-of reads the earlier versions in parts: gold had columns a, b
    first = before["gold"]
    assert first is not None
    with QueryEngine(engine.config, as_of=first.version) as query:
        frame = query.query("SELECT a, b FROM gold.g ORDER BY a")
    assert frame.rows() == [("1", "w"), ("2", "x"), ("3", "y"), ("4", "z")]
    with QueryEngine(engine.config) as query:
        assert query.query("SELECT * FROM gold.g").columns[:1] == ["a"]
        assert "b" not in query.query("SELECT * FROM gold.g").columns
        assert query.query("SELECT count(*) AS n FROM bronze.t")["n"].to_list() == [4]


def _actions(folder: Path, delta_version: int) -> list[dict[str, object]]:
    log = folder / "_delta_log" / f"{delta_version:020d}.json"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_verify_names_a_flipped_byte_in_one_delta_part(tmp_path: Path) -> None:
    engine = _built(tmp_path)
    data = tmp_path / "data"
    report = verify(engine.config)
    assert report.findings == []
    assert report.files_checked >= 8  # two parts in each of staged, bronze, silver, gold
    current = engine.current("silver", "t")
    assert current is not None
    part = engine.config.store.table_dir("silver", "t") / current.batches[0].parts[1]
    content = bytearray(part.read_bytes())
    content[len(content) // 2] ^= 0x01
    part.write_bytes(bytes(content))
    report = verify(engine.config)
    assert [(f.kind, f.table, f.subject) for f in report.findings] == [
        ("changed", "t", part.relative_to(data).as_posix())
    ]


def test_compaction_merges_staged_parts_and_a_batch_cut_out_has_all_its_rows(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path / "data")
    deliveries = [
        write_csv(tmp_path / f"d{n}.csv", ["a", "b"], [[f"{n}{i}", f"r{n}{i}"] for i in range(4)])
        for n in range(1, 4)
    ]
    for path in deliveries:
        engine.ingest(path, "t")
    staged = engine.current("staged", "t")
    assert staged is not None and len(staged.batches) == 3
    assert all(len(b.parts) == 2 for b in staged.batches)
    folder = engine.config.store.table_dir("staged", "t")
    assert len(_delta_files(folder)) == 6

    (result,) = maintain(engine.config, "t", ["staged"])
    compacted = engine.current("staged", "t")
    assert compacted is not None
    files = {b.file for b in compacted.batches}
    assert len(files) == 1 and next(iter(files)).startswith(COMPACTED_PREFIX)
    assert all(b.parts == [] for b in compacted.batches)
    assert _delta_files(folder) == sorted(files)
    (merged,) = result.compacted
    assert sorted(Path(p).name for p in merged["replaced"]) == sorted(
        p for b in staged.batches for p in b.parts
    )
    rows = pq.read_table(folder / next(iter(files)))
    assert rows.num_rows == 12
    assert rows.column("a").to_pylist() == [f"{n}{i}" for n in range(1, 4) for i in range(4)]

    # the second batch cut out of the compacted file: all four of its rows, in order
    second = compacted.batches[1]
    (alone,) = engine.config.store.files_of("staged", "t", second)
    cut = pq.read_table(alone)
    assert cut.column("a").to_pylist() == ["20", "21", "22", "23"]
    assert cut.column("_source_row").to_pylist() == [1, 2, 3, 4]
    # and bronze promoted batch by batch from the compacted staged table reads each
    for staged_batch in compacted.batches:
        engine.promote_to_bronze("t", batch_id=staged_batch.batch_id, mode="append")
    bronze = engine.current("bronze", "t")
    assert bronze is not None
    read = pa.concat_tables(
        pq.read_table(f)
        for b in bronze.batches
        for f in engine.config.store.files_of("bronze", "t", b)
    )
    assert read.column("a").to_pylist() == [f"{n}{i}" for n in range(1, 4) for i in range(4)]
    assert verify(engine.config).findings == []


def test_a_batch_in_parts_counts_all_its_parts_against_the_target_size(tmp_path: Path) -> None:
    """Three staged batches of two parts each. A target just above one part: each
    batch's parts together reach it, so no batch is small and nothing is merged
    (counting the first part alone would merge all three). A target above all six
    parts merges the three batches."""
    engine = _engine(tmp_path / "data")
    for n in range(1, 4):
        rows = [[f"{n}{i}", f"r{n}{i}"] for i in range(4)]
        engine.ingest(write_csv(tmp_path / f"d{n}.csv", ["a", "b"], rows), "t")
    staged = engine.current("staged", "t")
    assert staged is not None
    folder = engine.config.store.table_dir("staged", "t")
    part_sizes = [(folder / p).stat().st_size for b in staged.batches for p in b.parts]
    assert len(part_sizes) == 6

    (kept,) = maintain(engine.config, "t", ["staged"], target_bytes=max(part_sizes) + 1)
    assert kept.compacted == []
    assert engine.current("staged", "t") == staged

    (merged,) = maintain(engine.config, "t", ["staged"], target_bytes=sum(part_sizes) + 1)
    assert len(merged.compacted) == 1
    compacted = engine.current("staged", "t")
    assert compacted is not None and len({b.file for b in compacted.batches}) == 1
