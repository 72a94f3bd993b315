"""Issue 6: jobforge.toml is validated before anything runs: every mistake at once,
each with its location; unknown keys and cycles are errors; tables run in dependency order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobforge.errors import ConfigError
from jobforge.project.loader import ProjectError, load_project

from .cli_helpers import jobforge

BROKEN = """
[project]
nmae = "x"

[tables.noc]
source = "a.csv"
domain = "a/b"

[tables.noc.bronze]
cast = { code = "strng", level = { type = "int", fromat = "x" } }

[tables.noc.silver]
dedupe = "rows"
rules = [{ id = "r1", expression = "x > 0", severity = "fatal" }]

[tables.noc.columns.code]
glossary_term = "nope"

[gold.a]
inputs = ["b"]
sql = "select 1"

[gold.b]
inputs = ["a", "missing"]
sql = "select 1"

[gold.c]
inputs = ["noc"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobforge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_mistake_is_reported_with_its_location(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, BROKEN))
    assert sorted(exc.value.problems) == sorted(
        [
            "project.nmae: unknown key",
            "tables.noc.domain: invalid domain 'a/b': expected 1-128 letters, digits, '_' or '-', "
            "starting with a letter or digit (no path separators, no '..')",
            'tables.noc.bronze.cast.code: unknown type "strng"; expected one of string, int, '
            "float, bool, date, datetime",
            "tables.noc.bronze.cast.level.fromat: unknown key",
            "tables.noc.silver.dedupe: got 'rows'; "
            'expected "row", "none" or a list of key columns',
            "tables.noc.silver.rules.0.severity: got 'fatal'; input should be 'error' or 'warn'",
            "gold.c: give exactly one of sql or function",
            "gold.b.inputs.1: unknown table 'missing'; expected one of a, b, c, noc",
            "tables.noc.columns.code.glossary_term: unknown term 'nope'; declare it under "
            "[glossary.nope]",
            "gold: the gold tables form a cycle: a -> b -> a",
        ]
    )
    assert str(exc.value).startswith(f"{tmp_path / 'jobforge.toml'}: 10 problems:")


def test_the_command_reports_them_and_exits_2_without_running(tmp_path: Path) -> None:
    write(tmp_path, BROKEN)
    result = jobforge("run", cwd=tmp_path)
    assert result.code == 2
    assert "10 problems" in result.err
    assert "gold: the gold tables form a cycle: a -> b -> a" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "data").exists()


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, "[project\nname = 1\n"))
    assert "not valid TOML" in str(exc.value)
    assert "line 1" in str(exc.value)


def test_order_is_sources_then_gold_by_dependency(tmp_path: Path) -> None:
    project = load_project(
        write(
            tmp_path,
            """
[tables.b_source]
source = "b.csv"
[tables.a_source]
source = "a.csv"
[gold.report]
inputs = ["summary", "a_source"]
sql = "SELECT * FROM summary"
[gold.summary]
inputs = ["b_source"]
sql = "SELECT * FROM b_source"
""",
        )
    )
    assert project.order == ["b_source", "a_source", "summary", "report"]
    assert project.data_root == tmp_path.resolve() / "data"


def test_bad_table_key_and_clash(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as exc:
        load_project(
            write(
                tmp_path,
                """
[tables."../escape"]
source = "a.csv"
[tables.same]
source = "a.csv"
[gold.same]
inputs = ["same"]
sql = "SELECT 1"
""",
            )
        )
    problems = exc.value.problems
    assert any(p.startswith("tables.../escape: invalid table name '../escape'") for p in problems)
    assert "gold.same: a source table has the same name" in problems


def test_source_glob_that_matches_nothing_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, '[tables.t]\nsource = "missing/*.csv"\n')
    result = jobforge("run", cwd=tmp_path)
    assert result.code == 2
    assert "tables.t.source: 'missing/*.csv' matches no file" in result.err


def test_glob_source_ingests_each_file_as_a_batch(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "2024.csv").write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    (tmp_path / "in" / "2025.csv").write_text("id,v\n3,c\n", encoding="utf-8")
    write(tmp_path, '[tables.t]\nsource = "in/*.csv"\n[tables.t.bronze]\ncast = { id = "int" }\n')
    result = jobforge("run", "-q", cwd=tmp_path)
    assert result.code == 0, result.err
    status = jobforge("status", "--json", cwd=tmp_path).out
    rows = {(s["layer"], s["table"]): s for s in json.loads(status)}
    assert rows[("staged", "t")]["batches"] == 2
    assert rows[("silver", "t")]["rows"] == 3
    assert rows[("silver", "t")]["batches"] == 2


def test_missing_project_file(tmp_path: Path) -> None:
    from jobforge.project.loader import find_project_file

    with pytest.raises(ConfigError, match="no project file"):
        find_project_file(tmp_path)
