"""The plugin author's front door: ``jobforge.plugin`` gives every name a plugin
needs, loaded when first used, and no bundled plugin (nor the example plugin a
third party would copy) imports a module deeper than ``jobforge`` or
``jobforge.plugin`` (``jobforge.testing`` in their tests)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import jobforge.plugin

from .conftest import REPO

ALLOWED = {"jobforge", "jobforge.plugin", "jobforge.testing"}

PENDING: dict[str, set[str]] = {
    # Plugins that moved out of the core or arrived in this milestone (the JSON catalog
    # store, the polars, DuckDB and Spark executors, the Delta store) still import
    # the core modules they were written against; each name they need is to be added to
    # jobforge.plugin and the import moved there (issue 15, open).
    "plugins/jobforge_catalog_json/paths.py": {
        "jobforge.catalog.runs",
        "jobforge.pipeline.config",
        "jobforge.pipeline.models",
        "jobforge.storage.names",
    },
    "plugins/jobforge_catalog_json/schemas.py": {
        "jobforge.catalog.entries",
        "jobforge.catalog.glossary",
        "jobforge.pipeline.config",
        "jobforge.pipeline.models",
        "jobforge.storage.atomic",
        "jobforge.storage.locks",
    },
    "plugins/jobforge_catalog_json/shared.py": {
        "jobforge.errors",
        "jobforge.logging",
        "jobforge.pipeline.config",
        "jobforge.storage.atomic",
        "jobforge.storage.locks",
    },
    "plugins/jobforge_catalog_json/store.py": {
        "jobforge.catalog.entries",
        "jobforge.catalog.glossary",
        "jobforge.catalog.jsonfile",
        "jobforge.catalog.lineage",
        "jobforge.catalog.runs",
        "jobforge.catalog.store",
        "jobforge.errors",
        "jobforge.pipeline.config",
        "jobforge.pipeline.models",
        "jobforge.storage.atomic",
        "jobforge.storage.locks",
        "jobforge.storage.names",
    },
    "plugins/jobforge_delta/__init__.py": {
        "jobforge.errors",
        "jobforge.pipeline.config",
        "jobforge.storage.store",
    },
    "plugins/jobforge_delta/store.py": {
        "jobforge.errors",
        "jobforge.logging",
        "jobforge.pipeline.config",
        "jobforge.storage",
        "jobforge.storage.store",
        "jobforge.storage.versions",
    },
    "plugins/jobforge_duckdb/__init__.py": {"jobforge.engine.executor", "jobforge.pipeline.config"},
    "plugins/jobforge_duckdb/casts.py": {"jobforge.engine.steps"},
    "plugins/jobforge_duckdb/executor.py": {
        "jobforge.engine.executor",
        "jobforge.engine.gold_sql",
        "jobforge.errors",
    },
    "plugins/jobforge_duckdb/session.py": {
        "jobforge.engine.gold_sql",
        "jobforge.query.guard",
        "jobforge.storage",
        "jobforge.storage.atomic",
    },
    "plugins/jobforge_duckdb/steps.py": {
        "jobforge.engine.bronze_plan",
        "jobforge.engine.executor",
        "jobforge.engine.gold_sql",
        "jobforge.errors",
    },
    "plugins/jobforge_polars/bronze.py": {
        "jobforge.engine.bronze_plan",
        "jobforge.engine.executor",
        "jobforge.engine.steps",
        "jobforge.storage",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_polars/casts.py": {"jobforge.engine.steps"},
    "plugins/jobforge_polars/checks.py": {"jobforge.engine.gold_sql"},
    "plugins/jobforge_polars/dedupe.py": {"jobforge.storage", "jobforge.storage.atomic"},
    "plugins/jobforge_polars/executor.py": {"jobforge.engine.executor", "jobforge.storage"},
    "plugins/jobforge_polars/exprs.py": {"jobforge.engine.executor"},
    "plugins/jobforge_polars/gold.py": {
        "jobforge.engine.executor",
        "jobforge.engine.gold_sql",
        "jobforge.engine.steps",
        "jobforge.errors",
        "jobforge.storage",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_polars/silver.py": {
        "jobforge.engine.executor",
        "jobforge.engine.steps",
        "jobforge.errors",
        "jobforge.storage",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_polars/staged.py": {
        "jobforge.engine.executor",
        "jobforge.errors",
        "jobforge.sources.base",
        "jobforge.storage",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_polars/streaming.py": {"jobforge.storage"},
    "plugins/jobforge_spark/__init__.py": {
        "jobforge.engine.executor",
        "jobforge.errors",
        "jobforge.pipeline.config",
    },
    "plugins/jobforge_spark/bronze.py": {
        "jobforge.engine",
        "jobforge.engine.bronze_plan",
        "jobforge.engine.executor",
        "jobforge.engine.steps",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_spark/casts.py": {"jobforge.engine.steps", "jobforge.errors"},
    "plugins/jobforge_spark/columns.py": {"jobforge.engine", "jobforge.engine.executor"},
    "plugins/jobforge_spark/executor.py": {
        "jobforge.engine.executor",
        "jobforge.engine.gold_sql",
        "jobforge.project.model",
        "jobforge.storage",
    },
    "plugins/jobforge_spark/gold.py": {
        "jobforge.engine",
        "jobforge.engine.executor",
        "jobforge.engine.steps",
        "jobforge.errors",
        "jobforge.storage.pending",
    },
    "plugins/jobforge_spark/gold_sql.py": {"jobforge.errors", "jobforge.query.guard"},
    "plugins/jobforge_spark/output.py": {"jobforge.errors", "jobforge.storage"},
    "plugins/jobforge_spark/session.py": {"jobforge.errors", "jobforge.project.model"},
    "plugins/jobforge_spark/settings.py": {"jobforge.errors", "jobforge.project.model"},
    "plugins/jobforge_spark/silver.py": {
        "jobforge.engine",
        "jobforge.engine.executor",
        "jobforge.engine.steps",
        "jobforge.errors",
        "jobforge.storage.pending",
    },
}
"""Deep imports that a move under way removes; each must still be there (so the
list shrinks as they go) and nothing else may be added."""


def _plugin_files() -> list[Path]:
    roots = [REPO / "plugins", REPO / "tests" / "example_plugin"]
    return sorted(p for root in roots for p in root.rglob("*.py"))


def _jobforge_imports(path: Path) -> set[str]:
    """Every ``jobforge`` module a file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "jobforge" or m.startswith("jobforge.")}


