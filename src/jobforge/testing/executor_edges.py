"""Conformance cases where engines disagree unless an executor takes care: white
space around values to cast, control and non-BMP characters, large and special
floats, datetimes without a format, integer division and modulo in gold SQL.

They are part of :mod:`jobforge.testing.executor` (which imports them: an
executor package that runs that suite runs these), with the same fixtures
``jobforge_executor_name`` and ``jobforge_executor_settings``. Every expected
value below was worked out by hand from the source written beside it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.catalog.declarations import TableDeclaration
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, Rule, SilverSpec
from jobforge.errors import ContractError, TransitionError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import ColumnTotal
from jobforge.storage import literal

__all__ = [
    "test_control_characters_and_special_floats_are_kept",
    "test_datetimes_without_a_format",
    "test_gold_integer_division_and_modulo",
    "test_gold_integer_division_of_non_integers",
    "test_unicode_white_space_around_values",
]

Settings = dict[str, dict[str, Any]]


def _engine(tmp_path: Path, executor: str, settings: Settings) -> PipelineEngine:
    config = PipelineConfig(tmp_path / "data", executor=executor, plugin_settings=settings)
    return PipelineEngine(config)


def _ndjson(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    """The rows as an NDJSON source (every value text, as staged); JSON escapes
    carry the characters a CSV reader refuses (NUL)."""
    source = tmp_path / "t.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return source


def _read(path: Path | list[Path] | None) -> pl.DataFrame:
    """The rows of a file, or of a version's part files (every one must exist)."""
    paths = path if isinstance(path, list) else [path]
    assert paths and all(p is not None and p.exists() for p in paths), paths
    return literal.scan_parquet([p for p in paths if p is not None]).collect().sort("_source_row")


