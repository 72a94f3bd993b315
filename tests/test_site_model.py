"""The catalog site without a browser: the model it is built from, checked
against values worked out by hand from the projects' source files, the SQL it
shows (run through the real query engine), redaction, and `jobforge docs
build|serve` as real subprocesses."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from jobforge.catalog.governance import redaction_reason
from jobforge.pipeline.config import PipelineConfig
from jobforge.site.build import MARKER, build_site
from jobforge.site.model import build_site_model

from .cli_helpers import JOBFORGE, jobforge
from .conftest import REAL_DATA
from .site_projects import (
    REAL_GOLD_TABLES,
    REAL_SOURCE_TABLES,
    catalog_edges,
    catalog_entries,
    demo_project,
    init_project,
    read_site_model,
    real_project,
    run_ok,
)

DEMO_SOURCES = Path(__file__).resolve().parent.parent / "src" / "jobforge" / "demo" / "sources"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_project(tmp_path_factory.mktemp("site-demo"))


@pytest.fixture(scope="module")
def demo_model(demo: Path) -> dict[str, Any]:
    return build_site_model(PipelineConfig(demo / "data", entry_points=False), project_name="demo")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_project(tmp_path_factory.mktemp("site-real"))


def _table(model: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in model["tables"] if t["key"] == key)


def _column(table: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in table["columns"] if c["name"] == name)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _query(project: Path, sql: str) -> list[dict[str, Any]]:
    return json.loads(run_ok("query", sql, "--format", "json", cwd=project))


# -- the demo -----------------------------------------------------------------------------
def test_demo_model_has_every_table_and_the_lineage_of_the_project_file(
    demo_model: dict[str, Any], demo: Path
) -> None:
    keys = {t["key"] for t in demo_model["tables"]}
    sources = {"noc_structure", "employment"}
    golds = {"dim_noc", "fact_employment_projection", "occupation_outlook"}
    assert keys == {f"{layer}.{t}" for layer in ("staged", "bronze", "silver") for t in sources} | {
        f"gold.{t}" for t in golds
    }
    assert keys == set(catalog_entries(demo / "data"))
    assert demo_model["summary"]["by_layer"] == {"staged": 2, "bronze": 2, "silver": 2, "gold": 3}
    # jobforge.toml: each source table moves up a layer at a time; dim_noc reads
    # noc_structure, the fact reads employment, the outlook reads both gold tables.
    files = {s["id"]: s["name"] for s in demo_model["sources"]}
    edges = {(files.get(e["from"], e["from"]), e["to"]) for e in demo_model["edges"]}
    assert edges == {
        ("noc_structure_en.csv", "staged.noc_structure"),
        ("employment_emploi_2024_2033_noc2021.csv", "staged.employment"),
        ("staged.noc_structure", "bronze.noc_structure"),
        ("bronze.noc_structure", "silver.noc_structure"),
        ("staged.employment", "bronze.employment"),
        ("bronze.employment", "silver.employment"),
        ("silver.noc_structure", "gold.dim_noc"),
        ("silver.employment", "gold.fact_employment_projection"),
        ("gold.dim_noc", "gold.occupation_outlook"),
        ("gold.fact_employment_projection", "gold.occupation_outlook"),
    }
    table_edges = {(e["from"], e["to"]) for e in demo_model["edges"] if e["from"] in keys}
    assert table_edges == catalog_edges(catalog_entries(demo / "data"))
    assert demo_model["missing"] == []


def test_demo_source_files_rows_and_status(demo_model: dict[str, Any]) -> None:
    by_name = {s["name"]: s for s in demo_model["sources"]}
    for name in ("noc_structure_en.csv", "employment_emploi_2024_2033_noc2021.csv"):
        data = (DEMO_SOURCES / name).read_bytes()
        assert by_name[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert by_name[name]["size_bytes"] == len(data)
    noc = _csv_rows(DEMO_SOURCES / "noc_structure_en.csv")
    employment = _csv_rows(DEMO_SOURCES / "employment_emploi_2024_2033_noc2021.csv")
    assert by_name["noc_structure_en.csv"]["batches"][0]["rows"] == len(noc) == 822
    assert _table(demo_model, "staged.employment")["rows"] == len(employment) == 533
    # dim_noc: the level-5 groups of the hierarchy
    assert _table(demo_model, "gold.dim_noc")["rows"] == sum(r["Level"] == "5" for r in noc)
    for table in demo_model["tables"]:
        assert table["status"]["state"] == "up_to_date", table["key"]
        assert table["status"]["version"] == 1
        assert [r["status"] for r in table["runs"]] == ["success"]
        assert table["runs"][0]["current"] is True
        assert table["last_run"] == table["runs"][0]
    staged = _table(demo_model, "staged.noc_structure")["runs"][0]
    assert staged["kind"] == "ingestion" and staged["ledger"]["rows_in"] == 822


def test_demo_rules_columns_and_glossary(demo_model: dict[str, Any]) -> None:
    employment = _csv_rows(DEMO_SOURCES / "employment_emploi_2024_2033_noc2021.csv")
    no_projection = sum(r["2033"] == "N/A" for r in employment)
    assert no_projection == 31
    silver = _table(demo_model, "silver.employment")
    assert [
        (r["rule"], r["severity"], r["rows"], r["action"]) for r in silver["quarantine"]["rules"]
    ] == [
        ("projection_published", "warn", no_projection, "kept and counted"),
        ("employment_not_negative", "error", 0, "quarantined"),
    ]
    assert silver["quarantine"]["rows"] == 0
    assert silver["runs"][0]["ledger"]["rows_warned"] == no_projection
    # column lineage, as the catalog records it
    dim = _table(demo_model, "gold.dim_noc")
    # SELECT u.noc_code ... FROM noc_structure AS u: the column itself
    assert _column(dim, "noc_code")["lineage"] == [
        {
            "table": "silver.noc_structure",
            "column": "noc_code",
            "kind": "identity",
            "expression": "u.noc_code",
        }
    ]
    # CAST(substr(u.noc_code, 2, 1) AS INTEGER) AS teer
    teer = _column(dim, "teer")
    assert (teer["lineage_kind"], teer["lineage_expression"]) == (
        "expression",
        "CAST(SUBSTRING(u.noc_code, 2, 1) AS INT)",
    )
    assert [(s["table"], s["column"]) for s in teer["lineage"]] == [
        ("silver.noc_structure", "noc_code")
    ]
    bronze_code = _column(_table(demo_model, "bronze.noc_structure"), "noc_code")
    assert [(s["table"], s["column"], s["kind"]) for s in bronze_code["lineage"]] == [
        ("staged.noc_structure", "Code - NOC 2021 V1.0", "rename")
    ]
    staged_code = _column(_table(demo_model, "staged.noc_structure"), "Code - NOC 2021 V1.0")
    assert [(s["table"], s["column"], s["kind"]) for s in staged_code["lineage"]] == [
        (None, "Code - NOC 2021 V1.0", "identity")
    ]
    assert _column(dim, "noc_code")["glossary_term"] == "noc-code"
    # dim_noc declares noc_code pii = "none"; so does noc_structure, whose silver
    # noc_code it is computed from
    assert _column(dim, "noc_code")["pii"] == "none"
    assert _column(dim, "noc_code")["pii_origin"] == "declared"
    outlook = _table(demo_model, "gold.occupation_outlook")
    assert _column(outlook, "noc_code")["pii_origin"] == "inherited from gold.dim_noc.noc_code"
    assert outlook["classification_origin"] == "declared"
    # the glossary: noc_structure declares noc_code (bronze on: staged has the
    # source's header) and dim_noc declares noc_code and teer
    terms = {t["id"]: t for t in demo_model["glossary"]}
    assert set(terms) == {"noc-code", "teer", "employment-projection"}
    assert {(c["table"], c["column"]) for c in terms["noc-code"]["columns"]} == {
        ("bronze.noc_structure", "noc_code"),
        ("silver.noc_structure", "noc_code"),
        ("gold.dim_noc", "noc_code"),
    }
    assert terms["teer"]["related"] == ["noc-code"]
    assert terms["employment-projection"]["columns"] == [
        {"table": "gold.fact_employment_projection", "column": "employment"}
    ]
    # public tables with no PII: the catalog's example values are shown
    title = _column(_table(demo_model, "silver.noc_structure"), "class_title")
    assert title["examples_hidden"] is None
    assert title["examples"] and all(isinstance(v, str) for v in title["examples"])


def test_model_is_json_and_the_build_writes_a_site(demo: Path, tmp_path: Path) -> None:
    config = PipelineConfig(demo / "data", entry_points=False)
    built = build_site(config, tmp_path / "site", project_name="noc-warehouse")
    site = tmp_path / "site"
    assert built.tables == 9 and built.source_files == 2
    for name in (
        "index.html",
        "site-data.js",
        MARKER,
        "assets/app.js",
        "assets/app.css",
        "vendor/cytoscape.min.js",
        "vendor/cytoscape-dagre.min.js",
        "vendor/cytoscape.LICENSE",
        "vendor/cytoscape-dagre.LICENSE",
        "vendor/dagre.LICENSE",
        "vendor/graphlib.LICENSE",
    ):
        assert (site / name).is_file(), name
    assert built.bytes == sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    model = read_site_model(site)
    assert model["project"] == "noc-warehouse"
    assert {t["key"] for t in model["tables"]} == set(catalog_entries(demo / "data"))
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "connect-src 'none'" in index and "<title>noc-warehouse catalog</title>" in index
    # no address outside the site in any page file (the SVG namespace is a name, not a request)
    for name in ("index.html", "assets/app.js", "assets/app.css"):
        text = (site / name).read_text(encoding="utf-8")
        assert set(re.findall(r"https?://[^\s\"')]+", text)) <= {"http://www.w3.org/2000/svg"}, name
    assert "//cdn" not in index and "fetch(" not in (site / "assets/app.js").read_text("utf-8")


def test_build_replaces_a_site_but_never_another_folder(demo: Path, tmp_path: Path) -> None:
    config = PipelineConfig(demo / "data", entry_points=False)
    site = tmp_path / "site"
    build_site(config, site)
    (site / "stale.txt").write_text("from an older build", encoding="utf-8")
    build_site(config, site)
    assert not (site / "stale.txt").exists() and (site / "index.html").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no temporary left beside it

    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine", encoding="utf-8")
    result = jobforge("docs", "build", "-o", str(other), cwd=demo)
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {other}: a folder that is not a jobforge site (no {MARKER} in it); "
        "choose another --output or empty it first"
    )
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    result = jobforge("docs", "build", "-o", str(a_file), cwd=demo)
    assert result.code == 2 and "exists and is not a folder" in result.err
    assert a_file.read_text(encoding="utf-8") == "x"


def test_docs_build_command_defaults_to_site_beside_the_project(demo: Path) -> None:
    result = jobforge("docs", "build", "--json", cwd=demo)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["path"] == str(demo / "site")
    assert (report["tables"], report["source_files"]) == (9, 2)
    assert read_site_model(demo / "site")["project"] == "noc-warehouse"
    text = jobforge("docs", "build", cwd=demo)
    assert text.code == 0 and text.out.startswith(
        f"wrote {demo / 'site'} (9 tables, 2 source files"
    )


def test_docs_serve_answers_on_loopback_only_what_is_in_the_site(demo: Path) -> None:
    run_ok("docs", "build", cwd=demo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env["JOBFORGE_DISABLE_PLUGINS"] = "example"
    proc = subprocess.Popen(
        [JOBFORGE, "docs", "serve", "--port", "0", "--no-build"],
        cwd=demo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving {demo / 'site'} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split(" ")[0]
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode("utf-8")
            assert "connect-src 'none'" in response.headers["Content-Security-Policy"]
        assert '<script src="site-data.js"></script>' in page
        with urllib.request.urlopen(url + "site-data.js", timeout=10) as response:
            assert response.read() == (demo / "site" / "site-data.js").read_bytes()
        for path in ("vendor/", "../jobforge.toml", "%2e%2e/jobforge.toml"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path, timeout=10)
            assert refused.value.code == 404, path
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped")


def test_docs_serve_refuses_a_folder_that_is_not_a_site(tmp_path: Path) -> None:
    result = jobforge(
        "docs", "serve", "-o", str(tmp_path), "--no-build", "--port", "0", cwd=tmp_path
    )
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {tmp_path}: not a built site (run `jobforge docs build -o {tmp_path}` first)"
    )


def test_docs_command_imports_nothing_heavy() -> None:
    heavy = ("polars", "duckdb", "pyarrow")
    code = (
        "import sys, jobforge.cli.commands.docs; "
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


# -- quarantine, duplicates and their SQL ------------------------------------------------------
def test_quarantine_counts_and_their_sql_over_the_init_project(tmp_path: Path) -> None:
    project = init_project(tmp_path)
    model = build_site_model(PipelineConfig(project / "data", entry_points=False))
    # sources/occupations.csv: record 6 has the date "not a date" (bronze cast),
    # record 5 a wage of -1 (silver rule), record 3 repeats record 2 (duplicate).
    bronze = _table(model, "bronze.occupations")
    assert bronze["status"]["state"] == "quarantined"
    q = bronze["quarantine"]
    assert (q["rows"], q["recorded_rows"], q["unattributed_rows"], q["rules"]) == (1, 1, 1, [])
    assert _query(project, q["by_rule_sql"]) == [{"rule_id": "cast:survey_date", "rows": 1}]
    rows = _query(project, q["rows_sql"])
    assert [(r["_source_row"], r["column"]) for r in rows] == [(6, "survey_date")]

    silver = _table(model, "silver.occupations")
    q = silver["quarantine"]
    assert (q["rows"], q["recorded_rows"], q["unattributed_rows"], q["deduplicated_rows"]) == (
        1,
        1,
        0,
        1,
    )
    [rule] = q["rules"]
    assert (rule["rule"], rule["severity"], rule["rows"]) == ("wage_not_negative", "error", 1)
    rows = _query(project, rule["sql"])
    assert [(r["_source_row"], r["rule_id"], r["column"]) for r in rows] == [
        (5, "wage_not_negative", "median_wage")
    ]
    duplicates = _query(project, q["duplicates_sql"])
    assert [r["_source_row"] for r in duplicates] == [3]
    assert q["command"] == "jobforge quarantine show occupations --layer silver"
    ledger = silver["runs"][0]["ledger"]
    assert (ledger["rows_in"], ledger["rows_out"]) == (6, 4)
    assert _table(model, "gold.wage_by_teer")["status"]["state"] == "up_to_date"
    assert _table(model, "staged.occupations")["quarantine"]["rows"] == 0


def test_failed_runs_stale_tables_and_schema_history(tmp_path: Path) -> None:
    project = init_project(tmp_path)
    source = project / "sources" / "occupations.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[0] += ",Region"
    lines[1:] = [line + ",QC" for line in lines[1:]]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = project / "jobforge.toml"
    # SQL that fails when it runs (the checks before a run find nothing wrong in it)
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "FROM occupations\n", "FROM occupations WHERE error('broken on purpose') IS NULL\n"
        ),
        encoding="utf-8",
    )
    failed = jobforge("run", "--quiet", cwd=project)
    assert failed.code != 0
    model = build_site_model(PipelineConfig(project / "data", entry_points=False))
    gold = _table(model, "gold.wage_by_teer")
    assert gold["status"]["state"] == "failed"
    assert gold["status"]["version"] == 1  # the first build is still the current version
    assert [r["status"] for r in gold["runs"]] == ["success", "failed"]
    assert gold["last_run"]["status"] == "failed"
    assert "broken on purpose" in " ".join(gold["last_run"]["errors"])
    assert gold["last_run"]["current"] is False and gold["runs"][0]["current"] is True
    assert model["summary"]["states"]["failed"] == 1
    # bronze and silver took the new column: a second schema version, "added Region"
    for key in ("staged.occupations", "bronze.occupations", "silver.occupations"):
        history = _table(model, key)["schema_history"]
        assert len(history) == 2, key
        assert history[0]["changes"] is None
        assert history[1]["changes"] == {"added": ["Region"], "removed": [], "retyped": []}
    # staged keeps every batch; bronze and silver replace theirs
    staged = _table(model, "staged.occupations")
    assert (staged["status"]["state"], staged["status"]["batches"]) == ("up_to_date", 2)
    assert [r["current"] for r in staged["runs"]] == [True, True]
    for key in ("bronze.occupations", "silver.occupations"):
        assert _table(model, key)["status"]["state"] == "quarantined"
        assert [r["current"] for r in _table(model, key)["runs"]] == [False, True]


def test_an_upstream_published_after_gold_makes_it_stale(tmp_path: Path) -> None:
    project = init_project(tmp_path)
    source = project / "sources" / "occupations.csv"
    source.write_text(
        source.read_text(encoding="utf-8")
        + "14100,General office support workers,24.00,2024-06-01\n",
        encoding="utf-8",
    )
    run_ok("run", "--quiet", "--to", "silver", cwd=project)
    model = build_site_model(PipelineConfig(project / "data", entry_points=False))
    assert _table(model, "gold.wage_by_teer")["status"]["state"] == "stale"
    assert _table(model, "silver.occupations")["rows"] == 5  # 4 before, plus the new row


# -- redaction ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("classification", "pii", "reason"),
    [
        ("public", None, None),
        ("internal", "none", None),
        ("public", "quasi_identifier", "column classified quasi_identifier"),
        ("internal", "direct_identifier", "column classified direct_identifier"),
        ("public", "sensitive", "column classified sensitive"),
        ("confidential", None, "table classified confidential"),
        ("restricted", "none", "table classified restricted"),
        ("restricted", "sensitive", "column classified sensitive"),
    ],
)
def test_redaction_rule(classification: str, pii: str | None, reason: str | None) -> None:
    assert redaction_reason(classification, pii) == reason


def test_no_example_value_of_a_classified_column_reaches_the_catalog_or_the_site(
    real: Path,
) -> None:
    run_ok("docs", "build", cwd=real)
    site = real / "site"
    model = read_site_model(site)
    entries = catalog_entries(real / "data")
    assert set(entries) == {
        f"{layer}.{t}" for layer in ("staged", "bronze", "silver") for t in REAL_SOURCE_TABLES
    } | {f"gold.{t}" for t in REAL_GOLD_TABLES}
    assert {t["key"] for t in model["tables"]} == set(entries)
    pages = "\n".join(p.read_text("utf-8") for p in site.rglob("*") if p.suffix in (".js", ".html"))
    catalog = "\n".join(
        p.read_text("utf-8") for p in (real / "data" / "catalog").rglob("*") if p.is_file()
    )
    hidden = shown = 0
    for key, entry in entries.items():
        table = _table(model, key)
        for column in entry["columns"]:
            on_site = _column(table, column["name"])
            reason = redaction_reason(entry["classification"], column["pii_classification"])
            if reason is None:
                assert on_site["examples"] == column["example_values"], (key, column["name"])
                shown += bool(column["example_values"])
                continue
            # the catalog keeps no value of such a column, and the site says why it shows none
            assert column["example_values"] == [], (key, column["name"])
            assert on_site["examples"] == [] and on_site["examples_hidden"] == reason
            hidden += 1
    # agreements and og_agreements are confidential (each column, in every layer), and
    # og_subgroups.subgroup_name a quasi-identifier: the values of the first records of
    # their files are in no catalog file and on no page
    agreements = json.loads((REAL_DATA / "collective_agreements.json").read_text("utf-8"))
    subgroups = json.loads((REAL_DATA / "og_subgroups_en.json").read_text("utf-8"))
    values = [
        agreements[0]["agreement_id"],
        agreements[0]["agreement_name"],
        agreements[0]["bargaining_agent"],
        subgroups[0]["subgroup_name"],
    ]
    assert values[0] == "4d3fe973-00e1-574b-9624-e368954bd290"
    assert values[3] == "Non-Operational"
    for value in values:
        text = json.dumps(value, ensure_ascii=False)[1:-1]
        assert text not in pages and text not in catalog, value
    # 11 columns of agreements in three layers, 2 of og_agreements, subgroup_name in
    # three layers, and every provenance column of the four confidential entries
    assert hidden > 11 * 3 + 2 + 3 and shown > 100
    og = _table(model, "silver.og_subgroups")
    assert og["pii"] == ["quasi_identifier"] and og["classification"] == "internal"
    assert _column(og, "subgroup_name")["examples_hidden"] == "column classified quasi_identifier"
    og_code = next(c for c in entries["silver.og_subgroups"]["columns"] if c["name"] == "og_code")
    # an internal table's column with no PII class keeps its examples (the first records)
    assert og_code["example_values"] == [s["og_code"] for s in subgroups[:3]]
    assert _column(og, "og_code")["examples"] == og_code["example_values"]
    # og_agreements: confidential, declared; its inputs give confidential too (agreements)
    og_agreements = _table(model, "gold.og_agreements")
    assert og_agreements["classification"] == "confidential"
    assert og_agreements["classification_origin"] == "declared"


def test_real_project_quarantine_by_rule(real: Path) -> None:
    model = build_site_model(PipelineConfig(real / "data", entry_points=False))
    employment = _csv_rows(REAL_DATA / "employment_emploi_2024_2033_noc2021.csv")
    years = [str(y) for y in range(2023, 2034)]
    not_a_number = [r for r in employment if any(not r[y].isdigit() for y in years)]
    kept = [r for r in employment if r not in not_a_number]
    not_units = [r for r in kept if len(r["Code"]) != 5]
    assert (len(not_a_number), len(not_units)) == (31, 16)
    bronze = _table(model, "bronze.employment")["quarantine"]
    assert (bronze["rows"], bronze["unattributed_rows"], bronze["rules"]) == (31, 31, [])
    silver = _table(model, "silver.employment")["quarantine"]
    assert [(r["rule"], r["rows"]) for r in silver["rules"]] == [("unit", 16)]
    assert silver["rows"] == 16
    assert len(_query(real, silver["rules"][0]["sql"])) == 16
    by_rule = _query(real, bronze["by_rule_sql"])
    assert sum(r["rows"] for r in by_rule) == 31
    assert all(r["rule_id"].startswith("cast:") for r in by_rule)


def test_the_site_benchmark_runs_and_prints_its_figures(tmp_path: Path) -> None:
    """benchmarks/site.py on a small catalog: it builds what it says (no timing asserted)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "site.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    done = subprocess.run(
        [sys.executable, str(script), "--tables", "12", "--repeat", "2", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**env, "JOBFORGE_DISABLE_PLUGINS": "example"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # 12 entries: 3 source tables in three layers and 3 gold tables, one run each
    assert "tables: 12, source files: 3, runs: 12" in lines
    assert [line.split(":")[0] for line in lines[-3:]] == ["gather", "write", "build"]
    assert all(
        re.search(r"best \d+\.\d{3} s, median \d+\.\d{3} s \(2 runs\)", x) for x in lines[-3:]
    )
    assert len(read_site_model(tmp_path / "site")["tables"]) == 12
