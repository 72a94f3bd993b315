"""Issue 4: a gold table joining COPS employment projections with the NOC structure.

Expected values were read from the two CSV files directly, e.g.::

    grep -n '^00010,' employment_emploi_2024_2033_noc2021.csv   -> line 19 (record 18)
    grep -n ',00010,' noc_structure_en.csv                       -> line 6  (record 5)

and the join size counted with Python's csv module: the 516 unit groups
(Level 5) of the NOC structure all have a row in the employment file (whose
517 five-digit codes are those 516 plus the total "00000"); 31 of them are
"N/A" in every year.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.provenance import parse_lineage_key
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, SilverSpec
from jobforge.pipeline.models import IngestionRecord, TransitionRecord

from .engine_support import REAL, csv_records, make_engine, sha256_file

EMPLOYMENT = REAL / "employment_emploi_2024_2033_noc2021.csv"
NOC = REAL / "noc_structure_en.csv"

JOIN_SQL = """
SELECT e.noc_code, n."Class title" AS class_title, e."2023" AS employment_2023,
       e."2033" AS employment_2033, list_concat(e._lineage, n._lineage) AS _lineage
FROM employment AS e JOIN noc_structure AS n ON e.noc_code = n.code
WHERE n.level = 5
"""

# noc code -> (employment record, noc record, class title, 2023, 2033), all read from the files
HAND_CHECKED = {
    "00010": (18, 5, "Legislators", 4700, 5000),
    "00012": (
        20,
        7,
        "Senior managers - financial, communications and other business services",
        52900,
        59000,
    ),
    "21231": (107, 143, "Software engineers and designers", 113100, 140600),
    "31301": (167, 233, "Registered nurses and registered psychiatric nurses", 363100, 460900),
    "72410": (
        386,
        591,
        "Automotive service technicians, truck and bus mechanics and mechanical repairers",
        140400,
        155800,
    ),
}


def _load(engine: PipelineEngine, null_values: tuple[str, ...]) -> tuple[str, str]:
    years = {str(y): CastSpec(type="int", null_values=null_values) for y in range(2023, 2034)}
    employment = engine.run_full_pipeline(
        EMPLOYMENT,
        "employment",
        "cops",
        bronze_schema=BronzeSchema(rename={"Code": "noc_code"}, cast=years),
        silver=SilverSpec(dedupe=["noc_code"]),
    )
    noc = engine.run_full_pipeline(
        NOC,
        "noc_structure",
        "noc",
        bronze_schema=BronzeSchema(
            rename={"Code - NOC 2021 V1.0": "code", "Level": "level"}, cast={"level": "int"}
        ),
        silver=SilverSpec(dedupe=["code"]),
    )
    return employment.batch_id, noc.batch_id


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = make_engine(tmp_path_factory.mktemp("join"))
    batches = _load(engine, ("N/A",))
    gold = engine.promote_to_gold(
        GoldSpec(
            name="employment_by_unit_group",
            inputs=["employment", "noc_structure"],
            sql=JOIN_SQL,
            domain="workforce",
        )
    )
    return engine, batches, gold


def test_join_row_count_and_ledger(joined: Any) -> None:
    _engine, _batches, gold = joined
    frame = pl.read_parquet(gold.path)
    assert frame.height == 516
    assert frame["noc_code"].n_unique() == 516
    ledger = gold.record.ledger
    # rows in: every silver row of both inputs (533 + 822)
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_filtered) == (1355, 516, 839)
    assert gold.record.status == "success"
    assert gold.record.input_tables == ["silver.employment", "silver.noc_structure"]
    # the 31 unit groups without projections ("N/A") are in the join with nulls
    assert frame.filter(pl.col("employment_2023").is_null()).height == 31
    assert frame.filter(pl.col("noc_code") == "00013")["employment_2033"][0] is None


def test_join_values_checked_by_hand(joined: Any) -> None:
    _engine, (emp_batch, noc_batch), gold = joined
    frame = pl.read_parquet(gold.path)
    for code, (emp_row, noc_row, title, y2023, y2033) in HAND_CHECKED.items():
        row = frame.filter(pl.col("noc_code") == code).to_dicts()
        assert len(row) == 1, code
        assert row[0]["class_title"] == title
        assert (row[0]["employment_2023"], row[0]["employment_2033"]) == (y2023, y2033)
        assert row[0]["_lineage"] == [
            f"employment:{emp_batch}:{emp_row}",
            f"noc_structure:{noc_batch}:{noc_row}",
        ]


def _trace(
    engine: PipelineEngine, gold: TransitionRecord, key: str
) -> tuple[dict[str, Any], IngestionRecord]:
    """Follow one ``_lineage`` entry back the way docs/provenance.md tells an auditor to:
    the silver row in the files the gold build read, then the batch's ingestion record."""
    table, batch_id, source_row = parse_lineage_key(key)
    folder = engine.config.layer_path("silver") / table
    files = [Path(f) for f in gold.source_files if Path(f).parent == folder]
    silver = pl.read_parquet(files)
    rows = silver.filter(
        (pl.col("_batch_id") == batch_id) & (pl.col("_source_row") == source_row)
    ).to_dicts()
    assert len(rows) == 1, key
    records = engine.config.catalog_lineage_path() / table
    ingestions = [
        IngestionRecord.model_validate_json(p.read_text(encoding="utf-8"))
        for p in sorted(records.glob("*-ingest-*.json"))
    ]
    (record,) = [r for r in ingestions if r.batch_id == batch_id]
    return rows[0], record


