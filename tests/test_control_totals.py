"""Issue 17: control totals. A table's control columns (``[tables.x.audit]
control_totals``) are summed and counted in every part of a transition and
reconcile like the row ledger; gold records its output totals.

The property test generates tables with casts that fail (bronze quarantine),
rules that fail (silver quarantine), nulls and duplicate keys (de-duplication),
runs them through the engine and checks the totals against sums Python computes
from the generated values, and that they always reconcile.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.catalog.lineage import read_records
from jobforge.engine.control_totals import FLOAT_TOLERANCE, reconcile
from jobforge.errors import ContractError
from jobforge.pipeline.models import ColumnTotal, ControlTotal, RowLedger, TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project

from .cli_helpers import jobforge
from .conftest import REAL_DATA
from .projects import real_project

PROJECT = """\
[project]
name = "totals"
data_root = "data"

[tables.t]
source = "sources/t.csv"
[tables.t.audit]
control_totals = ["amount", "rate"]
[tables.t.bronze]
cast = { amount = { type = "int", null_values = ["N/A"] }, rate = "float" }
[tables.t.silver]
dedupe = ["id"]
rules = [
  { id = "amount_not_negative", expression = "amount IS NULL OR amount >= 0", message = "no" },
]

[gold.g]
inputs = ["t"]
sql = "SELECT id, amount, rate, _lineage FROM t"
[gold.g.audit]
control_totals = ["amount"]
"""

AMOUNTS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**15).map(str),
    st.sampled_from(["N/A", "bad", ""]),
)
ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e", "f"]),
        AMOUNTS,
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(repr),
    ),
    min_size=1,
    max_size=40,
)


def _totals(record: TransitionRecord) -> dict[str, ControlTotal]:
    return {t.column: t for t in record.control_totals}


def _sum(total: ColumnTotal | None) -> Decimal:
    return Decimal(total.sum) if total is not None and total.sum is not None else Decimal(0)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=ROWS)
def test_control_totals_always_reconcile(rows: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sources").mkdir()
        (root / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
        with (root / "sources/t.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "amount", "rate"])
            writer.writerows(rows)
        project = load_project(root / "jobforge.toml")
        config = project_config(project)
        report = run_project(project, config=config)
        assert report.ok, [s.error for s in report.failed()]
        records = [r for r in read_records(config, "t") if isinstance(r, TransitionRecord)]
        (silver,) = [r for r in records if r.target_layer == "silver"]
        totals = _totals(silver)
        amount = totals["amount"]
        # what came into silver: the rows bronze kept (amount an integer, N/A or
        # empty: null); "bad" does not cast and went to bronze quarantine
        kept = [int(a) for _, a, _ in rows if a not in ("N/A", "bad", "")]
        assert amount.kind == "exact"
        assert _sum(amount.came_in) == sum(kept)
        assert amount.came_in is not None and amount.came_in.non_null == len(kept)
        parts = [amount.went_out, amount.quarantined, amount.deduplicated, amount.filtered]
        assert sum(_sum(p) for p in parts) == _sum(amount.came_in)
        assert sum(p.non_null for p in parts if p) == amount.came_in.non_null
        # negative amounts fail the rule: quarantined, unless dropped as a duplicate first
        assert _sum(amount.quarantined) <= 0
        rate = totals["rate"]
        assert rate.kind == "float"
        rates = [float(r) for _, a, r in rows if a != "bad"]
        assert rate.came_in is not None and rate.came_in.non_null == len(rates)
        rest = sum(float(_sum(p)) for p in (rate.went_out, rate.quarantined, rate.deduplicated))
        scale = max(1.0, sum(abs(x) for x in rates))
        assert abs(float(_sum(rate.came_in)) - sum(rates)) <= FLOAT_TOLERANCE * scale
        assert abs(float(_sum(rate.came_in)) - rest) <= FLOAT_TOLERANCE * scale
        # staged -> bronze: the staged text as bronze casts it. Every rate casts;
        # "bad" amounts do not: their rows are quarantined, with their rates
        (bronze,) = [r for r in records if r.target_layer == "bronze"]
        b_amount, b_rate = _totals(bronze)["amount"], _totals(bronze)["rate"]
        assert (_sum(b_amount.came_in), b_amount.came_in and b_amount.came_in.non_null) == (
            sum(kept),
            len(kept),
        )
        assert b_amount.went_out == b_amount.came_in
        assert b_amount.quarantined == ColumnTotal(sum=None, non_null=0)
        assert b_rate.came_in is not None and b_rate.came_in.non_null == len(rows)
        assert b_rate.went_out is not None and b_rate.went_out.non_null == len(rates)
        bad = [float(r) for _, a, r in rows if a == "bad"]
        assert b_rate.quarantined is not None and b_rate.quarantined.non_null == len(bad)
        every = max(1.0, sum(abs(float(r)) for _, _, r in rows))
        for part, values in (
            (b_rate.came_in, [float(r) for *_, r in rows]),
            (b_rate.went_out, rates),
            (b_rate.quarantined, bad),
        ):
            assert abs(float(_sum(part)) - sum(values)) <= FLOAT_TOLERANCE * every
        (gold,) = [r for r in read_records(config, "g") if isinstance(r, TransitionRecord)]
        assert _totals(gold)["amount"].came_in is None
        assert _totals(gold)["amount"].went_out == amount.went_out


def test_totals_that_do_not_reconcile_fail_naming_every_part() -> None:
    total = ControlTotal(
        column="amount",
        kind="exact",
        came_in=ColumnTotal(sum="10", non_null=3),
        went_out=ColumnTotal(sum="7", non_null=2),
        quarantined=ColumnTotal(sum="2", non_null=1),
        deduplicated=ColumnTotal(sum=None, non_null=0),
    )
    with pytest.raises(ContractError) as caught:
        reconcile([total], RowLedger(rows_in=3, rows_out=2, rows_quarantined=1))
    assert str(caught.value) == (
        "control totals of 'amount' do not reconcile: in sum=10 non_null=3 but "
        "out sum=7 non_null=2 + quarantined sum=2 non_null=1 + deduplicated sum=None "
        "non_null=0 leaves sum=1 non_null=0 with no row filtered"
    )
    balanced = total.model_copy(update={"went_out": ColumnTotal(sum="8", non_null=2)})
    (done,) = reconcile([balanced], RowLedger(rows_in=3, rows_out=2, rows_quarantined=1))
    assert done.filtered == ColumnTotal(sum=None, non_null=0)


def test_the_real_employment_totals_match_the_source_file(tmp_path: Path) -> None:
    project = real_project(tmp_path)
    toml = project / "jobforge.toml"
    toml.write_text(
        toml.read_text().replace(
            "[tables.employment.bronze]",
            '[tables.employment.audit]\ncontrol_totals = ["y2023", "y2033"]\n'
            "[tables.employment.bronze]",
        )
    )
    result = jobforge("run", "--json", "--table", "employment", cwd=project, timeout=600)
    assert result.code == 0, result.err
    (path,) = (project / "data/catalog/lineage/employment").glob("*bronze-silver*.json")
    totals = {t["column"]: t for t in json.loads(path.read_text())["control_totals"]}
    # by hand from the CSV: bronze keeps the rows whose 2033 is a number
    with (REAL_DATA / "employment_emploi_2024_2033_noc2021.csv").open(
        encoding="utf-8-sig", newline=""
    ) as handle:
        source = list(csv.DictReader(handle))
    kept = [r for r in source if r["2033"] != "N/A"]
    for column, header in (("y2023", "2023"), ("y2033", "2033")):
        values = [int(r[header]) for r in kept if r[header] != "N/A"]
        assert totals[column]["came_in"] == {"sum": str(sum(values)), "non_null": len(values)}
        assert totals[column]["went_out"] == totals[column]["came_in"]
    # staged -> bronze: every row's text cast; the rows whose 2033 is N/A quarantined
    (path,) = (project / "data/catalog/lineage/employment").glob("*staged-bronze*.json")
    bronze = {t["column"]: t for t in json.loads(path.read_text())["control_totals"]}
    dropped = [r for r in source if r["2033"] == "N/A"]
    assert dropped
    for column, header in (("y2023", "2023"), ("y2033", "2033")):
        parts = {"came_in": source, "went_out": kept, "quarantined": dropped}
        for part, rows in parts.items():
            values = [int(r[header]) for r in rows if r[header] != "N/A"]
            total = {"sum": str(sum(values)) if values else None, "non_null": len(values)}
            assert bronze[column][part] == total, (column, part)


BRONZE_PROJECT = """\
[project]
name = "bronze-totals"
data_root = "data"

