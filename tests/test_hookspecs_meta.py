"""Meta-tests of the plugin contract: every hook specification is documented
with its exact signature and exercised by a test; the bundled plugins pass
pluggy's checks and answer last; the core never imports a bundled plugin."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pluggy
import pytest

from jobforge.hooks import specs
from jobforge.hooks.manager import BUNDLED_PLUGINS
from jobforge.hooks.markers import PROJECT_NAME

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "plugins.md"
BUNDLED_MODULES = [module for _, module in BUNDLED_PLUGINS]

# A documented hook is a level-3 heading: ### `jobforge_name(arg, other=default)`
DOC_HEADING = re.compile(r"^### `(jobforge_\w+)\((.*)\)`\s*$", re.MULTILINE)


def spec_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(specs)
    return pm


def hookspecs() -> dict[str, pluggy.HookCaller]:
    pm = spec_manager()
    return {
        name: caller
        for name, caller in vars(pm.hook).items()
        if name.startswith("jobforge_") and caller.has_spec()
    }


def documented() -> dict[str, list[str]]:
    """Hook name -> argument names, from the headings of docs/plugins.md."""
    found: dict[str, list[str]] = {}
    for name, args in DOC_HEADING.findall(DOCS.read_text(encoding="utf-8")):
        assert name not in found, f"{name} is documented twice"
        found[name] = [a.split("=")[0].strip() for a in args.split(",") if a.strip()]
    return found


def test_there_are_hookspecs() -> None:
    assert len(hookspecs()) == 16
    assert set(hookspecs()) >= {
        "jobforge_catalog_store",
        "jobforge_resolve_layer_path",
        "jobforge_enrich_table_metadata",
        "jobforge_enrich_column_metadata",
        "jobforge_write_table_metadata",
        "jobforge_write_lineage",
        "jobforge_source_reader",
        "jobforge_before_transition",
        "jobforge_after_transition",
        "jobforge_transition_failed",
        "jobforge_rows_quarantined",
    }


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_every_hookspec_is_documented_with_its_exact_signature(name: str) -> None:
    spec = hookspecs()[name].spec
    assert spec is not None
    expected = [*spec.argnames, *spec.kwargnames]
    docs = documented()
    assert name in docs, f"{name} is not documented in docs/plugins.md"
    assert docs[name] == expected, f"docs/plugins.md shows {name}({', '.join(docs[name])})"


def test_the_docs_document_no_hook_that_does_not_exist() -> None:
    assert sorted(documented()) == sorted(hookspecs())


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_every_hookspec_is_documented_in_its_docstring(name: str) -> None:
    spec = hookspecs()[name].spec
    assert spec is not None
    doc = inspect.getdoc(spec.function) or ""
    assert len(doc) > 40, f"{name} has no real docstring"


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_hookspecs_pass_arguments_pluggy_can_pass(name: str) -> None:
    """Keyword-only or variadic arguments would never reach an implementation."""
    spec = hookspecs()[name].spec
    assert spec is not None
    kinds = {p.kind for p in inspect.signature(spec.function).parameters.values()}
    assert kinds <= {inspect.Parameter.POSITIONAL_OR_KEYWORD}


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_every_hookspec_appears_in_a_test(name: str) -> None:
    this = Path(__file__).resolve()
    files = [p for p in sorted((REPO / "tests").glob("test_*.py")) if p.resolve() != this]
    users = [p.name for p in files if name in p.read_text(encoding="utf-8")]
    assert users, f"no test file mentions {name}"


def test_check_pending_passes_with_every_bundled_plugin() -> None:
    pm = spec_manager()
    for name, module in BUNDLED_PLUGINS:
        pm.register(importlib.import_module(module), name=name)
    pm.check_pending()
    assert sorted(pm.list_name_plugin()[i][0] for i in range(len(BUNDLED_PLUGINS))) == sorted(
        name for name, _ in BUNDLED_PLUGINS
    )


def test_bundled_defaults_answer_last() -> None:
    """Every bundled implementation of a first-result or enrichment hook is
    ``trylast``, so an installed plugin always comes first."""
    pm = spec_manager()
    for name, module in BUNDLED_PLUGINS:
        pm.register(importlib.import_module(module), name=name)
    checked = []
    for hook_name, caller in hookspecs().items():
        real = getattr(pm.hook, hook_name)
        firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
        if not (firstresult or hook_name.startswith("jobforge_enrich_")):
            continue
        for impl in real.get_hookimpls():
            assert impl.trylast, f"{impl.plugin_name} implements {hook_name} without trylast"
            checked.append((hook_name, impl.plugin_name))
    assert sorted(checked) == [
        ("jobforge_catalog_store", "catalog-json"),
        ("jobforge_enrich_column_metadata", "catalog-json"),
        ("jobforge_enrich_table_metadata", "catalog-json"),
        ("jobforge_executor", "duckdb"),
        ("jobforge_executor", "polars"),
        ("jobforge_executor", "spark"),
        ("jobforge_resolve_catalog_path", "dama"),
        ("jobforge_resolve_layer_path", "dama"),
        ("jobforge_resolve_quarantine_path", "dama"),
        ("jobforge_source_reader", "readers"),
        ("jobforge_table_store", "delta-store"),
        ("jobforge_table_store", "parquet-store"),
    ]


# -- the core reaches bundled plugins only through the plugin manager ---------------------------
def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_core_never_imports_a_bundled_plugin() -> None:
    offenders = []
    sources = sorted((REPO / "src" / "jobforge").rglob("*.py"))
    assert len(sources) > 40
    for path in sources:
        for module in _imported_modules(path):
            if module.split(".")[0] in BUNDLED_MODULES:
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == []


def test_the_ast_check_sees_both_import_forms(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import jobforge_dama\nfrom jobforge_readers.delimited import DelimitedReader\n",
        encoding="utf-8",
    )
    assert _imported_modules(probe) == ["jobforge_dama", "jobforge_readers.delimited"]


def test_ruff_bans_bundled_plugin_imports_in_the_core() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "TID" in lint["select"]
    banned = lint["flake8-tidy-imports"]["banned-api"]
    # and pyspark, the spark plugin's optional dependency, which the core never imports
    assert sorted(banned) == sorted([*BUNDLED_MODULES, "pyspark"])
    exempt = [pattern for pattern, rules in lint["per-file-ignores"].items() if "TID251" in rules]
    assert sorted(exempt) == ["plugins/**", "tests/**"]


def test_ruff_reports_a_core_module_importing_a_plugin() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--select",
            "TID251",
            "--stdin-filename",
            "src/jobforge/probe.py",
            "-",
        ],
        input="from jobforge_dama import jobforge_resolve_layer_path\n",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "TID251" in done.stdout
    assert "the core reaches bundled plugins only through the plugin manager" in done.stdout


def test_the_bundled_list_matches_the_plugins_folder_and_the_wheel() -> None:
    folders = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(BUNDLED_MODULES)
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(packages) == sorted(["src/jobforge", *(f"plugins/{m}" for m in BUNDLED_MODULES)])
