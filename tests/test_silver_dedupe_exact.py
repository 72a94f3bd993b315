"""Silver de-duplication by row hash is exact: a hash only nominates candidates,
which are compared on their full values.

The case with the hash forced to collide (every row in one of three buckets)
and the hashes sorted or candidates compared per pass forced down to a few rows
is in the executor conformance suite
(``jobforge.testing.executor.test_colliding_hashes_never_drop_a_distinct_row``,
forced through ``jobforge_polars.dedupe.colliding_hashes``), run for every
executor.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import jobforge_polars.streaming
import polars as pl
import pyarrow.parquet as pq
import pytest
from jobforge_polars.dedupe import colliding_hashes

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, Rule, SilverSpec
from jobforge.pipeline.config import PipelineConfig

# Rows 1-12 (source rows). Equal rows: 3 = 1, 6 = 2, 9 = 1, 12 = 4; row 10
# differs from row 2 only by a trailing space in the text, row 11 from row 1
# only by -0 in the amount, which the float cast makes -0.0 (compared equal
# to 0.0 as polars compares floats), row 5 is rejected by the rule, and row 8
# is a copy of the rejected row 5 (rejected too, so not a duplicate).
CSV = """code,label,amount
A,x,0
B,y,1.5
A,x,0
C,,2
D,z,-1
B,y,1.5
E,w,
D,z,-1
A,x,0
B,y ,1.5
A,x,-0
C,,2
"""
KEPT = [1, 2, 4, 7, 10]
DUPLICATES = [3, 6, 9, 11, 12]
REJECTED = [5, 8]
DUPLICATE_OF = {3: 1, 6: 2, 9: 1, 11: 1, 12: 4}
"""Each dropped row -> the kept row it equals."""


def _run(tmp_path: Path, csv: str = CSV) -> tuple[list[int], list[int], list[int], dict]:
    source = tmp_path / "rows.csv"
    source.write_text(csv, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    result = engine.run_full_pipeline(
        source,
        "rows",
        bronze_schema=BronzeSchema(cast={"amount": "float"}),
        silver=SilverSpec(dedupe="row", rules=[Rule(id="not_negative", expression="amount >= 0")]),
    )
    silver = result.silver
    kept = pl.read_parquet(silver.path).get_column("_source_row").to_list()
    duplicates = pl.read_parquet(silver.duplicates_path)
    dups = duplicates.get_column("_source_row").to_list()
    rejected = pl.read_parquet(silver.quarantine_path).get_column("_source_row").to_list()
    equals = dict(zip(dups, duplicates.get_column("duplicate_of"), strict=True))
    assert equals == DUPLICATE_OF  # every dropped copy names the row it equals
    return kept, sorted(dups), sorted(rejected), silver.record.ledger.model_dump()


def _expected_ledger(ledger: dict) -> None:
    assert ledger["rows_in"] == 12
    assert ledger["rows_out"] == len(KEPT)
    assert ledger["rows_deduplicated"] == len(DUPLICATES)
    assert ledger["rows_quarantined"] == len(REJECTED)


def test_duplicates_are_equal_rows_after_the_first(tmp_path: Path) -> None:
    kept, dups, rejected, ledger = _run(tmp_path)
    assert kept == KEPT
    assert dups == DUPLICATES
    assert rejected == REJECTED
    _expected_ledger(ledger)


def test_the_duplicates_file_keeps_each_dropped_row_as_read(tmp_path: Path) -> None:
    _run(tmp_path)
    files = list((tmp_path / "data").rglob("quarantine/rows/duplicates/*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0]).to_pylist()
    by_row = {r["_source_row"]: json.loads(r["row"]) for r in table}
    assert by_row[3] == {"code": "A", "label": "x", "amount": 0.0}
    assert by_row[11] == {"code": "A", "label": "x", "amount": -0.0}
    assert by_row[12] == {"code": "C", "label": "", "amount": 2.0}


def test_no_temporary_hash_file_is_left_behind(tmp_path: Path) -> None:
    _run(tmp_path)
    leftovers = [p for p in (tmp_path / "data").rglob("*") if ".jobforge-tmp-" in p.name]
    assert leftovers == []


# Under colliding_hashes(per_pass) every one of the 10 rows kept by the rule is a
# candidate (three hash buckets) and 2 rows are quarantined: each bound of the
# step is crossed by one of these values, and each path must give the same rows.
# 9: hashes written to the temporary file (10 rows > 9), compared in 2 passes;
# 10: hashes held in memory, candidates compared in one pass, read apart from
# the quarantined rows (10 + 2 > 10); 11: the same (12 > 11); 12: the quarantined
# rows and the candidates read together (12 <= 12).
@pytest.mark.parametrize("scanned", [False, True], ids=["read once", "scanned"])
@pytest.mark.parametrize("per_pass", [9, 10, 11, 12])
def test_every_path_of_the_step_gives_the_same_rows(
    tmp_path: Path, per_pass: int, scanned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scanned``: bronze scanned by each plan, as a large input is, instead of
    read into memory once (``jobforge_polars.streaming.read``)."""
    if scanned:
        monkeypatch.setattr(jobforge_polars.streaming, "_SMALL_ROWS", -1)
    with colliding_hashes(per_pass):
        kept, dups, rejected, ledger = _run(tmp_path)
    assert kept == KEPT
    assert dups == DUPLICATES
    assert rejected == REJECTED
    _expected_ledger(ledger)
    quarantine = pl.read_parquet(next((tmp_path / "data").rglob("quarantine/rows/silver/*")))
    assert quarantine.get_column("rule_id").to_list() == ["not_negative"] * 2
    assert [json.loads(r) for r in quarantine.get_column("row")] == [
        {"code": "D", "label": "z", "amount": -1.0}
    ] * 2
    leftovers = [p for p in (tmp_path / "data").rglob("*") if ".jobforge-tmp-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("per_pass", [9, 12, None])
def test_a_data_column_may_have_the_name_of_the_comparisons_flag(
    tmp_path: Path, per_pass: int | None
) -> None:
    """The comparison flags the rows read with the candidates in a column of its
    own (``__jf_apart``, see jobforge_polars.dedupe.apart_column); a data column
    of that name is compared like any other, on every path (9: the hash file; 12:
    the shared read; None: no collision forced)."""
    csv = CSV.replace("code,label,amount", "code,__jf_apart,amount", 1)
    with colliding_hashes(per_pass) if per_pass else contextlib.nullcontext():
        kept, dups, rejected, ledger = _run(tmp_path, csv)
    assert (kept, dups, rejected) == (KEPT, DUPLICATES, REJECTED)
    _expected_ledger(ledger)
    silver = pl.read_parquet(next((tmp_path / "data").rglob("silver/rows/*.parquet")))
    assert silver.get_column("__jf_apart").to_list() == ["x", "y", "", "w", "y "]