def _no_bare_constants(root: Path) -> list[str]:
    """The JSON files under ``root`` that are not strict JSON (a bare ``NaN`` or
    ``Infinity``, which Python's ``json`` writes unless told not to)."""

    def refuse(constant: str) -> object:
        raise ValueError(constant)

    bad = []
    for path in sorted(root.rglob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
        except ValueError as exc:
            bad.append(f"{path.relative_to(root)}: {exc}")
    return bad


# -- 1. white space around values to cast --------------------------------------------------
# Unicode's White_Space characters around a value are removed before it is cast (what the
# polars executor does: no-break space U+00A0, em space U+2003, tab, ideographic space
# U+3000). Rows 1-4 each wrap every value in one of them: all cast. Row 5 puts a zero width
# space U+200B (a format character, not white space) before each: all six fail, quoted as
# Python quotes them ('\u200b5'). Row 6 ends the int with U+001C, which Python's
# str.strip() removes but which is not Unicode white space: it fails.
SPACES = ["\u00a0", "\u2003", "\t", "\u3000"]
TYPED = {"i": "5", "f": "1.5", "d": "1,5", "b": "yes", "day": "2020-01-02"}
TYPED["at"] = "2020-01-02 03:04:05"
CASTS = BronzeSchema(
    cast={
        "i": CastSpec(type="int"),
        "f": CastSpec(type="float"),
        "d": CastSpec(type="float", decimal=","),
        "b": CastSpec(type="bool"),
        "day": CastSpec(type="date"),
        "at": CastSpec(type="datetime"),
    }
)


def test_unicode_white_space_around_values(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    rows = [{k: space + v + space for k, v in TYPED.items()} for space in SPACES]
    rows.append({k: "\u200b" + v for k, v in TYPED.items()})
    rows.append({**TYPED, "i": "5\x1c"})
    engine = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(_ndjson(tmp_path, rows), "t")
    result = engine.promote_to_bronze("t", CASTS)
    ledger = result.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (6, 4, 2)
    bronze = _read(result.files)
    assert bronze.get_column("_source_row").to_list() == [1, 2, 3, 4]
    assert (
        bronze.select("i", "f", "d", "b", "day", "at").rows()
        == [(5, 1.5, 1.5, True, date(2020, 1, 2), datetime(2020, 1, 2, 3, 4, 5))] * 4
    )
    bad = _read(result.quarantine_files)
    assert bad.get_column("_source_row").to_list() == [5, 6]
    assert bad.get_column("rule_id").to_list() == ["cast:i", "cast:i"]
    assert bad.get_column("column").to_list() == ["i, f, d, b, day, at", "i"]
    assert bad.get_column("message").to_list() == [
        "i: cannot cast '\\u200b5' to int; f: cannot cast '\\u200b1.5' to float; "
        "d: cannot cast '\\u200b1,5' to float; b: cannot cast '\\u200byes' to bool; "
        "day: cannot cast '\\u200b2020-01-02' to date; "
        "at: cannot cast '\\u200b2020-01-02 03:04:05' to datetime",
        "i: cannot cast '5\\x1c' to int",
    ]
    assert [json.loads(r) for r in bad["row"]] == rows[4:]


# -- 5. datetimes without a format ---------------------------------------------------------
# ISO 8601 local times: `T` or a space between date and time, seconds optional, fractions
# to 9 digits (kept to the microsecond, truncated: .123456789 is .123456), a date alone is
# midnight. A value with a zone designator (Z, +05:00, -0800) fails: a bronze datetime has
# no zone, and the offset may not be dropped (that would move the instant). Row 1 is zoned
# so that an engine reading a format from the first value would read the others wrong.
WHEN = [
    ("2020-01-02T03:04:05+05:00", None),
    ("2020-01-02T03:04:05", datetime(2020, 1, 2, 3, 4, 5)),
    ("2020-01-02 03:04:05", datetime(2020, 1, 2, 3, 4, 5)),
    ("2020-01-02T03:04:05.123456789", datetime(2020, 1, 2, 3, 4, 5, 123456)),
    ("2020-01-02", datetime(2020, 1, 2)),
    ("2020-01-02T03:04:05Z", None),
    ("2020-01-02 03:04:05.5-0800", None),
    ("2020-01-02 03:04:05.1", datetime(2020, 1, 2, 3, 4, 5, 100000)),
    ("2020-01-02T23:59", datetime(2020, 1, 2, 23, 59)),
]


def test_datetimes_without_a_format(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(_ndjson(tmp_path, [{"at": text} for text, _ in WHEN]), "t")
    result = engine.promote_to_bronze("t", BronzeSchema(cast={"at": CastSpec(type="datetime")}))
    bronze = _read(result.files)
    assert bronze.schema["at"] == pl.Datetime("us")
    kept = [(row, value) for row, (_, value) in enumerate(WHEN, 1) if value is not None]
    assert bronze.select("_source_row", "at").rows() == kept
    bad = _read(result.quarantine_files)
    assert bad.select("_source_row", "message").rows() == [
        (1, "at: cannot cast '2020-01-02T03:04:05+05:00' to datetime"),
        (6, "at: cannot cast '2020-01-02T03:04:05Z' to datetime"),
        (7, "at: cannot cast '2020-01-02 03:04:05.5-0800' to datetime"),
    ]
    assert result.record.ledger.balanced


# -- 2 and 3. control characters, non-BMP text, large and special floats ------------------
# Text is kept byte for byte in every layer and in quarantine (`row` and `message`): NUL,
# ESC, U+2028/U+2029, emoji (non-BMP, and a ZWJ sequence). Floats: 1e308, -0.0 (its sign
# kept), NaN, inf, -inf, -1e308 and 1e309 (beyond a double: inf) as text in the source.
# Bronze: row 5's float is not a number (quarantined, the message quoting it as Python
# does). Silver rule f < 1e300 fails for 1e308, NaN (NaN compares as no number below it),
# inf and 1e309: rows 2, 3, 4, 8; rows 1, 6, 7 stay. In a quarantined row's JSON, NaN and
# the infinities are null (JSON has no NaN). The control totals of f count and sum finite
# values only: in 1 + 2 + 7 (-0.0 + 1e308 - 1e308 = 0.0, three), out 1 + 7 (-1e308, two),
# quarantined row 2 (1e308, one).
NUL_TEXT = "nul\x00x"
ESC_TEXT = "esc\x1b[31mred\x1b[0m"
LINES_TEXT = "line\u2028para\u2029end"
EMOJI_TEXT = "emoji\U0001f600 \U0001f9d1\u200d\U0001f4bb"
MIXED_TEXT = "bad\x00\x1b\U0001f600"
SPECIAL = [
    {"s": NUL_TEXT, "f": "-0.0"},
    {"s": ESC_TEXT, "f": "1e308"},
    {"s": LINES_TEXT, "f": "NaN"},
    {"s": EMOJI_TEXT, "f": "inf"},
    {"s": MIXED_TEXT, "f": "x\u2028\U0001f600"},
    {"s": "negative infinity", "f": "-inf"},
    {"s": "tiny", "f": "-1e308"},
    {"s": "huge", "f": "1e309"},
]
RULE_MESSAGE = "f\u2028too big \U0001f600\x1b"


def test_control_characters_and_special_floats_are_kept(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    ingest = engine.ingest(_ndjson(tmp_path, SPECIAL), "t")
    assert _read(ingest.path).get_column("s").to_list() == [r["s"] for r in SPECIAL]
    bronze = engine.promote_to_bronze("t", BronzeSchema(cast={"f": CastSpec(type="float")}))
    typed = _read(bronze.files)
    assert typed.get_column("_source_row").to_list() == [1, 2, 3, 4, 6, 7, 8]
    assert typed.get_column("s").to_list() == [r["s"] for i, r in enumerate(SPECIAL) if i != 4]
    values = typed.get_column("f").to_list()
    assert [repr(v) for v in values] == ["-0.0", "1e+308", "nan", "inf", "-inf", "-1e+308", "inf"]
    rejected = _read(bronze.quarantine_files)
    assert rejected.get_column("message").to_list() == [
        "f: cannot cast 'x\\u2028\U0001f600' to float"
    ]
    assert json.loads(rejected["row"][0]) == SPECIAL[4]
    silver = engine.promote_to_silver(
        "t",
        SilverSpec(rules=[Rule(id="not_huge", expression="f < 1e300", message=RULE_MESSAGE)]),
        declaration=TableDeclaration(control_totals=["f"]),
    )
    kept = _read(silver.files)
    assert kept.get_column("_source_row").to_list() == [1, 6, 7]
    assert kept.get_column("s").to_list() == [NUL_TEXT, "negative infinity", "tiny"]
    assert [repr(v) for v in kept.get_column("f")] == ["-0.0", "-inf", "-1e+308"]
    bad = _read(silver.quarantine_files)
    assert bad.get_column("_source_row").to_list() == [2, 3, 4, 8]
    assert bad.get_column("message").to_list() == [RULE_MESSAGE] * 4
    assert [json.loads(r) for r in bad["row"]] == [
        {"s": ESC_TEXT, "f": 1e308},
        {"s": LINES_TEXT, "f": None},
        {"s": EMOJI_TEXT, "f": None},
        {"s": "huge", "f": None},
    ]
    (total,) = silver.record.control_totals
    assert total.kind == "float"
    assert total.came_in == ColumnTotal(sum="0.0", non_null=3)
    assert total.went_out == ColumnTotal(sum="-1e+308", non_null=2)
    assert total.quarantined == ColumnTotal(sum="1e+308", non_null=1)
    assert silver.record.ledger.balanced
    assert _no_bare_constants(engine.config.data_root) == []


# -- 4. integer division and modulo in gold SQL --------------------------------------------
# Gold SQL is DuckDB's: `/` divides exactly (7 / 2 = 3.5), `//` between integers truncates
# toward zero (-7 // 2 = -3), `%` takes the dividend's sign (-7 % 3 = -1, -7.5 % 2 = -1.5).
# An executor of another engine gives these answers. `//` with a float side divides exactly
# in DuckDB (-7.5 // 2 = -3.75), which an executor may refuse instead, naming `//`, before
# anything is written.
DIVISION_CSV = "n,x\n7,7.5\n-7,-7.5\n"


def _division_engine(tmp_path: Path, executor: str, settings: Settings) -> PipelineEngine:
    source = tmp_path / "t.csv"
    source.write_text(DIVISION_CSV, encoding="utf-8")
    engine = _engine(tmp_path, executor, settings)
    engine.ingest(source, "t")
    engine.promote_to_bronze(
        "t", BronzeSchema(cast={"n": CastSpec(type="int"), "x": CastSpec(type="float")})
    )
    engine.promote_to_silver("t", SilverSpec())
    return engine


def test_gold_integer_division_and_modulo(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine = _division_engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    sql = (
        "SELECT n, n / 2 AS half, CAST(n AS BIGINT) // 2 AS div, -7 // 2 AS literal_div, "
        "n % 3 AS mod, x % 2 AS x_mod, _lineage FROM t"
    )
    result = engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql=sql))
    gold = literal.scan_parquet(result.files).collect().sort("n")
    assert gold.select("n", "half", "div", "literal_div", "mod", "x_mod").rows() == [
        (-7, -3.5, -3, -3, -1, -1.5),
        (7, 3.5, 3, -3, 1, 1.5),
    ]


def test_gold_integer_division_of_non_integers(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine = _division_engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    spec = GoldSpec(name="g", inputs=["t"], sql="SELECT n, x // 2 AS q, _lineage FROM t")
    assert spec.sql is not None
    describe = getattr(engine.executor, "describe_gold", None)
    refused = None
    if describe is not None:  # what `jobforge check` and `run --dry-run` ask
        try:
            describe(spec.sql, {"t": {"n": "int", "x": "float"}})
        except ValueError as exc:
            refused = str(exc)
    if refused is None:
        result = engine.promote_to_gold(spec)
        gold = literal.scan_parquet(result.files).collect().sort("n")
        assert gold.select("n", "q").rows() == [(-7, -3.75), (7, 3.75)]
        return
    assert "x // 2" in refused and "\n" not in refused, refused
    with pytest.raises((ContractError, TransitionError)) as caught:
        engine.promote_to_gold(spec)
    assert "x // 2" in str(caught.value) and "\n" not in str(caught.value).strip()
    assert engine.current("gold", "g") is None
