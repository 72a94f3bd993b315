"""Issue 4: running again. Identical file (skipped), forced re-ingestion (a new
batch), replace and append modes, and replay from staged."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.status import warehouse_status
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, SilverSpec
from jobforge.storage.versions import WriteMode

from .engine_support import (
    REAL,
    current_frame,
    current_quarantine,
    lineage_files,
    lineage_records,
    make_engine,
    quarantine_files,
    sha256_file,
    write_csv,
)

NOC = REAL / "noc_structure_en.csv"
NOC_BRONZE = BronzeSchema(
    rename={"Code - NOC 2021 V1.0": "code", "Level": "level"}, cast={"level": "int"}
)
LEVELS = GoldSpec(
    name="levels",
    inputs=["noc"],
    sql="SELECT level, count(*) AS n, flatten(list(_lineage)) AS _lineage FROM noc GROUP BY level",
)
EMPLOYMENT = REAL / "employment_emploi_2024_2033_noc2021.csv"


def _years(null_values: tuple[str, ...] = ()) -> BronzeSchema:
    return BronzeSchema(
        cast={str(y): CastSpec(type="int", null_values=null_values) for y in range(2023, 2034)}
    )


def _sorted_gold(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path).drop("_processed_at")
    return frame.with_columns(pl.col("_lineage").list.sort()).sort("level")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_identical_run_again_is_up_to_date_and_writes_nothing(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    first = engine.run_full_pipeline(NOC, "noc", bronze_schema=NOC_BRONZE, gold_transforms=[LEVELS])
    before = {p: p.read_bytes() for p in _files(engine.config.data_root)}
    again = engine.run_full_pipeline(NOC, "noc", bronze_schema=NOC_BRONZE, gold_transforms=[LEVELS])

    assert again.ingest.skipped is True and again.ingest.record is None
    assert again.ingest.reason == "up to date" and again.ingest.duplicate_of is None
    assert again.batch_id == first.batch_id and again.ingest.rows == 822
    for step, earlier in [(again.bronze, first.bronze), (again.silver, first.silver)]:
        assert step.up_to_date and step.reason == "up to date"
        assert step.record == earlier.record and step.path == earlier.path
    assert again.gold[0].up_to_date and again.gold[0].record == first.gold[0].record
    # not a byte written: no data file, no record, no pointer, no catalog entry
    assert {p: p.read_bytes() for p in _files(engine.config.data_root)} == before
    kinds = [r.get("source_layer", "ingest") for r in lineage_records(engine, "noc")]
    assert kinds == ["ingest", "staged", "bronze"]


def test_a_batch_promoted_again_gets_fresh_files(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    first = engine.run_full_pipeline(NOC, "noc", bronze_schema=NOC_BRONZE, gold_transforms=[LEVELS])
    staged_version = engine.current("staged", "noc")
    bronze = engine.promote_to_bronze("noc", NOC_BRONZE, force=True)
    silver = engine.promote_to_silver("noc", force=True)
    gold = engine.promote_to_gold(LEVELS, force=True)

    assert engine.current("staged", "noc") == staged_version  # nothing re-ingested
    assert len(list(first.ingest.path.parent.glob("*.parquet"))) == 1
    kinds = [r.get("source_layer", "ingest") for r in lineage_records(engine, "noc")]
    # one ingestion, then two promotions per run
    assert kinds == ["ingest", "staged", "bronze", "staged", "bronze"]
    assert bronze.batch_id == first.batch_id and not bronze.up_to_date
    assert bronze.reason == "forced"
    assert bronze.record.transition_id != first.bronze.record.transition_id
    assert bronze.path != first.bronze.path and first.bronze.path.exists()
    assert silver.record.ledger == first.silver.record.ledger
    # gold is identical except the time it was built
    assert gold.path != first.gold[0].path
    assert _sorted_gold(gold.path).equals(_sorted_gold(first.gold[0].path))
    assert engine.current("gold", "levels").files(gold.path.parent) == [gold.path]
    # the table versions count the publications
    assert (engine.current("bronze", "noc").version, engine.current("silver", "noc").version) == (
        2,
        2,
    )


def test_force_reingests_as_a_new_batch(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    first = engine.ingest(NOC, "noc")
    forced = engine.ingest(NOC, "noc", force=True)
    assert forced.skipped is False and forced.batch_id != first.batch_id
    assert forced.record.source_sha256 == first.record.source_sha256 == sha256_file(NOC)
    staged = engine.current("staged", "noc")
    assert [b.batch_id for b in staged.batches] == [first.batch_id, forced.batch_id]
    assert staged.row_count == 2 * 822
    assert [b.source_sha256 for b in staged.batches] == [sha256_file(NOC)] * 2
    ingestions = [r for r in lineage_records(engine, "noc") if r["record_type"] == "ingestion"]
    assert [r["batch_id"] for r in ingestions] == [first.batch_id, forced.batch_id]
    # promotion takes the latest batch by default; replace mode keeps only it
    bronze = engine.promote_to_bronze("noc", NOC_BRONZE)
    assert bronze.batch_id == forced.batch_id
    frame = current_frame(engine, "bronze", "noc")
    assert frame["_batch_id"].unique().to_list() == [forced.batch_id]
    assert frame.height == 822
    assert frame["_ingested_at"].unique().to_list() == [forced.record.started_at]


V1 = [["a", "1"], ["b", "2"], ["c", "3"]]
V2 = [["c", "30"], ["d", "4"]]


def _two_versions(tmp_path: Path, mode: WriteMode) -> tuple[PipelineEngine, str, str]:
    engine = make_engine(tmp_path / mode, mode=mode)
    schema = BronzeSchema(cast={"value": "int"})
    one = engine.run_full_pipeline(
        write_csv(tmp_path / "v1.csv", ["key", "value"], V1), "t", bronze_schema=schema
    )
    two = engine.run_full_pipeline(
        write_csv(tmp_path / "v2.csv", ["key", "value"], V2), "t", bronze_schema=schema
    )
    return engine, one.batch_id, two.batch_id


def test_replace_mode_keeps_only_the_latest_batch(tmp_path: Path) -> None:
    engine, one, two = _two_versions(tmp_path, "replace")
    for layer in ("bronze", "silver"):
        current = engine.current(layer, "t")
        assert current.mode == "replace"
        assert [b.batch_id for b in current.batches] == [two]
        frame = current_frame(engine, layer, "t").sort("key")
        assert frame.select("key", "value").rows() == [("c", 30), ("d", 4)]
        # the earlier batch's file is kept on disk, only the pointer moved
        folder = engine.config.layer_path(layer) / "t"
        assert (folder / f"batch={one}.parquet").exists()
    assert [b.batch_id for b in engine.current("staged", "t").batches] == [one, two]


def test_append_mode_adds_each_batch(tmp_path: Path) -> None:
    engine, one, two = _two_versions(tmp_path, "append")
    current = engine.current("silver", "t")
    assert current.mode == "append"
    assert [b.batch_id for b in current.batches] == [one, two]
    frame = current_frame(engine, "silver", "t")
    assert sorted(frame.select("key", "value", "_batch_id").rows()) == [
        ("a", 1, one),
        ("b", 2, one),
        ("c", 3, one),
        ("c", 30, two),
        ("d", 4, two),
    ]
    gold = engine.promote_to_gold(
        GoldSpec(
            name="total",
            inputs=["t"],
            sql="SELECT sum(value) AS total, flatten(list(_lineage)) AS _lineage FROM t",
        )
    )
    row = pl.read_parquet(gold.path).row(0, named=True)
    assert row["total"] == 40
    assert sorted(row["_lineage"]) == sorted(
        [f"t:{one}:1", f"t:{one}:2", f"t:{one}:3", f"t:{two}:1", f"t:{two}:2"]
    )
    # promoting a batch that is already in the version again does not add it twice
    engine.promote_to_silver("t", batch_id=one)
    assert sorted(b.batch_id for b in engine.current("silver", "t").batches) == sorted([one, two])
    assert current_frame(engine, "silver", "t").height == 5


def test_mode_can_be_chosen_per_promotion(tmp_path: Path) -> None:
    engine, _one, two = _two_versions(tmp_path, "append")
    engine.promote_to_silver("t", batch_id=two, mode="replace")
    assert [b.batch_id for b in engine.current("silver", "t").batches] == [two]


def test_replay_rederives_from_staged(tmp_path: Path) -> None:
    """Bronze and silver rebuilt from the staged batch with a corrected schema: the 31
    rows rejected for "N/A" come back. The first run's quarantine file is kept (its
    record names it) but is not the quarantine of the current version."""
    engine = make_engine(tmp_path)
    first = engine.run_full_pipeline(EMPLOYMENT, "employment", bronze_schema=_years())
    batch = first.batch_id
    assert first.bronze.record.ledger.rows_quarantined == 31
    first_quarantine = first.bronze.quarantine_path
    assert first_quarantine.name == f"batch={batch}.parquet"
    assert current_quarantine(engine, "employment", "bronze") == [first_quarantine]

    results = engine.replay("employment", _years(("N/A",)), SilverSpec(dedupe=["Code"]))
    assert [(r.layer, r.batch_id) for r in results] == [("bronze", batch), ("silver", batch)]
    bronze = results[0]
    assert bronze.record.ledger.rows_out == 533 and bronze.record.status == "success"
    # a new file for the same batch; the published one is never overwritten
    assert bronze.path.name == f"batch={batch}-v2.parquet"
    assert first.bronze.path.exists() and first.bronze.path != bronze.path
    assert bronze.quarantine_path is None
    assert current_quarantine(engine, "employment", "bronze") == []
    assert quarantine_files(engine, "employment", "bronze") == [first_quarantine]
    assert pl.read_parquet(first_quarantine).height == 31
    assert current_frame(engine, "silver", "employment").height == 533
    # staged was not touched: one ingestion record, one staged batch file
    ingestions = [p for p in lineage_files(engine, "employment") if "-ingest-" in p.name]
    assert len(ingestions) == 1
    assert [b.batch_id for b in engine.current("staged", "employment").batches] == [batch]

    # replaying with the original schema rejects the same 31 rows again: in a new file,
    # the one that goes with the current version
    again = engine.replay("employment", _years())[0]
    assert again.quarantine_path.name == f"batch={batch}-v3.parquet"
    (current,) = current_quarantine(engine, "employment", "bronze")
    assert current == again.quarantine_path
    assert pl.read_parquet(current).height == 31
    assert again.record.quarantine_file == str(current)
    assert first.bronze.record.quarantine_file == str(first_quarantine)


def test_replay_in_append_mode_rebuilds_every_batch(tmp_path: Path) -> None:
    engine, one, two = _two_versions(tmp_path, "append")
    results = engine.replay("t", BronzeSchema(cast={"value": "float"}))
    assert [(r.layer, r.batch_id) for r in results] == [
        ("bronze", one),
        ("silver", one),
        ("bronze", two),
        ("silver", two),
    ]
    frame = current_frame(engine, "silver", "t")
    assert frame.schema["value"] == pl.Float64
    assert sorted(frame["value"].to_list()) == [1.0, 2.0, 3.0, 4.0, 30.0]
    assert [b.batch_id for b in engine.current("silver", "t").batches] == [one, two]


def test_rerun_keeps_each_runs_quarantine_file(tmp_path: Path) -> None:
    """Re-running on the identical file promotes its batch again: that run's rejected
    rows are in a new file beside the first run's, never written over it."""
    engine = make_engine(tmp_path)
    first = engine.run_full_pipeline(EMPLOYMENT, "employment", bronze_schema=_years())
    first_bytes = first.bronze.quarantine_path.read_bytes()
    again = engine.run_full_pipeline(EMPLOYMENT, "employment", bronze_schema=_years())
    assert again.ingest.skipped and again.bronze.up_to_date  # nothing changed: nothing run
    assert again.bronze.quarantine_path is None
    again = engine.run_full_pipeline(EMPLOYMENT, "employment", bronze_schema=_years(("x",)))
    assert again.ingest.skipped and again.batch_id == first.batch_id
    assert again.bronze.reason == "bronze cast changed"
    assert again.bronze.quarantine_path != first.bronze.quarantine_path
    assert first.bronze.quarantine_path.read_bytes() == first_bytes
    assert quarantine_files(engine, "employment", "bronze") == sorted(
        [first.bronze.quarantine_path, again.bronze.quarantine_path]
    )
    assert current_quarantine(engine, "employment", "bronze") == [again.bronze.quarantine_path]
    rows = pl.read_parquet(again.bronze.quarantine_path)["_source_row"].to_list()
    assert rows == pl.read_parquet(first.bronze.quarantine_path)["_source_row"].to_list()
    assert len(rows) == 31
    # the warehouse status counts the current version's rejected rows once
    status = {(s.layer, s.table): s for s in warehouse_status(engine.config)}
    assert status[("bronze", "employment")].quarantined_rows == 31
    assert status[("bronze", "employment")].rows == 502
