"""Issue 4: quarantine. Casts that fail, rules that fail, duplicates: each rejected
row is in quarantine exactly once with its context, and no row is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.engine.executor import DUPLICATE_COLUMNS, QUARANTINE_COLUMNS
from jobforge.engine.steps import BronzeSchema, CastSpec, Rule, SilverSpec

from .engine_support import REAL, csv_records, current_frame, make_engine, write_csv

HEADER = ["id", "amount", "day", "flag", "note"]
RECORDS = [
    ["1", "10", "2024-01-05", "yes", "all good"],
    ["2", "12x", "2024-01-06", "no", "amount is not a number"],
    ["3", "", "2024-02-30", "true", "no such day; the empty amount is a null"],
    ["4", "1,234", "2024-03-01", "maybe", "not a boolean"],
    ["5", "N/A", "2024-03-02", "N", "N/A means no value"],
    ["6", "7.5", "13/01/2024", "y", "two bad casts"],
    ["7", " 42 ", "2024-04-01", "0", "spaces around the number"],
]
CASTS = BronzeSchema(
    cast={
        "id": "int",
        "amount": CastSpec(type="int", thousands=",", null_values=("N/A",)),
        "day": "date",
        "flag": "bool",
    }
)


def _bronze(tmp_path: Path) -> Any:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "casts.csv", HEADER, RECORDS)
    ingest = engine.ingest(source, "casts")
    return engine, ingest, engine.promote_to_bronze("casts", CASTS)


def test_failed_casts_go_to_quarantine_with_their_context(tmp_path: Path) -> None:
    _engine, ingest, bronze = _bronze(tmp_path)
    assert bronze.record.status == "partial"
    assert bronze.record.ledger.rows_in == 7
    assert bronze.record.ledger.rows_out == 3
    assert bronze.record.ledger.rows_quarantined == 4
    assert bronze.record.quarantine_file == str(bronze.quarantine_path)
    quarantine = pl.read_parquet(bronze.quarantine_path)
    assert tuple(quarantine.columns) == QUARANTINE_COLUMNS
    rows = {r["_source_row"]: r for r in quarantine.to_dicts()}
    assert sorted(rows) == [2, 3, 4, 6]
    assert rows[2]["rule_id"] == "cast:amount"
    assert rows[2]["column"] == "amount"
    assert rows[2]["message"] == "amount: cannot cast '12x' to int"
    assert rows[3]["rule_id"] == "cast:day"
    assert rows[3]["message"] == "day: cannot cast '2024-02-30' to date"
    assert rows[4]["rule_id"] == "cast:flag"
    assert rows[4]["message"] == "flag: cannot cast 'maybe' to bool"
    # a row failing two casts is there once, naming both
    assert rows[6]["rule_id"] == "cast:amount"
    assert rows[6]["column"] == "amount, day"
    assert rows[6]["message"] == (
        "amount: cannot cast '7.5' to int; day: cannot cast '13/01/2024' to date"
    )
    for number, row in rows.items():
        # the original (staged) values, as text
        assert json.loads(row["row"]) == dict(zip(HEADER, RECORDS[number - 1], strict=True))
        assert row["_batch_id"] == ingest.batch_id
        assert row["layer"] == "bronze" and row["table_name"] == "casts"
        assert row["severity"] == "error"
        assert row["_ingested_at"] == ingest.record.started_at
        assert row["quarantined_at"] == bronze.record.started_at


def test_cast_values_that_pass(tmp_path: Path) -> None:
    engine, _ingest, _bronze_result = _bronze(tmp_path)
    bronze = current_frame(engine, "bronze", "casts").sort("_source_row")
    assert bronze["_source_row"].to_list() == [1, 5, 7]
    assert bronze.schema["amount"] == pl.Int64 and bronze.schema["day"] == pl.Date
    assert bronze["amount"].to_list() == [10, None, 42]  # "N/A" is a declared null
    assert bronze["flag"].to_list() == [True, False, False]  # "N" and "0"
    assert bronze["note"].to_list() == [
        "all good",
        "N/A means no value",
        "spaces around the number",
    ]


def test_thousands_separator_and_empty_cell(tmp_path: Path) -> None:
    """ "1,234" with thousands="," is 1234; an empty cell is a null, not a rejection
    (record 3 is rejected for its day only)."""
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "n.csv", ["n"], [["1,234"], [""], ["5"]])
    engine.ingest(source, "numbers")
    result = engine.promote_to_bronze(
        "numbers", BronzeSchema(cast={"n": CastSpec(type="int", thousands=",")})
    )
    assert result.record.ledger.rows_quarantined == 0
    assert current_frame(engine, "bronze", "numbers")["n"].to_list() == [1234, None, 5]


def test_employment_without_null_values_quarantines_the_31_na_rows(tmp_path: Path) -> None:
    source = REAL / "employment_emploi_2024_2033_noc2021.csv"
    header, records = csv_records(source)
    na_rows = [i for i, r in enumerate(records, start=1) if "N/A" in r]
    assert len(na_rows) == 31  # counted with the csv module
    engine = make_engine(tmp_path)
    result = engine.run_full_pipeline(
        source,
        "employment",
        bronze_schema=BronzeSchema(cast={str(y): "int" for y in range(2023, 2034)}),
    )
    ledger = result.bronze.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (533, 502, 31)
    quarantine = pl.read_parquet(result.bronze.quarantine_path)
    assert sorted(quarantine["_source_row"].to_list()) == na_rows
    first = quarantine.sort("_source_row").row(0, named=True)
    raw = dict(zip(header, records[first["_source_row"] - 1], strict=True))
    assert json.loads(first["row"]) == raw
    assert raw["Code"] == "00013" and first["rule_id"] == "cast:2023"
    assert first["column"] == ", ".join(str(y) for y in range(2023, 2034))
    # nothing lost: bronze and quarantine together are the 533 records, once each
    bronze_rows = current_frame(engine, "bronze", "employment")["_source_row"].to_list()
    assert sorted(bronze_rows + quarantine["_source_row"].to_list()) == list(range(1, 534))


RULE_HEADER = ["code", "score", "region"]
RULE_RECORDS = [
    ["A1", "5", "east"],  # 1 passes
    ["A2", "-1", "east"],  # 2 fails score_positive (error)
    ["A3", "150", "west"],  # 3 fails score_max (error) and region_known passes
    ["A4", "7", "north"],  # 4 fails region_known (warn): stays
    ["A5", "", "east"],  # 5 null score: a null result passes the rules
    ["A6", "-3", "north"],  # 6 fails score_positive and region_known: quarantined once
]
RULES = [
    Rule(id="score_positive", expression="score > 0", message="score must be positive"),
    Rule(id="score_max", expression="score <= 100"),
    Rule(id="region_known", expression="region IN ('east', 'west')", severity="warn"),
]


def _silver_rules(tmp_path: Path) -> Any:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "scores.csv", RULE_HEADER, RULE_RECORDS)
    result = engine.run_full_pipeline(
        source,
        "scores",
        bronze_schema=BronzeSchema(cast={"score": "int"}),
        silver=SilverSpec(rules=RULES),
    )
    return engine, result


def test_error_rules_quarantine_and_warn_rules_count(tmp_path: Path) -> None:
    engine, result = _silver_rules(tmp_path)
    record = result.silver.record
    assert record.status == "partial"
    assert (record.ledger.rows_in, record.ledger.rows_out) == (6, 3)
    assert record.ledger.rows_quarantined == 3
    assert record.ledger.rows_warned == 1  # record 4 (record 6 is quarantined)
    assert record.rule_counts == {"score_positive": 2, "score_max": 1, "region_known": 2}
    assert "rule:region_known:warn" in record.transforms_applied
    silver = current_frame(engine, "silver", "scores").sort("_source_row")
    assert silver["_source_row"].to_list() == [1, 4, 5]
    quarantine = pl.read_parquet(result.silver.quarantine_path)
    rows = {r["_source_row"]: r for r in quarantine.to_dicts()}
    assert sorted(rows) == [2, 3, 6]
    assert (rows[2]["rule_id"], rows[2]["column"], rows[2]["message"]) == (
        "score_positive",
        "score",
        "score must be positive",
    )
    assert (rows[3]["rule_id"], rows[3]["message"]) == ("score_max", "failed: score <= 100")
    # only error rules send a row to quarantine; the warn rule is not named there
    assert (rows[6]["rule_id"], rows[6]["message"]) == ("score_positive", "score must be positive")
    for number, row in rows.items():
        assert row["layer"] == "silver" and row["severity"] == "error"
        assert row["_batch_id"] == result.batch_id
        original = dict(zip(RULE_HEADER, RULE_RECORDS[number - 1], strict=True))
        # the row as it was in bronze: score already an int
        assert json.loads(row["row"]) == {**original, "score": int(original["score"])}


def test_row_failing_two_error_rules_is_quarantined_once(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "two.csv", ["a", "b"], [["1", "1"], ["-1", "-1"]])
    result = engine.run_full_pipeline(
        source,
        "two",
        bronze_schema=BronzeSchema(cast={"a": "int", "b": "int"}),
        silver=SilverSpec(
            rules=[Rule(id="a_pos", expression="a > 0"), Rule(id="b_pos", expression="b > 0")]
        ),
    )
    (row,) = pl.read_parquet(result.silver.quarantine_path).to_dicts()
    assert row["_source_row"] == 2
    assert row["rule_id"] == "a_pos"
    assert row["column"] == "a; b"
    assert row["message"] == "failed: a > 0; failed: b > 0"
    assert result.silver.record.rule_counts == {"a_pos": 1, "b_pos": 1}
    assert result.silver.record.ledger.rows_quarantined == 1


DUP_HEADER = ["key", "value", "note"]
DUP_RECORDS = [
    ["k1", "1", "first"],  # 1
    ["k2", "2", "x"],  # 2
    ["k1", "1", "first"],  # 3 same row as 1
    ["k3", "3", "y"],  # 4
    ["k2", "9", "other value"],  # 5 same key as 2, different row
    ["k1", "1", "first"],  # 6 same row as 1 again
]


@pytest.mark.parametrize(
    ("dedupe", "kept", "dropped"),
    [
        ("row", [1, 2, 4, 5], {3: 1, 6: 1}),
        (["key"], [1, 2, 4], {3: 1, 5: 2, 6: 1}),
        ("none", [1, 2, 3, 4, 5, 6], {}),
    ],
)
def test_duplicates_keep_the_earliest_source_row(
    tmp_path: Path, dedupe: Any, kept: list[int], dropped: dict[int, int]
) -> None:
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "dups.csv", DUP_HEADER, DUP_RECORDS)
    result = engine.run_full_pipeline(source, "dups", silver=SilverSpec(dedupe=dedupe))
    silver = current_frame(engine, "silver", "dups")
    assert sorted(silver["_source_row"].to_list()) == kept
    ledger = result.silver.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_deduplicated) == (
        6,
        len(kept),
        len(dropped),
    )
    assert result.silver.record.status == "success"  # dropping duplicates is not a rejection
    if not dropped:
        assert result.silver.duplicates_path is None
        assert not (engine.config.quarantine_path() / "dups" / "duplicates").exists()
        return
    duplicates = pl.read_parquet(result.silver.duplicates_path)
    assert tuple(duplicates.columns) == DUPLICATE_COLUMNS
    assert sorted(duplicates["_source_row"].to_list()) == sorted(dropped)
    # each dropped copy names the kept row it equals
    assert dict(zip(duplicates["_source_row"], duplicates["duplicate_of"], strict=True)) == dropped
    for row in duplicates.to_dicts():
        assert json.loads(row["row"]) == dict(
            zip(DUP_HEADER, DUP_RECORDS[row["_source_row"] - 1], strict=True)
        )
        assert row["_batch_id"] == result.batch_id
    expected = "dedupe:row" if dedupe == "row" else "dedupe:key"
    assert expected in result.silver.record.transforms_applied


def test_real_duplicates_in_the_onet_crosswalk(tmp_path: Path) -> None:
    """noc2021_onet26.csv repeats 78 (noc, onet) pairs; the first is records 280 and 281
    (22101, 19-4043.00): 280 is kept, 281 is the duplicate."""
    engine = make_engine(tmp_path)
    result = engine.run_full_pipeline(
        REAL / "noc2021_onet26.csv", "noc_onet", silver=SilverSpec(dedupe=["noc", "onet"])
    )
    assert result.silver.record.ledger.rows_deduplicated == 78
    assert result.silver.record.ledger.rows_out == 1389
    duplicates = pl.read_parquet(result.silver.duplicates_path)
    silver = current_frame(engine, "silver", "noc_onet")
    assert 281 in duplicates["_source_row"].to_list()
    assert 280 in silver["_source_row"].to_list()
    assert duplicates.filter(pl.col("_source_row") == 281)["duplicate_of"].to_list() == [280]
    pair = silver.filter((pl.col("noc") == "22101") & (pl.col("onet") == "19-4043.00"))
    assert pair["_source_row"].to_list() == [280]
    # whole-row dedupe finds none: the repeated pairs differ in a title
    whole = engine.promote_to_silver("noc_onet", SilverSpec(dedupe="row"))
    assert whole.record.ledger.rows_deduplicated == 0


def test_nothing_is_lost_between_bronze_and_silver(tmp_path: Path) -> None:
    """Rule rejections and duplicates together: every bronze row is in exactly one of
    silver, silver quarantine or the duplicates file."""
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "mix.csv", DUP_HEADER, [*DUP_RECORDS, ["k4", "-5", "bad"]])
    result = engine.run_full_pipeline(
        source,
        "mix",
        bronze_schema=BronzeSchema(cast={"value": "int"}),
        silver=SilverSpec(dedupe=["key"], rules=[Rule(id="positive", expression="value > 0")]),
    )
    silver = current_frame(engine, "silver", "mix")["_source_row"].to_list()
    quarantined = pl.read_parquet(result.silver.quarantine_path)["_source_row"].to_list()
    duplicates = pl.read_parquet(result.silver.duplicates_path)["_source_row"].to_list()
    assert (sorted(silver), quarantined, sorted(duplicates)) == ([1, 2, 4], [7], [3, 5, 6])
    assert sorted(silver + quarantined + duplicates) == list(range(1, 8))
    ledger = result.silver.record.ledger
    assert (
        ledger.rows_in == 7 == ledger.rows_out + ledger.rows_quarantined + ledger.rows_deduplicated
    )


def test_ragged_csv_record_is_quarantined_at_ingestion(tmp_path: Path) -> None:
    """A record the reader cannot split into the header's fields is kept in the staged
    quarantine with its raw fields; the ingestion is partial and balances."""
    source = tmp_path / "ragged.csv"
    source.write_text("a,b\n1,2\n3,4,5\n6,7\n", encoding="utf-8")
    engine = make_engine(tmp_path)
    result = engine.ingest(source, "ragged")
    record = result.record
    assert (record.row_count_in, record.row_count_out, record.rows_quarantined) == (3, 2, 1)
    assert record.status == "partial"
    assert pl.read_parquet(result.path)["_source_row"].to_list() == [1, 3]
    (row,) = pl.read_parquet(result.quarantine_path).to_dicts()
    assert row["_source_row"] == 2 and row["layer"] == "staged"
    assert json.loads(row["row"]) == ["3", "4", "5"]
    assert row["rule_id"] == "ragged_record"
    assert row["_batch_id"] == result.batch_id


def test_quarantine_is_kept_per_batch_across_runs(tmp_path: Path) -> None:
    """Two batches with rejected rows: both quarantine files stay (one per batch)."""
    engine = make_engine(tmp_path, mode="append")
    first = write_csv(tmp_path / "a.csv", ["n"], [["1"], ["x"]])
    second = write_csv(tmp_path / "b.csv", ["n"], [["y"], ["2"], ["z"]])
    schema = BronzeSchema(cast={"n": "int"})
    one = engine.run_full_pipeline(first, "runs", bronze_schema=schema)
    two = engine.run_full_pipeline(second, "runs", bronze_schema=schema)
    folder = engine.config.quarantine_path() / "runs" / "bronze"
    files = sorted(p.name for p in folder.glob("*.parquet"))
    assert files == sorted([f"batch={one.batch_id}.parquet", f"batch={two.batch_id}.parquet"])
    everything = pl.read_parquet(folder / "*.parquet")
    assert sorted(zip(everything["_batch_id"], everything["_source_row"], strict=True)) == sorted(
        [(one.batch_id, 2), (two.batch_id, 1), (two.batch_id, 3)]
    )
    assert sorted(current_frame(engine, "bronze", "runs")["n"].to_list()) == [1, 2]


def _keep_small_keys(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col("key") != "k3")


@pytest.mark.parametrize(
    "rules",
    [[], [Rule(id="w", expression="value < 5", severity="warn")]],
    ids=["no rules", "warn rule only"],
)
def test_rows_a_silver_transform_removes_are_counted_as_filtered(
    tmp_path: Path, rules: list[Rule]
) -> None:
    """Records 1-6 of DUP_RECORDS, de-duplicated on key (3, 5, 6 dropped), then a
    transform removes k3 (record 4): 6 = 2 out + 3 deduplicated + 1 filtered."""
    engine = make_engine(tmp_path)
    source = write_csv(tmp_path / "f.csv", DUP_HEADER, DUP_RECORDS)
    result = engine.run_full_pipeline(
        source,
        "filtered",
        bronze_schema=BronzeSchema(cast={"value": "int"}),
        silver=SilverSpec(dedupe=["key"], rules=rules, transforms=[_keep_small_keys]),
    )
    ledger = result.silver.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_deduplicated, ledger.rows_filtered) == (
        6,
        2,
        3,
        1,
    )
    assert ledger.rows_quarantined == 0 and ledger.balanced
    assert sorted(current_frame(engine, "silver", "filtered")["_source_row"].to_list()) == [1, 2]
    assert f"transform:{__name__}:_keep_small_keys" in result.silver.record.transforms_applied
    if rules:  # record 5 (value 9) fails the warn rule; it is a duplicate, counted before dedupe
        assert result.silver.record.rule_counts == {"w": 1}
