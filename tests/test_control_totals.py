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