[engine]
executor = "{executor}"

[tables.t]
source = "sources/t.csv"
[tables.t.audit]
control_totals = ["amount", "rate"]
[tables.t.bronze]
rename = {{ amt = "amount" }}
cast = {{ amount = {{ type = "int", null_values = ["N/A"], thousands = "," }}, rate = "float" }}
"""

BRONZE_CSV = """\
id,amt,rate
a," 1,000",0.5
b,N/A,1.25
c,bad,2.0
d,7,x
e,,3
f,-2,-0.75
"""
"""By hand: amounts cast to 1000, null (N/A), fails, 7, null (empty), -2; rates
to 0.5, 1.25, 2.0, fails, 3, -0.75. Rows c and d do not cast: quarantined.
amount: in 1000 + 7 - 2 = 1005 (3 values), out 1000 - 2 = 998 (2), quarantined
7 (row d; row c's amount is the failure, null). rate: in 0.5 + 1.25 + 2 + 3 -
0.75 = 6.0 (5), out 0.5 + 1.25 + 3 - 0.75 = 4.0 (4), quarantined 2.0 (row c)."""


@pytest.mark.parametrize("executor", ["polars", "duckdb"])
def test_staged_to_bronze_totals_are_the_cast_values(tmp_path: Path, executor: str) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources/t.csv").write_text(BRONZE_CSV, encoding="utf-8")
    (tmp_path / "jobforge.toml").write_text(
        BRONZE_PROJECT.format(executor=executor), encoding="utf-8"
    )
    project = load_project(tmp_path / "jobforge.toml")
    config = project_config(project)
    report = run_project(project, config=config)
    assert report.ok, [s.error for s in report.failed()]
    (bronze,) = [
        r
        for r in read_records(config, "t")
        if isinstance(r, TransitionRecord) and r.target_layer == "bronze"
    ]
    assert bronze.ledger is not None and bronze.ledger.rows_quarantined == 2
    totals = _totals(bronze)
    assert totals["amount"].kind == "exact" and totals["rate"].kind == "float"
    parts = ("came_in", "went_out", "quarantined", "deduplicated", "filtered")
    got = {
        c: {p: (getattr(totals[c], p).sum, getattr(totals[c], p).non_null) for p in parts}
        for c in ("amount", "rate")
    }
    assert got["amount"] == {
        "came_in": ("1005", 3),
        "went_out": ("998", 2),
        "quarantined": ("7", 1),
        "deduplicated": (None, 0),
        "filtered": (None, 0),
    }
    rate = {p: (float(v) if v is not None else None, n) for p, (v, n) in got["rate"].items()}
    assert rate == {
        "came_in": (6.0, 5),
        "went_out": (4.0, 4),
        "quarantined": (2.0, 1),
        "deduplicated": (None, 0),
        "filtered": (None, 0),
    }


def _parquet(path: Path, columns: dict[str, object]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)  # type: ignore[arg-type]
    return path


def test_sums_stay_exact_near_the_limits_of_their_types(tmp_path: Path) -> None:
    """Totals summed where a 64-bit or 38-digit sum would overflow (DuckDB's
    DECIMAL sum raised here, pyarrow's wraps), with nulls, an all-null column,
    float32, an input column of a narrower type and set-apart JSON rows."""
    import pyarrow as pa

    from jobforge.engine.control_totals import measure

    big, small = 2**63 - 1, -(2**63)
    wide = Decimal("9" * 36 + ".99")  # the largest DECIMAL(38, 2)
    out = _parquet(
        tmp_path / "out.parquet",
        {
            "b": pa.array([big, big, None, small], pa.int64()),
            "u": pa.array([2**64 - 1, 2**64 - 1, 7, None], pa.uint64()),
            "d": pa.array([wide, wide, None, Decimal("-0.01")], pa.decimal128(38, 2)),
            "f": pa.array([1.5, None, 2.25, -0.5], pa.float32()),
            "n": pa.array([None, None, None, None], pa.int64()),
            "w": pa.array([1, 2, 3, 4], pa.int64()),
        },
    )
    ins = [
        _parquet(
            tmp_path / f"in{i}.parquet",
            {
                "b": pa.array(b, pa.int64()),
                "u": pa.array(u, pa.uint64()),
                "d": pa.array(d, pa.decimal128(38, 2)),
                "f": pa.array(f, pa.float32()),
                "n": pa.array([None] * len(b), pa.int64()),
                "w": pa.array(w, pa.int32()),  # narrower than the output: cast as DuckDB does
            },
        )
        for i, (b, u, d, f, w) in enumerate(
            [
                (
                    [big, big, big],
                    [2**64 - 1, 2**64 - 1, 2**64 - 1],
                    [wide, wide, wide],
                    [1.5, None, 3.0],
                    [1, 2, 5],
                ),
                ([None, small], [7, None], [None, Decimal("-0.01")], [2.25, -0.5], [3, 4]),
            ]
        )
    ]
    quarantined = _parquet(
        tmp_path / "q.parquet",
        {"row": [json.dumps({"b": big, "u": 2**64 - 1, "d": str(wide), "f": 3.0, "w": 5})]},
    )
    totals = {
        t.column: t
        for t in measure(
            ["b", "u", "d", "f", "n", "w"], came_in=ins, went_out=out, quarantined=quarantined
        )
    }
    # by hand: out holds two of the three big values, the quarantine the third
    assert totals["b"].went_out == ColumnTotal(sum=str(2 * big + small), non_null=3)
    assert totals["b"].came_in == ColumnTotal(sum=str(3 * big + small), non_null=4)
    assert totals["b"].quarantined == ColumnTotal(sum=str(big), non_null=1)
    assert totals["u"].came_in == ColumnTotal(sum=str(3 * (2**64 - 1) + 7), non_null=4)
    assert totals["u"].went_out == ColumnTotal(sum=str(2 * (2**64 - 1) + 7), non_null=3)
    assert totals["d"].kind == "exact"
    assert totals["d"].came_in == ColumnTotal(
        sum=str(Decimal("2999999999999999999999999999999999999.96")), non_null=4
    )
    assert totals["d"].went_out == ColumnTotal(
        sum="1999999999999999999999999999999999999.97", non_null=3
    )
    assert totals["d"].quarantined == ColumnTotal(sum=str(wide), non_null=1)
    assert totals["f"].kind == "float"
    assert totals["f"].came_in == ColumnTotal(sum="6.25", non_null=4)
    assert totals["f"].went_out == ColumnTotal(sum="3.25", non_null=3)
    assert totals["n"].came_in == totals["n"].went_out == ColumnTotal(sum=None, non_null=0)
    assert totals["w"].came_in == ColumnTotal(sum="15", non_null=5)
    assert totals["w"].went_out == ColumnTotal(sum="10", non_null=4)
    assert totals["w"].deduplicated == ColumnTotal(sum=None, non_null=0)
    ledger = RowLedger(rows_in=5, rows_out=4, rows_quarantined=1)
    done = {t.column: t for t in reconcile(list(totals.values()), ledger)}
    assert done["d"].filtered == ColumnTotal(sum=None, non_null=0)
    # one cent off in a 40-digit sum is seen (the default decimal context rounds to 28 digits)
    off = totals["d"].model_copy(
        update={"went_out": ColumnTotal(sum="1999999999999999999999999999999999999.98", non_null=3)}
    )
    with pytest.raises(ContractError, match="control totals of 'd' do not reconcile"):
        reconcile([off], ledger)


NUMBERS = st.one_of(
    st.integers(min_value=-200, max_value=200).map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(0, 6)
    .flatmap(lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places))
    .map(str),
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,5})?", fullmatch=True).map(json.dumps),
    st.just("null"),
)
OTHERS = st.one_of(
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(["true", "false", "[1]", '{"x": 1}', '"1e3"', '" 12"', '"+1"', '"1_0"']),
)
JSON_VALUES = st.one_of(NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, OTHERS)
"""Mostly numbers (a part with one value the Python path leaves to DuckDB is all
DuckDB's), some values only DuckDB decides."""
APART_COLUMNS = ("i64", "i8", "u64", "f64", "d10", "d38")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.dictionaries(st.sampled_from(APART_COLUMNS), JSON_VALUES, max_size=6),
        min_size=1,
        max_size=6,
    )
)
def test_set_apart_values_summed_in_python_are_what_duckdb_casts(
    rows: list[dict[str, str]],
) -> None:
    """Where the Python path answers, its totals are DuckDB's ``TRY_CAST`` totals
    (the definition); where it does not, DuckDB answers."""
    import pyarrow as pa

    from jobforge.engine import control_totals as ct
    from jobforge.engine.apart_values import apart_values

    types = {
        "i64": pa.int64(),
        "i8": pa.int8(),
        "u64": pa.uint64(),
        "f64": pa.float64(),
        "d10": pa.decimal128(10, 2),
        "d38": pa.decimal128(38, 4),
    }
    texts = ["{" + ", ".join(f'"{k}": {v}' for k, v in row.items()) + "}" for row in rows]
    found = apart_values(texts, types)
    if found is None:
        return
    out = pa.table({c: pa.array([], t) for c, t in types.items()})
    duck = ct._DuckDB(out, list(types))
    table = pa.table({"row": texts})
    expressions = [
        f'TRY_CAST(json_extract_string("row", {ct._json_path(c)}) AS {duck.types()[c]})'
        for c in types
    ]
    expected = dict(zip(types, duck.totals(table, expressions), strict=True))
    for column in types:
        mine = ct._values_total(found[column])
        theirs = expected[column]
        assert mine.non_null == theirs.non_null, (column, texts)
        if column == "f64" and mine.sum is not None and theirs.sum is not None:
            scale = max(1.0, sum(abs(v) for v in found[column] if isinstance(v, float)))
            assert abs(float(mine.sum) - float(theirs.sum)) <= FLOAT_TOLERANCE * scale
        else:
            assert mine.sum == theirs.sum, (column, texts)


def test_rows_an_executor_sets_apart_are_summed_without_duckdb() -> None:
    import pyarrow as pa

    from jobforge.engine.apart_values import apart_values

    rows = ['{"id": "a", "amount": -5, "rate": 2.5}', '{"id": "b", "amount": null, "rate": 1e-05}']
    found = apart_values(rows, {"amount": pa.int64(), "rate": pa.float64()})
    assert found == {"amount": [-5, None], "rate": [2.5, 1e-05]}
    # text to parse is left to DuckDB
    assert apart_values(['{"amount": "bad"}'], {"amount": pa.int64()}) is None
    assert apart_values(['{"amount": 1}'], {"amount": pa.float32()}) is None


def test_rows_set_apart_in_parts_count_from_every_part(tmp_path: Path) -> None:
    """A quarantine and a duplicates file each in two parts (as the spark
    executor writes them): every part's rows are in the totals, and they reconcile."""
    import pyarrow as pa

    from jobforge.engine.control_totals import measure

    ins = [_parquet(tmp_path / "in.parquet", {"n": [1, 2, 3, 4, 5, 6]})]
    out = _parquet(tmp_path / "out.parquet", {"n": [1, 2]})

    def rows(name: str, values: list[int]) -> Path:
        texts = pa.array([json.dumps({"n": v}) for v in values], pa.string())
        return _parquet(tmp_path / name, {"row": texts})

    quarantined = [rows("q0.parquet", [3]), rows("q1.parquet", [4, 5])]
    deduplicated = [rows("d0.parquet", []), rows("d1.parquet", [6])]
    (total,) = measure(
        ["n"], came_in=ins, went_out=out, quarantined=quarantined, deduplicated=deduplicated
    )
    # by hand: 3 + 4 + 5 = 12 in three rows set apart, 6 in one duplicate
    assert total.came_in == ColumnTotal(sum="21", non_null=6)
    assert total.went_out == ColumnTotal(sum="3", non_null=2)
    assert total.quarantined == ColumnTotal(sum="12", non_null=3)
    assert total.deduplicated == ColumnTotal(sum="6", non_null=1)
    ledger = RowLedger(rows_in=6, rows_out=2, rows_quarantined=3, rows_deduplicated=1)
    (reconciled,) = reconcile([total], ledger)
    assert reconciled.filtered == ColumnTotal(sum=None, non_null=0)  # nothing left over


def test_measurements_on_one_thread_share_a_connection_and_leave_nothing_on_it(
    tmp_path: Path,
) -> None:
    """Two measurements needing DuckDB (an input cast: int32 in, int64 out) on one
    thread: each gives its own files' totals (by hand), one connection serves both,
    and no table stays registered on it after either (nor after a query that failed)."""
    import threading

    import pyarrow as pa

    from jobforge.engine import control_totals as ct

    def measured(name: str, values: list[int]) -> ControlTotal:
        ins = _parquet(tmp_path / f"{name}_in.parquet", {"n": pa.array(values, pa.int32())})
        out = _parquet(tmp_path / f"{name}_out.parquet", {"n": pa.array(values, pa.int64())})
        (total,) = ct.measure(["n"], came_in=[ins], went_out=out)
        return total

    def registered() -> int:
        return len(
            ct._connection().execute("SELECT * FROM duckdb_views() WHERE NOT internal").fetchall()
        )

    first = measured("a", [1, 2, 3])
    con = ct._connection()
    assert registered() == 0
    second = measured("b", [10, 20])
    assert ct._connection() is con
    assert registered() == 0
    assert first.came_in == ColumnTotal(sum="6", non_null=3)
    assert second.came_in == ColumnTotal(sum="30", non_null=2)
    with pytest.raises(Exception, match="nope"):
        ct._query(pa.table({"n": [1]}), "SELECT nope FROM part")
    assert registered() == 0
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(ct._connection()))
    thread.start()
    thread.join()
    assert other[0] is not con  # a connection is never shared between threads


