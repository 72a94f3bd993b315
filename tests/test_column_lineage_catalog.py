"""Column lineage in the catalog: worked out by the engine (not the executor) for
every step, queryable as ``catalog.column_lineage`` and shown by ``jobforge
lineage TABLE --column COL``.

The demo's gold lineage was worked out by hand from the SQL of
``src/jobforge/demo/jobforge.toml``; the other expectations from the small
inputs written below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobforge.catalog.declarations import ColumnDeclaration, TableDeclaration
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.errors import ConfigError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import TableMetadata

from .cli_helpers import jobforge

YEARS = [f"silver.employment.y{year}" for year in range(2023, 2034)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lineage-demo")
    done = jobforge("demo", "warehouse", "--quiet", cwd=root, timeout=300)
    assert done.code == 0, done.err
    return root / "warehouse"


def _lineage(entry: dict[str, Any]) -> dict[str, tuple[list[str], str, str | None]]:
    return {
        c["name"]: (c["source_columns"], c["lineage_kind"], c["lineage_expression"])
        for c in entry["columns"]
    }


def _entry(project: Path, layer: str, table: str) -> dict[str, Any]:
    path = project / "data" / "catalog" / "tables" / layer / f"{table}.json"
    return json.loads(path.read_text(encoding="utf-8"))


STAMPED = {"_layer": ([], "literal", None), "_processed_at": ([], "literal", None)}


def test_the_demo_gold_tables_column_lineage_in_the_catalog(demo: Path) -> None:
    noc = "silver.noc_structure"
    assert _lineage(_entry(demo, "gold", "dim_noc")) == {
        "noc_code": ([f"{noc}.noc_code"], "identity", "u.noc_code"),
        "title": ([f"{noc}.class_title"], "rename", "u.class_title"),
        "teer": ([f"{noc}.noc_code"], "expression", "CAST(SUBSTRING(u.noc_code, 2, 1) AS INT)"),
        "broad_category_code": ([f"{noc}.noc_code"], "rename", "b.noc_code"),
        "broad_category": ([f"{noc}.class_title"], "rename", "b.class_title"),
        "major_group_code": ([f"{noc}.noc_code"], "rename", "m.noc_code"),
        "major_group": ([f"{noc}.class_title"], "rename", "m.class_title"),
        "_lineage": (
            [f"{noc}._lineage"],
            "expression",
            "u._lineage || b._lineage || m._lineage",
        ),
        **STAMPED,
    }
    assert _lineage(_entry(demo, "gold", "fact_employment_projection")) == {
        "noc_code": (["silver.employment.noc_code"], "identity", "noc_code"),
        # the UNPIVOT's name column: made of column names, no data column
        "year": ([], "literal", "CAST(SUBSTRING(year_column, 2) AS INT)"),
        "employment": (YEARS, "rename", " | ".join(y.rsplit(".", 1)[1] for y in YEARS)),
        "_lineage": (["silver.employment._lineage"], "identity", "_lineage"),
        **STAMPED,
    }
    dim, fact = "gold.dim_noc", "gold.fact_employment_projection"
    assert _lineage(_entry(demo, "gold", "occupation_outlook")) == {
        # from dim_noc only, though both inputs have a noc_code
        "noc_code": ([f"{dim}.noc_code"], "identity", "d.noc_code"),
        "title": ([f"{dim}.title"], "identity", "d.title"),
        "teer": ([f"{dim}.teer"], "identity", "d.teer"),
        "broad_category": ([f"{dim}.broad_category"], "identity", "d.broad_category"),
        "employment_2023": ([f"{fact}.employment"], "rename", "e23.employment"),
        "employment_2033": ([f"{fact}.employment"], "rename", "e33.employment"),
        "change_2023_2033": (
            [f"{fact}.employment"],
            "expression",
            "e33.employment - e23.employment",
        ),
        "change_pct": (
            [f"{fact}.employment"],
            "expression",
            "ROUND(100.0 * (e33.employment - e23.employment) / e23.employment, 1)",
        ),
        "_lineage": (
            [f"{dim}._lineage", f"{fact}._lineage"],
            "expression",
            "d._lineage || e23._lineage || e33._lineage",
        ),
        **STAMPED,
    }
    # bronze and silver: renames, casts and pass-through, down to the file's headers
    bronze = _lineage(_entry(demo, "bronze", "employment"))
    assert bronze["y2023"] == (
        ["staged.employment.2023"],
        "cast",
        "rename:2023->y2023; cast:y2023:int",
    )
    assert bronze["noc_code"] == (["staged.employment.Code"], "rename", "rename:Code->noc_code")
    assert bronze["_batch_id"] == (["staged.employment._batch_id"], "identity", None)
    assert _lineage(_entry(demo, "silver", "employment"))["y2023"] == (
        ["bronze.employment.y2023"],
        "identity",
        None,
    )
    assert _lineage(_entry(demo, "staged", "employment"))["2023"] == (["2023"], "identity", None)


def test_catalog_column_lineage_is_a_view(demo: Path) -> None:
    done = jobforge(
        "query",
        "SELECT target_column, source_layer, source_table, source_column, kind "
        "FROM catalog.column_lineage WHERE target_table = 'occupation_outlook' "
        "ORDER BY position, source_table",
        "--format",
        "json",
        cwd=demo,
    )
    assert done.code == 0, done.err
    rows = [tuple(r.values()) for r in json.loads(done.out)]
    fact = ("gold", "fact_employment_projection", "employment")
    assert rows == [
        ("noc_code", "gold", "dim_noc", "noc_code", "identity"),
        ("title", "gold", "dim_noc", "title", "identity"),
        ("teer", "gold", "dim_noc", "teer", "identity"),
        ("broad_category", "gold", "dim_noc", "broad_category", "identity"),
        ("employment_2023", *fact, "rename"),
        ("employment_2033", *fact, "rename"),
        ("change_2023_2033", *fact, "expression"),
        ("change_pct", *fact, "expression"),
        ("_lineage", "gold", "dim_noc", "_lineage", "expression"),
        ("_lineage", "gold", "fact_employment_projection", "_lineage", "expression"),
        # no source column: one row, its source null
        ("_layer", None, None, None, "literal"),
        ("_processed_at", None, None, None, "literal"),
    ]
    # a staged column's source is the file's header (Level, Hierarchical structure, Code ...)
    done = jobforge(
        "query",
        "SELECT source_layer, source_table, source_column, kind FROM catalog.column_lineage "
        "WHERE target_layer = 'staged' AND target_table = 'noc_structure' AND position = 3",
        "--format",
        "json",
        cwd=demo,
    )
    assert json.loads(done.out) == [
        {
            "source_layer": "source",
            "source_table": None,
            "source_column": "Code - NOC 2021 V1.0",
            "kind": "identity",
        }
    ]


def test_lineage_column_shows_the_tree_down_to_the_header(demo: Path) -> None:
    done = jobforge("lineage", "occupation_outlook", "--column", "noc_code", cwd=demo)
    assert done.code == 0, done.err
    source = demo.resolve() / "sources" / "noc_structure_en.csv"
    assert done.out.splitlines() == [
        "gold.occupation_outlook.noc_code  identity  d.noc_code  "
        "[pii none: inherited from gold.dim_noc.noc_code]",
        "└── gold.dim_noc.noc_code  identity  u.noc_code  [pii none: declared]",
        "    └── silver.noc_structure.noc_code  identity  [pii none: declared]",
        "        └── bronze.noc_structure.noc_code  rename  "
        "rename:Code - NOC 2021 V1.0->noc_code  [pii none: declared]",
        "            └── staged.noc_structure.Code - NOC 2021 V1.0  identity",
        f"                └── header 'Code - NOC 2021 V1.0' of {source}",
    ]
    done = jobforge("lineage", "occupation_outlook", "--column", "change_pct", "--json", cwd=demo)
    tree = json.loads(done.out)
    assert (tree["kind"], tree["pii"]) == ("expression", "none")
    [fact] = tree["sources"]
    assert (fact["table"], fact["column"], fact["kind"]) == (
        "fact_employment_projection",
        "employment",
        "rename",
    )
    # employment is the 11 unpivoted year columns, each down to its header
    assert [s["column"] for s in fact["sources"]] == [y.rsplit(".", 1)[1] for y in YEARS]
    leaves = [s["sources"][0]["sources"][0]["sources"][0] for s in fact["sources"]]
    assert [(leaf["layer"], leaf["column"]) for leaf in leaves] == [
        ("source", str(year)) for year in range(2023, 2034)
    ]
    assert all(
        leaf["files"]
        == [str(demo.resolve() / "sources" / "employment_emploi_2024_2033_noc2021.csv")]
        for leaf in leaves
    )
    missing = jobforge("lineage", "occupation_outlook", "--column", "nope", cwd=demo)
    assert missing.code == 1
    assert missing.err.startswith(
        "error: gold.occupation_outlook has no column 'nope'; its columns: 'noc_code', 'title'"
    )


# -- lineage the engine reads from code: gold functions and silver transforms -----------------
EMPLOYEES = """id,name,email,salary,department
1,Ann Smith,ann.smith@example.org,81234.50,Finance
2,Bob Jones,bob.jones@example.org,72345.25,Finance
3,Emma Tremblay,emma.tremblay@example.org,105678.10,IT
"""


def directory(frames: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return frames["employees"].select(
        pl.col("name"),
        pl.col("mail").str.to_uppercase().alias("contact"),
        (pl.col("salary") * 12).alias("yearly"),
        pl.col("department").alias("unit"),
        pl.col("_lineage"),
    )


def by_unit(frames: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        frames["employees"]
        .group_by("department", maintain_order=True)
        .agg(
            pl.col("salary").sum().alias("total"),
            pl.len().alias("staff"),
            pl.col("_lineage").list.explode(keep_nulls=False, empty_as_null=False),
        )
    )


def collected(frames: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    """A function whose plan is gone: it returns a collected frame."""
    return frames["employees"].select(pl.col("department").alias("unit"), "_lineage").collect()


def upper_names(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.col("name").str.to_uppercase())


def _hr(tmp_path: Path) -> PipelineEngine:
    source = tmp_path / "employees.csv"
    source.write_text(EMPLOYEES, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    declaration = TableDeclaration(
        classification="confidential",
        columns={
            "email": ColumnDeclaration(pii="direct_identifier"),
            "salary": ColumnDeclaration(pii="sensitive"),
        },
    )
    engine.run_full_pipeline(
        source,
        "employees",
        bronze_schema=BronzeSchema(rename={"email": "mail"}, cast={"salary": "float"}),
        silver=SilverSpec(transforms=[upper_names]),
        declaration=declaration,
    )
    return engine


def _columns(entry: TableMetadata) -> dict[str, tuple[list[str], str | None]]:
    return {c.name: (c.source_columns, c.lineage_kind) for c in entry.columns}


def test_a_gold_functions_lineage_is_read_from_its_polars_plan(tmp_path: Path) -> None:
    engine = _hr(tmp_path)
    catalog = CatalogManager(engine.config)
    engine.promote_to_gold(GoldSpec(name="directory", inputs=["employees"], function=directory))
    entry = catalog.get("gold", "directory")
    e = "silver.employees"
    assert _columns(entry) == {
        "name": ([f"{e}.name"], "identity"),
        "contact": ([f"{e}.mail"], "expression"),
        "yearly": ([f"{e}.salary"], "expression"),
        "unit": ([f"{e}.department"], "rename"),
        "_lineage": ([f"{e}._lineage"], "identity"),
        "_layer": ([], "literal"),
        "_processed_at": ([], "literal"),
    }
    labels = {c.name: (c.pii_classification, c.pii_origin) for c in entry.columns}
    assert labels["contact"] == ("direct_identifier", "inherited from staged.employees.email")
    assert labels["yearly"] == ("sensitive", "inherited from silver.employees.salary")
    assert (entry.classification, entry.classification_origin) == (
        "confidential",
        "inherited from silver.employees",
    )
    engine.promote_to_gold(GoldSpec(name="by_unit", inputs=["employees"], function=by_unit))
    assert _columns(catalog.get("gold", "by_unit")) == {
        "department": ([f"{e}.department"], "identity"),
        "total": ([f"{e}.salary"], "aggregate"),
        "staff": ([], "aggregate"),
        "_lineage": ([f"{e}._lineage"], "aggregate"),
        "_layer": ([], "literal"),
        "_processed_at": ([], "literal"),
    }


def test_an_unreadable_plan_takes_the_declared_sources_else_unknown(tmp_path: Path) -> None:
    engine = _hr(tmp_path)
    spec = GoldSpec(name="units", inputs=["employees"], function=collected)
    engine.promote_to_gold(spec)
    entry = CatalogManager(engine.config).get("gold", "units")
    unit = next(c for c in entry.columns if c.name == "unit")
    assert (unit.source_columns, unit.lineage_kind) == ([], "unknown")
    assert unit.lineage_expression == (
        "the function's polars plan could not be read and no from is declared"
    )
    # unknown: it may be computed from any input column, so it gets the strongest class
    assert (unit.pii_classification, unit.pii_origin, unit.pii_sources) == (
        "sensitive",
        "inherited from silver.employees.salary (lineage unknown: every input column counts)",
        ["silver.employees.salary"],
    )
    declared = TableDeclaration(
        columns={"unit": ColumnDeclaration.model_validate({"from": ["employees.department"]})}
    )
    engine.promote_to_gold(spec, declaration=declared)
    entry = CatalogManager(engine.config).get("gold", "units")
    unit = next(c for c in entry.columns if c.name == "unit")
    assert (unit.source_columns, unit.lineage_kind, unit.pii_classification) == (
        ["silver.employees.department"],
        "declared",
        None,
    )
    assert next(c for c in entry.columns if c.name == "_lineage").lineage_kind == "unknown"
    wrong = TableDeclaration(
        columns={"unit": ColumnDeclaration.model_validate({"from": ["people.department"]})}
    )
    with pytest.raises(ConfigError, match=r"column 'unit' from 'people.department': expected"):
        engine.promote_to_gold(spec, declaration=wrong, force=True)


def test_a_declared_from_that_contradicts_the_plan_is_an_error(tmp_path: Path) -> None:
    engine = _hr(tmp_path)
    declared = TableDeclaration(
        columns={"unit": ColumnDeclaration.model_validate({"from": ["employees.name"]})}
    )
    with pytest.raises(ConfigError) as refused:
        engine.promote_to_gold(
            GoldSpec(name="directory", inputs=["employees"], function=directory),
            declaration=declared,
        )
    assert str(refused.value) == (
        "gold directory: column 'unit' is declared from silver.employees.name, but the "
        "function computes it from silver.employees.department (its polars plan)"
    )


def test_silver_transforms_are_read_from_their_plan(tmp_path: Path) -> None:
    engine = _hr(tmp_path)
    entry = CatalogManager(engine.config).get("silver", "employees")
    name = next(c for c in entry.columns if c.name == "name")
    assert (name.source_columns, name.lineage_kind) == (["bronze.employees.name"], "transform")
    assert name.lineage_expression == (
        'tests.test_column_lineage_catalog:upper_names: col("name").str.to_uppercase()'
    )
    mail = next(c for c in entry.columns if c.name == "mail")
    assert (mail.source_columns, mail.lineage_kind) == (["bronze.employees.mail"], "identity")


def test_staged_columns_renamed_by_the_reader_point_at_their_header(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text("a,,a\n1,2,3\n", encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    result = engine.ingest(source, "odd")
    assert result.record is not None
    assert result.record.header_mapping == {"2:": "column_2", "3:a": "a__2"}
    entry = CatalogManager(engine.config).get("staged", "odd")
    found = {
        c.name: (c.source_columns, c.lineage_kind, c.lineage_expression) for c in entry.columns
    }
    assert found["a"] == (["a"], "identity", None)
    assert found["column_2"] == ([""], "rename", "header column 2")
    assert found["a__2"] == (["a"], "rename", "header column 3")


def test_a_functions_column_declared_below_its_sources_is_refused(tmp_path: Path) -> None:
    engine = _hr(tmp_path)
    declared = TableDeclaration(columns={"yearly": ColumnDeclaration(pii="none")})
    with pytest.raises(ConfigError) as refused:
        engine.promote_to_gold(
            GoldSpec(name="directory", inputs=["employees"], function=directory),
            declaration=declared,
        )
    assert str(refused.value).startswith(
        "gold.directory: columns.yearly.pii: declared 'none' is weaker than 'sensitive', which "
        "its sources give (inherited from silver.employees.salary)"
    )
    assert not (tmp_path / "data" / "gold" / "directory").exists()


def test_the_project_checks_the_from_of_a_functions_columns(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "employees.csv").write_text(EMPLOYEES, encoding="utf-8")
    (tmp_path / "jobforge.toml").write_text(
        """
