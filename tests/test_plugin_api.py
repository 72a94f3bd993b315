"""The plugin author's front door: ``jobforge.plugin`` gives every name a plugin
needs, loaded when first used, and no bundled plugin (nor the example plugin a
third party would copy) imports a module deeper than ``jobforge`` or
``jobforge.plugin`` (``jobforge.testing`` in their tests)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import jobforge
import jobforge.plugin

from .conftest import REPO

ALLOWED = {"jobforge", "jobforge.plugin", "jobforge.testing"}


def _plugin_files() -> list[Path]:
    roots = [REPO / "plugins", REPO / "tests" / "example_plugin"]
    return sorted(p for root in roots for p in root.rglob("*.py"))


def _jobforge_imports(path: Path) -> set[str]:
    """Every ``jobforge`` module a file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "jobforge" and node.level == 0:
            # ``from jobforge import provenance`` reaches a deep module through the
            # package: only the names ``jobforge`` publishes count as ``jobforge``
            found.update(
                "jobforge" if a.name in jobforge.__all__ else f"jobforge.{a.name}"
                for a in node.names
            )
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
    assert deep == {}


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


def test_the_scan_sees_a_deep_module_reached_through_the_package(tmp_path: Path) -> None:
    plugin = tmp_path / "deep.py"
    plugin.write_text(
        "from jobforge import hookimpl, provenance\n"
        "from jobforge.plugin import SOURCE_ROW\n"
        "def f():\n"
        "    from jobforge.storage.pending import PendingFiles\n",
        encoding="utf-8",
    )
    assert _jobforge_imports(plugin) == {
        "jobforge",
        "jobforge.plugin",
        "jobforge.provenance",
        "jobforge.storage.pending",
    }


def test_the_plugin_guide_lists_exactly_what_the_plugin_api_gives() -> None:
    """The table under "What a plugin imports" in docs/plugins.md names every
    name of ``jobforge.plugin.__all__``, and nothing else."""
    guide = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    table = guide.split("**What a plugin imports.**", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| ") and not row.startswith("| What for"):
            names_cell = row.rstrip(" |").rsplit(" | ", 1)[1]
            listed.update(re.findall(r"`(\w+)`", names_cell))
    assert listed == set(jobforge.plugin.__all__)