def test_lineage_leads_back_to_the_source_file_and_row(joined: Any) -> None:
    engine, _batches, gold = joined
    frame = pl.read_parquet(gold.path)
    emp_header, emp_records = csv_records(EMPLOYMENT)
    noc_header, noc_records = csv_records(NOC)
    for code, (emp_row, noc_row, title, y2023, y2033) in HAND_CHECKED.items():
        lineage = frame.filter(pl.col("noc_code") == code)["_lineage"][0].to_list()
        emp_silver, emp_ingest = _trace(engine, gold.record, lineage[0])
        noc_silver, noc_ingest = _trace(engine, gold.record, lineage[1])
        # the silver rows hold the gold values
        assert (emp_silver["noc_code"], emp_silver["2023"], emp_silver["2033"]) == (
            code,
            y2023,
            y2033,
        )
        assert (noc_silver["code"], noc_silver["Class title"], noc_silver["level"]) == (
            code,
            title,
            5,
        )
        # the ingestion record names the file, and its sha256 is the file's
        for silver_row, ingest, path in (
            (emp_silver, emp_ingest, EMPLOYMENT),
            (noc_silver, noc_ingest, NOC),
        ):
            assert silver_row["_source_file"] == ingest.source_file == path.as_posix()
            assert ingest.source_sha256 == sha256_file(Path(ingest.source_file))
            assert silver_row["_ingested_at"] == ingest.started_at
        # ... and that file's record holds the raw values
        raw_emp = dict(zip(emp_header, emp_records[emp_row - 1], strict=True))
        assert (raw_emp["Code"], raw_emp["2023"], raw_emp["2033"]) == (
            code,
            str(y2023),
            str(y2033),
        )
        raw_noc = dict(zip(noc_header, noc_records[noc_row - 1], strict=True))
        assert (raw_noc["Code - NOC 2021 V1.0"], raw_noc["Class title"], raw_noc["Level"]) == (
            code,
            title,
            "5",
        )


def test_python_gold_gives_the_same_join(joined: Any) -> None:
    engine, _batches, sql_gold = joined

    def join(frames: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
        noc = frames["noc_structure"].filter(pl.col("level") == 5)
        return (
            frames["employment"]
            .join(noc, left_on="noc_code", right_on="code", how="inner")
            .select(
                "noc_code",
                pl.col("Class title").alias("class_title"),
                pl.col("2023").alias("employment_2023"),
                pl.col("2033").alias("employment_2033"),
                pl.concat_list("_lineage", "_lineage_right").alias("_lineage"),
            )
        )

    gold = engine.promote_to_gold(
        GoldSpec(
            name="employment_by_unit_group_py",
            inputs=["employment", "noc_structure"],
            function=join,
        )
    )
    assert gold.record.transforms_applied == [f"gold:{__name__}:{join.__qualname__}"]
    data = ["noc_code", "class_title", "employment_2023", "employment_2033", "_lineage"]
    python = pl.read_parquet(gold.path).select(data).sort("noc_code")
    sql = pl.read_parquet(sql_gold.path).select(data).sort("noc_code")
    assert python.equals(sql)


def test_quarantined_rows_do_not_reach_the_join(tmp_path: Path) -> None:
    """Without null_values the 31 "N/A" rows go to bronze quarantine, so 485 unit
    groups remain in the join."""
    engine = make_engine(tmp_path)
    _load(engine, ())
    gold = engine.promote_to_gold(
        GoldSpec(name="joined", inputs=["employment", "noc_structure"], sql=JOIN_SQL)
    )
    assert gold.record.row_count_in == 502 + 822
    codes = set(pl.read_parquet(gold.path)["noc_code"].to_list())
    header, records = csv_records(EMPLOYMENT)
    not_available = {r[0] for r in records if r[header.index("2023")] == "N/A"}
    assert len(codes) == 485 and len(not_available) == 31
    assert codes.isdisjoint(not_available)
    assert "00010" in codes and "00013" in not_available
