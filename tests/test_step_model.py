"""One model of a step: a ``jobforge.toml`` table parses straight into the
engine's step specs and the catalog's table declaration, so the file and the
library check the same things with the same words."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jobforge.catalog.declarations import ColumnDeclaration, TableDeclaration, TableLabels
from jobforge.engine.steps import BronzeSchema, GoldSpec, GoldStep, SilverSpec
from jobforge.project.loader import ProjectError, load_project
from jobforge.project.model import GoldTable, SourceTable
from jobforge.project.runner import declaration_for, gold_spec, silver_spec

PROJECT = """
[tables.noc]
source = "noc.csv"

[tables.noc.metadata]
owner = "Statistics"
classification = "public"

[tables.noc.columns.code]
description = "The NOC code"

[tables.noc.bronze]
rename = { "Code" = "code" }

[tables.noc.silver]
dedupe = ["code"]
rules = [{ id = "has_code", expression = "code IS NOT NULL" }]
transforms = ["tests.transforms:upper"]
"""


def test_the_sections_are_the_engines_models() -> None:
    fields = SourceTable.model_fields
    assert fields["bronze"].annotation is BronzeSchema
    assert fields["silver"].annotation is SilverSpec
    assert fields["metadata"].annotation is TableLabels
    assert GoldTable.model_fields["metadata"].annotation is TableLabels
    assert set(TableDeclaration.model_fields) == {
        *TableLabels.model_fields,
        "columns",
        "control_totals",
    }


def test_a_table_parses_into_the_specs_the_engine_runs(tmp_path: Path) -> None:
    (tmp_path / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    table = load_project(tmp_path / "jobforge.toml").spec.tables["noc"]
    spec = silver_spec(table)
    assert spec is table.silver
    assert spec.dedupe == ["code"]
    assert [(r.id, r.expression) for r in spec.rules] == [("has_code", "code IS NOT NULL")]
    assert spec.transforms == ["tests.transforms:upper"]
    assert table.bronze.rename == {"Code": "code"}
    declaration = declaration_for(table)
    assert declaration == TableDeclaration(
        owner="Statistics",
        classification="public",
        columns={"code": ColumnDeclaration(description="The NOC code")},
    )


def test_the_library_gets_the_checks_of_the_file() -> None:
    with pytest.raises(ValidationError, match=r"got 'rows'; expected \"row\", \"none\" or a list"):
        SilverSpec(dedupe="rows")
    with pytest.raises(ValidationError, match="'upper': expected \"module:function\""):
        SilverSpec(transforms=["upper"])
    with pytest.raises(ValidationError, match='1: expected a function or "module:function"'):
        SilverSpec(transforms=[1])
    assert SilverSpec(transforms=[str.upper, "m:f"]).transforms == [str.upper, "m:f"]


def test_the_file_gets_the_checks_of_the_library(tmp_path: Path) -> None:
    """Duplicate rule ids were only refused when the table ran; now when the file loads."""
    text = PROJECT.replace(
        'rules = [{ id = "has_code", expression = "code IS NOT NULL" }]',
        'rules = [{ id = "r", expression = "code > 0" }, { id = "r", expression = "code < 9" }]',
    )
    (tmp_path / "jobforge.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError) as exc:
        load_project(tmp_path / "jobforge.toml")
    assert exc.value.problems == ["tables.noc.silver: rules: duplicate rule id(s) r"]


GOLD = """
[tables.noc]
source = "noc.csv"

[gold.by_code]
inputs = ["noc"]
sql = "SELECT * FROM noc"
domain = "labour"

[gold.by_code.metadata]
owner = "Statistics"
"""


def test_the_gold_section_is_the_engines_gold_step(tmp_path: Path) -> None:
    """The section declares none of the step's fields again: they, and their
    checks, are :class:`GoldStep`'s, which :class:`GoldSpec` is too."""
    assert issubclass(GoldTable, GoldStep) and issubclass(GoldSpec, GoldStep)
    assert not set(GoldTable.__annotations__) & set(GoldStep.model_fields)
    assert set(GoldTable.model_fields) - set(GoldStep.model_fields) == {
        "metadata",
        "audit",
        "columns",
    }
    (tmp_path / "jobforge.toml").write_text(GOLD, encoding="utf-8")
    table = load_project(tmp_path / "jobforge.toml").spec.gold["by_code"]
    spec = gold_spec("by_code", table)
    assert type(spec) is GoldSpec
    assert (spec.name, spec.inputs, spec.sql, spec.function, spec.domain) == (
        "by_code",
        ["noc"],
        "SELECT * FROM noc",
        None,
        "labour",
    )


def test_the_gold_checks_are_the_same_in_the_file_and_the_library(tmp_path: Path) -> None:
    for bad, message in (
        ({"inputs": []}, "a gold table needs at least one input"),
        ({"inputs": ["noc"]}, "give exactly one of sql or function"),
        ({"inputs": ["noc"], "function": "upper"}, "'upper': expected \"module:function\""),
        ({"inputs": ["bad name"], "sql": "SELECT 1"}, "table name 'bad name'"),
    ):
        with pytest.raises(ValidationError, match=message):
            GoldSpec(name="g", **bad)
        lines = ["[gold.g]"] + [
            f"{k} = {v!r}".replace("'", '"') if not isinstance(v, list) else f"{k} = {v!r}"
            for k, v in bad.items()
        ]
        (tmp_path / "jobforge.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ProjectError, match=message):
            load_project(tmp_path / "jobforge.toml")
