"""Bronze casts give the same values whichever way a column is parsed.

Numbers (without separators or null values) and ISO dates are parsed as they
are first and only the texts that do not parse are stripped; other specs strip
every text first. Both must follow the one rule of ``CastSpec``: surrounding
spaces do not matter, empty text is null, anything else that does not parse
sends its row to quarantine. The values below were checked by hand.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec
from jobforge.pipeline.config import PipelineConfig

# One value per row in each column; a row is quarantined if any column fails.
ROWS = [
    # int      float     date            int with null value "n/a"
    ("12", "1.5", "2020-01-02", "7"),
    (" 12", " 1.5", " 2020-01-02", " 7 "),
    ("12\t", "1.5 ", "2020-01-02 ", "n/a"),
    ("", "", "", ""),
    ("   ", "  ", "  ", " n/a "),
    ("+7", "1e3", "2020-1-2", "-0"),
    ("-0", "inf", "2024-02-29", "3"),
    ("x", "1.5", "2020-01-02", "1"),  # int fails
    ("1", "abc", "2020-01-02", "1"),  # float fails
    ("1", "1.5", "2021-02-29", "1"),  # date fails (not a day)
    ("1", "1.5", "2020-01-02", "1.0"),  # int with null values fails
    ("1_000", "0x10", "20200102", "x"),  # every column fails
]
EXPECTED_KEPT = {
    1: (12, 1.5, date(2020, 1, 2), 7),
    2: (12, 1.5, date(2020, 1, 2), 7),
    3: (12, 1.5, date(2020, 1, 2), None),
    4: (None, None, None, None),
    5: (None, None, None, None),
    6: (7, 1000.0, date(2020, 1, 2), 0),
    7: (0, math.inf, date(2024, 2, 29), 3),
}
EXPECTED_FAILED = {8: "i", 9: "f", 10: "d", 11: "n", 12: "i, f, d, n"}


def test_direct_and_stripped_parsing_agree(tmp_path: Path) -> None:
    source = tmp_path / "casts.csv"
    lines = ["i,f,d,n", *(",".join(f'"{v}"' for v in row) for row in ROWS)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    engine.ingest(source, "casts")
    schema = BronzeSchema(
        cast={
            "i": "int",
            "f": "float",
            "d": "date",
            "n": CastSpec(type="int", null_values=("n/a",)),
        }
    )
    result = engine.promote_to_bronze("casts", schema)
    bronze = pl.read_parquet(result.path)
    assert bronze.schema["i"] == pl.Int64 and bronze.schema["d"] == pl.Date
    kept = {r[4]: r[:4] for r in bronze.select("i", "f", "d", "n", "_source_row").rows()}
    assert kept == EXPECTED_KEPT
    quarantine = pl.read_parquet(result.quarantine_path)
    failed = dict(quarantine.select("_source_row", "column").rows())
    assert failed == EXPECTED_FAILED
    messages = dict(quarantine.select("_source_row", "message").rows())
    assert messages[8] == "i: cannot cast 'x' to int"
    assert messages[11] == "n: cannot cast '1.0' to int"
    assert result.record.ledger.rows_in == 12
    assert result.record.ledger.rows_quarantined == 5