[tables.employees]
source = "sources/employees.csv"

[gold.units]
inputs = ["employees"]
function = "somewhere:units"
[gold.units.columns.unit]
from = ["employees.dept", "people.department", "department"]
""",
        encoding="utf-8",
    )
    done = jobforge("run", cwd=tmp_path)
    assert done.code == 2
    assert done.err.splitlines()[1:] == [
        "  gold.units.columns.unit.from.0: 'dept' is not a column of employees; its columns: "
        "'id', 'name', 'email', 'salary', 'department'",
        "  gold.units.columns.unit.from.1: 'people.department': expected "
        '"<input table>.<column>" with one of the inputs employees',
        "  gold.units.columns.unit.from.2: 'department': expected \"<input table>.<column>\" "
        "with one of the inputs employees",
    ]
    # from is only for a function's columns
    (tmp_path / "jobforge.toml").write_text(
        """
[tables.employees]
source = "sources/employees.csv"
[tables.employees.columns.email]
from = ["x.y"]
""",
        encoding="utf-8",
    )
    done = jobforge("run", cwd=tmp_path)
    assert done.code == 2
    assert done.err.splitlines()[1] == (
        "  tables.employees: columns.email.from: only for the columns of a gold table built by a "
        "function (a source table's lineage is known from its declarations)"
    )