def test_the_scan_sees_the_bundled_plugins_and_the_example() -> None:
    files = {str(p.relative_to(REPO)) for p in _plugin_files()}
    assert "plugins/jobforge_readers/delimited.py" in files
    assert "tests/example_plugin/jobforge_example/plugin.py" in files
    assert _jobforge_imports(REPO / "plugins" / "jobforge_readers" / "delimited.py") == {
        "jobforge.plugin"
    }


def test_no_plugin_imports_a_private_module() -> None:
    deep: dict[str, set[str]] = {}
    for path in _plugin_files():
        private = _jobforge_imports(path) - ALLOWED
        if private:
            deep[str(path.relative_to(REPO))] = private
    assert deep == PENDING


def test_the_readers_spell_no_provenance_column() -> None:
    """The provenance names come from one place: no reader spells them in code
    (docstrings and comments may)."""
    names = {"_source_file", "_ingested_at", "_batch_id", "_layer", "_source_row"}
    spelled: list[str] = []
    for path in _plugin_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            spelt = isinstance(node, ast.Constant) and node.value in names
            if spelt and id(node) not in docstrings:
                spelled.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_every_plugin_name_resolves_and_the_type_checkers_see_the_same() -> None:
    for name in jobforge.plugin.__all__:
        assert getattr(jobforge.plugin, name) is not None, name
    assert isinstance(jobforge.plugin.literal, ModuleType)
    assert jobforge.plugin.SOURCE_ROW == "_source_row"
    source = (REPO / "src" / "jobforge" / "plugin.py").read_text(encoding="utf-8")
    typed: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imported in node.body:
                assert isinstance(imported, ast.ImportFrom)
                for alias in imported.names:
                    typed[alias.name] = f"{imported.module}.{alias.name}"
    expected = {n: f"{m}.{n}" for n, m in jobforge.plugin._PUBLIC.items()}
    expected |= {n: m for n, m in jobforge.plugin._MODULES.items()}
    assert typed == expected
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jobforge.plugin.nope  # noqa: B018


def test_importing_the_plugin_api_loads_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, jobforge.plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('jobforge.') "
        "and m != 'jobforge.plugin'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
