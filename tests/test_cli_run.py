"""Issue 6: `jobforge init`, `run`, `status`, `ingest`, `promote` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from .cli_helpers import jobforge


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = jobforge("init", "proj", cwd=tmp_path)
    assert result.code == 0, result.err
    return tmp_path / "proj"


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_init_writes_a_project_that_runs(project: Path) -> None:
    assert (project / "jobforge.toml").is_file()
    assert (project / "sources" / "occupations.csv").is_file()
    for folder in ("staged", "bronze", "silver", "gold", "quarantine", "catalog/tables"):
        assert (project / "data" / folder).is_dir()
    result = jobforge("run", "--json", cwd=project)
    assert result.code == 0, result.err
    steps = {(s["table"], s["layer"]): s for s in json.loads(result.out)}
    # occupations.csv: 7 records; "not a date" fails the bronze date cast; the two
    # identical "Data scientists" rows are one duplicate; the wage -1 breaks the rule.
    assert steps[("occupations", "staged")]["rows_out"] == 7
    assert steps[("occupations", "bronze")]["rows_out"] == 6
    assert steps[("occupations", "bronze")]["rows_quarantined"] == 1
    assert steps[("occupations", "bronze")]["status"] == "partial"
    assert steps[("occupations", "silver")]["rows_deduplicated"] == 1
    assert steps[("occupations", "silver")]["rows_quarantined"] == 1
    assert steps[("occupations", "silver")]["rows_out"] == 4
    assert steps[("wage_by_teer", "gold")]["rows_out"] == 3
    gold_dir = project / "data" / "gold" / "wage_by_teer"
    gold = pl.read_parquet(sorted(gold_dir.glob("batch=*.parquet"))).sort("teer")
    assert gold.select("teer", "occupations", "avg_median_wage").rows() == [
        (0, 1, 61.54),
        (1, 2, 43.75),
        (5, 1, None),
    ]


def test_init_refuses_to_overwrite(project: Path) -> None:
    result = jobforge("init", ".", cwd=project)
    assert result.code == 2
    assert result.err.startswith("error: ")
    assert "already exists" in result.err
    assert "Traceback" not in result.err


def test_run_prints_plain_lines_and_a_summary_when_not_a_terminal(project: Path) -> None:
    result = jobforge("run", cwd=project)
    assert result.code == 0, result.err
    assert "occupations silver: partial, 4 rows (1 quarantined, 1 deduplicated)" in result.out
    assert "table\tlayer\tstatus" in result.out
    quiet = jobforge("run", "--quiet", cwd=project)
    assert "occupations silver:" not in quiet.out
    assert "occupations\tstaged\tup to date" in quiet.out
    assert quiet.out.splitlines()[-1] == "ran 0, up to date 4"


def test_dry_run_writes_nothing_and_names_reader_and_plugins(project: Path) -> None:
    before = files_under(project)
    result = jobforge("run", "--dry-run", cwd=project)
    assert result.code == 0, result.err
    assert files_under(project) == before
    assert "with reader readers (csv)" in result.out
    assert "jobforge_resolve_layer_path: dama" in result.out
    assert "jobforge_executor: polars" in result.out
    plan = json.loads(jobforge("run", "--dry-run", "--json", cwd=project).out)
    assert [(s["table"], s["layer"]) for s in plan["steps"]] == [
        ("occupations", "staged"),
        ("occupations", "bronze"),
        ("occupations", "silver"),
        ("wage_by_teer", "gold"),
    ]
    assert files_under(project) == before


def test_run_to_bronze_and_single_table(project: Path) -> None:
    result = jobforge("run", "--to", "bronze", "--json", cwd=project)
    assert result.code == 0, result.err
    layers = [(s["table"], s["layer"]) for s in json.loads(result.out)]
    assert layers == [("occupations", "staged"), ("occupations", "bronze")]
    assert not (project / "data" / "silver" / "occupations").exists()
    unknown = jobforge("run", "--table", "nope", cwd=project)
    assert unknown.code == 2
    assert (
        unknown.err.strip()
        == "error: --table: unknown table 'nope'; known tables: occupations, wage_by_teer"
    )


def test_status_reports_every_layer(project: Path) -> None:
    assert jobforge("run", "-q", cwd=project).code == 0
    result = jobforge("status", "--json", cwd=project)
    assert result.code == 0, result.err
    rows = {(s["layer"], s["table"]): s for s in json.loads(result.out)}
    assert rows[("staged", "occupations")]["rows"] == 7
    assert rows[("bronze", "occupations")]["rows"] == 6
    assert rows[("bronze", "occupations")]["quarantined_rows"] == 1
    assert rows[("silver", "occupations")]["rows"] == 4
    assert rows[("gold", "wage_by_teer")]["upstream"] == ["silver.occupations"]
    assert not any(s["stale"] for s in rows.values())
    # Promoting by hand what is up to date does nothing ...
    same = jobforge("promote", "occupations", "--to", "silver", cwd=project)
    assert same.code == 0 and "up to date" in same.out
    # ... unless forced: then gold is older than its upstream.
    assert jobforge("promote", "occupations", "--to", "silver", "--force", cwd=project).code == 0
    rows = {
        (s["layer"], s["table"]): s
        for s in json.loads(jobforge("status", "--json", cwd=project).out)
    }
    assert rows[("gold", "wage_by_teer")]["stale"] is True
    assert rows[("silver", "occupations")]["version"] == 2


def test_ingest_skips_identical_file_unless_forced(project: Path) -> None:
    source = project / "sources" / "occupations.csv"
    first = jobforge("ingest", str(source), "--table", "occupations", "--json", cwd=project)
    assert first.code == 0, first.err
    first_result = json.loads(first.out)
    assert first_result["rows"] == 7 and first_result["skipped"] is False
    again = json.loads(
        jobforge("ingest", str(source), "--table", "occupations", "--json", cwd=project).out
    )
    assert again["skipped"] is True
    assert again["batch_id"] == first_result["batch_id"]
    forced = json.loads(
        jobforge(
            "ingest", str(source), "--table", "occupations", "--force", "--json", cwd=project
        ).out
    )
    assert forced["skipped"] is False
    assert forced["batch_id"] != first_result["batch_id"]


def test_promote_step_by_step(project: Path) -> None:
    source = project / "sources" / "occupations.csv"
    assert jobforge("ingest", str(source), "--table", "occupations", cwd=project).code == 0
    bronze = jobforge("promote", "occupations", "--to", "bronze", cwd=project)
    assert bronze.code == 0, bronze.err
    assert "staged.occupations -> bronze.occupations: partial, 7 in, 6 out, 1 quarantined" in (
        bronze.out
    )
    silver = jobforge("promote", "occupations", "--to", "silver", "--json", cwd=project)
    record = json.loads(silver.out)
    assert record["ledger"] == {
        "rows_in": 6,
        "rows_out": 4,
        "rows_quarantined": 1,
        "rows_deduplicated": 1,
        "rows_filtered": 0,
        "rows_generated": 0,
        "rows_warned": 0,
    }
    gold = jobforge("promote", "wage_by_teer", "--to", "gold", cwd=project)
    assert gold.code == 0, gold.err
    missing = jobforge("promote", "nope", "--to", "gold", cwd=project)
    assert missing.code == 2
    assert "unknown table 'nope'" in missing.err


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = jobforge("ingest", "nope.csv", "--table", "t", cwd=tmp_path)
    assert missing.code == 1
    assert missing.err.strip() == "error: nope.csv: no such file"
    bad_name = jobforge("ingest", "nope.csv", "--table", "../x", cwd=tmp_path)
    assert bad_name.code == 2
    assert "invalid table name '../x'" in bad_name.err
    no_project = jobforge("run", cwd=tmp_path)
    assert no_project.code == 2
    assert "no project file" in no_project.err
    usage = jobforge("run", "--to", "platinum", cwd=tmp_path)
    assert usage.code == 2
    for result in (missing, bad_name, no_project):
        assert "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1


def test_version_and_data_root_option(tmp_path: Path) -> None:
    assert jobforge("--version", cwd=tmp_path).out.strip() == "jobforge 2.0.0"
    source = tmp_path / "a.csv"
    source.write_text("x,y\n1,2\n", encoding="utf-8")
    result = jobforge("--data-root", "warehouse", "ingest", "a.csv", "--table", "a", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "warehouse" / "staged" / "a" / "_current.json").is_file()
    env_root = jobforge(
        "ingest",
        "a.csv",
        "--table",
        "b",
        cwd=tmp_path,
        env={"JOBFORGE_DATA_ROOT": str(tmp_path / "envroot")},
    )
    assert env_root.code == 0, env_root.err
    assert (tmp_path / "envroot" / "staged" / "b" / "_current.json").is_file()
