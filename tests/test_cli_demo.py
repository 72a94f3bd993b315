"""Issue 6: the demo (the README's main job) and the read-side commands:
query, catalog, lineage, quarantine. Expected values were computed by hand
from tests/data/real/*.csv with Python's csv module."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pytest

from .cli_helpers import jobforge
from .conftest import REAL_DATA


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("demo")
    result = jobforge("demo", "warehouse", cwd=root)
    assert result.code == 0, result.err
    return root / "warehouse", result.out


def test_demo_prints_answers_checked_by_hand(demo: tuple[Path, str]) -> None:
    _, out = demo
    # Unit groups (level 5) of NOC 2021 by TEER (second digit of the code).
    assert "teer\tunit_groups\n0\t48\n1\t97\n2\t162\n3\t69\n4\t95\n5\t45\n" in out
    # 42202: 246 800 jobs in 2023, 356 800 in 2033 -> +44.6 %, the largest growth.
    assert "42202\tEarly childhood educators and assistants\t246800\t356800\t44.6" in out
    assert "noc_structure\tsilver\tsuccess\t822\t822" in out
    assert "occupation_outlook\tgold\tsuccess\t5851\t485" in out


def test_demo_gold_values(demo: tuple[Path, str]) -> None:
    project, _ = demo
    result = jobforge(
        "query",
        "SELECT noc_code, title, employment_2023, employment_2033, change_pct "
        "FROM gold.occupation_outlook WHERE noc_code IN ('00010', '21211') ORDER BY noc_code",
        "--format",
        "json",
        cwd=project,
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {
            "noc_code": "00010",
            "title": "Legislators",
            "employment_2023": 4700,
            "employment_2033": 5000,
            "change_pct": 6.4,
        },
        {
            "noc_code": "21211",
            "title": "Data scientists",
            "employment_2023": 36600,
            "employment_2033": 42700,
            "change_pct": 16.7,
        },
    ]
    # 516 unit groups; 31 have no published projection ("N/A"), so 485 have an outlook,
    # and the fact table has one row per group and year (11 years).
    counts = jobforge(
        "query",
        "SELECT (SELECT count(*) FROM gold.dim_noc) AS units, "
        "(SELECT count(*) FROM gold.occupation_outlook) AS outlook, "
        "(SELECT count(*) FROM gold.fact_employment_projection) AS facts",
        "--format",
        "csv",
        cwd=project,
    )
    assert counts.out.splitlines() == ["units,outlook,facts", "516,485,5335"]


def test_query_formats_and_errors(demo: tuple[Path, str], tmp_path: Path) -> None:
    project, _ = demo
    out = tmp_path / "teer.parquet"
    result = jobforge(
        "query",
        "SELECT teer, count(*) AS n FROM gold.dim_noc GROUP BY teer",
        "--format",
        "parquet",
        "--output",
        str(out),
        cwd=project,
    )
    assert result.code == 0, result.err
    assert pl.read_parquet(out).sort("teer")["n"].to_list() == [48, 97, 162, 69, 95, 45]
    bad = jobforge("query", "SELEC nothing", cwd=project)
    assert bad.code == 1
    assert bad.err.startswith("error: ")
    assert "Traceback" not in bad.err
    write = jobforge("query", "COPY (SELECT 1) TO '/tmp/x.csv'", cwd=project)
    assert write.code != 0
    assert "Traceback" not in write.err
    parquet_needs_output = jobforge("query", "SELECT 1", "--format", "parquet", cwd=project)
    assert parquet_needs_output.code == 2


def test_catalog_commands(demo: tuple[Path, str]) -> None:
    project, _ = demo
    entries = json.loads(jobforge("catalog", "list", "--json", cwd=project).out)
    keys = sorted(f"{e['layer']}.{e['table_name']}" for e in entries)
    assert keys == sorted(
        [
            f"{layer}.{table}"
            for layer in ("staged", "bronze", "silver")
            for table in ("noc_structure", "employment")
        ]
        + ["gold.dim_noc", "gold.fact_employment_projection", "gold.occupation_outlook"]
    )
    gold_only = json.loads(
        jobforge("catalog", "list", "--layer", "gold", "--json", cwd=project).out
    )
    assert len(gold_only) == 3
    dim = json.loads(jobforge("catalog", "show", "dim_noc", "--json", cwd=project).out)
    assert dim["row_count"] == 516
    assert dim["data_owner"] == "Statistics Canada"
    assert dim["upstream_tables"] == ["silver.noc_structure"]
    assert dim["downstream_tables"] == ["gold.occupation_outlook"]
    columns = {c["name"]: c for c in dim["columns"]}
    assert columns["noc_code"]["glossary_term_id"] == "noc-code"
    assert columns["teer"]["glossary_term_id"] == "teer"
    text = jobforge("catalog", "show", "noc_structure", "--layer", "silver", cwd=project)
    assert "owner: Statistics Canada" in text.out
    missing = jobforge("catalog", "show", "nope", cwd=project)
    assert missing.code == 2  # an unknown table: the same for every command
    assert "unknown table 'nope'" in missing.err


def test_lineage_reaches_source_files_with_sha256(demo: tuple[Path, str]) -> None:
    project, _ = demo
    result = jobforge("lineage", "occupation_outlook", "--json", cwd=project)
    assert result.code == 0, result.err
    chain = json.loads(result.out)
    sources = {Path(s["source_file"]).name: s["sha256"] for s in chain["sources"]}
    for name in ("noc_structure_en.csv", "employment_emploi_2024_2033_noc2021.csv"):
        assert sources[name] == hashlib.sha256((REAL_DATA / name).read_bytes()).hexdigest()
    # Outlook rows come from 485 employment records: records 1-17 of the file are the
    # totals (00000, TEER_0-5, NOC1_0-9), the 485 unit groups with a projection follow.
    employment = next(
        s
        for s in chain["sources"]
        if Path(s["source_file"]).name == "employment_emploi_2024_2033_noc2021.csv"
    )
    assert employment["rows_used"] == {
        "source_rows": 485,
        "first_source_row": 18,
        "last_source_row": 533,
    }
    tables = [n["table"] for n in chain["nodes"]]
    assert tables[0] == "gold.occupation_outlook"
    assert {"staged.noc_structure", "staged.employment", "silver.employment"} <= set(tables)
    tree = jobforge("lineage", "occupation_outlook", cwd=project).out
    assert "gold.dim_noc" in tree and "file " in tree and "sha256 " in tree


def test_lineage_of_a_gold_row_reaches_the_raw_source_rows(demo: tuple[Path, str]) -> None:
    project, _ = demo
    result = jobforge(
        "lineage", "occupation_outlook", "--where", "noc_code = '21211'", "--json", cwd=project
    )
    assert result.code == 0, result.err
    [traced] = json.loads(result.out)
    assert traced["row"]["employment_2033"] == 42700
    by_file = {}
    for origin in traced["origins"]:
        by_file.setdefault(Path(origin["source_file"]).name, []).append(origin)
    # The raw employment record of 21211, found independently in the file:
    text = (REAL_DATA / "employment_emploi_2024_2033_noc2021.csv").read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    position = next(i for i, r in enumerate(records, start=1) if r["Code"] == "21211")
    [employment] = by_file["employment_emploi_2024_2033_noc2021.csv"]
    assert employment["source_row"] == position
    assert employment["raw"]["2033"] == "42700"
    assert employment["raw"]["Occupation Name"] == "Data scientists"
    noc = {o["raw"]["Code - NOC 2021 V1.0"] for o in by_file["noc_structure_en.csv"]}
    assert noc == {"21211", "2", "21"}


def test_lineage_of_a_batch(demo: tuple[Path, str]) -> None:
    project, _ = demo
    status = json.loads(jobforge("status", "--json", cwd=project).out)
    batch = next(
        s["last_batch"] for s in status if s["layer"] == "silver" and s["table"] == "noc_structure"
    )
    records = json.loads(jobforge("lineage", "--batch", batch, "--json", cwd=project).out)
    kinds = [(r["record_type"], r.get("target_layer")) for r in records]
    assert kinds[:3] == [
        ("ingestion", "staged"),
        ("transition", "bronze"),
        ("transition", "silver"),
    ]
    assert ("transition", "gold") in kinds


def test_quarantine_commands(tmp_path: Path) -> None:
    assert jobforge("init", "p", cwd=tmp_path).code == 0
    project = tmp_path / "p"
    assert jobforge("run", "-q", cwd=project).code == 0
    listed = json.loads(jobforge("quarantine", "list", "--json", cwd=project).out)
    assert sorted(
        (r["table_name"], r["layer"], r["rule_id"], r["rows"], r["duplicates"]) for r in listed
    ) == [
        ("occupations", "bronze", "cast:survey_date", 1, None),
        # record 3 repeats record 2: dropped as a duplicate, counted apart
        ("occupations", "silver", "dedupe", None, 1),
        ("occupations", "silver", "wage_not_negative", 1, None),
    ]
    duplicates = json.loads(
        jobforge("quarantine", "show", "occupations", "--duplicates", "--json", cwd=project).out
    )
    assert [(d["_source_row"], d["duplicate_of"]) for d in duplicates] == [(3, 2)]
    rows = json.loads(jobforge("quarantine", "show", "occupations", "--json", cwd=project).out)
    by_rule = {r["rule_id"]: r for r in rows}
    # Record 6 of sources/occupations.csv has the survey date "not a date";
    # record 5 has the median wage -1.
    assert by_rule["cast:survey_date"]["_source_row"] == 6
    assert json.loads(by_rule["cast:survey_date"]["row"])["Survey date"] == "not a date"
    assert by_rule["wage_not_negative"]["_source_row"] == 5
    assert by_rule["wage_not_negative"]["column"] == "median_wage"
    assert by_rule["cast:survey_date"]["column"] == "survey_date"
    silver_only = json.loads(
        jobforge(
            "quarantine", "show", "occupations", "--layer", "silver", "--json", cwd=project
        ).out
    )
    assert [r["rule_id"] for r in silver_only] == ["wage_not_negative"]