MODULES_AFTER_RUN = """\
import sys
from jobforge.cli.app import main
sys.argv = ["jobforge", "run", "-q", *sys.argv[1:]]
code = main()
print("PANDAS", "pandas" in sys.modules, file=sys.stderr)
raise SystemExit(code)
"""


def test_measuring_integer_totals_does_not_import_pandas(tmp_path: Path) -> None:
    """Summing 64-bit integers exactly needs two pyarrow scalars (the halves'
    shift and mask); ``pa.scalar`` imports pandas when it is installed (about
    0.2 s of a process that runs one table). The project of one source table
    with an int64 control column, run by the real CLI in a fresh process: its
    bronze and silver totals are measured (and checked by hand below) and
    pandas stays unimported."""
    pytest.importorskip("pandas")  # else the question does not arise
    project = tmp_path / "p"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(PROJECT.split("[gold.g]")[0])
    (project / "sources/t.csv").write_text(
        "id,amount,rate\na,5000000000,0.5\nb,-7,1.5\nc,N/A,2.0\n", encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER_RUN],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")},
    )
    assert done.returncode == 0, done.stderr
    assert "PANDAS False" in done.stderr, done.stderr
    (path,) = (project / "data/catalog/lineage/t").glob("*staged-bronze*.json")
    amount = _by_column(path)["amount"]
    # by hand: 5000000000 and -7 are numbers, N/A is null
    assert amount["went_out"] == {"sum": "4999999993", "non_null": 2}
    assert amount["came_in"] == amount["went_out"]


def _by_column(path: Path) -> dict[str, dict]:
    return {t["column"]: t for t in json.loads(path.read_text())["control_totals"]}
