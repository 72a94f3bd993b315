"""The front door: ``import jobforge`` gives a library user what they need,
loaded when first used; ``jobforge --version`` and ``--help`` load none of the
data libraries (their time is measured by benchmarks/cli_startup.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import jobforge

from .conftest import REPO

HEAVY = ("polars", "duckdb", "pyarrow", "pluggy", "sqlglot", "rich", "pydantic", "structlog")


def _loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    report = (
        "import sys\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        f"print('MODULES:' + ','.join(sorted(loaded & {set(HEAVY)!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES:"))
    return [m for m in line.removeprefix("MODULES:").split(",") if m]


def test_import_jobforge_loads_nothing_heavy(tmp_path: Path) -> None:
    assert _loaded_after("import jobforge", tmp_path) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_load_no_data_library(tmp_path: Path, args: list[str]) -> None:
    code = f"from jobforge.cli.app import main\ncode = main({args!r})\nassert code == 0, code"
    loaded = _loaded_after(code, tmp_path)
    assert loaded == [], f"jobforge {' '.join(args)} imported {loaded}"


def test_every_public_name_is_importable_and_the_type_checkers_see_the_same() -> None:
    for name in jobforge.__all__:
        assert getattr(jobforge, name) is not None, name
    source = (REPO / "src" / "jobforge" / "__init__.py").read_text(encoding="utf-8")
    typed: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imported in node.body:
                assert isinstance(imported, ast.ImportFrom)
                for alias in imported.names:
                    typed.add(alias.name)
                    module = jobforge._PUBLIC[alias.name]
                    assert imported.module == module, alias.name
    assert typed == set(jobforge._PUBLIC)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jobforge.nope  # noqa: B018


def test_the_readme_library_example_runs(tmp_path: Path) -> None:
    """The README's "Use it as a library" block, run as written (in a folder with the
    NOC structure file it reads)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Use it as a library", 1)[1].split("```python", 1)[1]
    code = block.split("```", 1)[0]
    assert "from jobforge import" in code
    source = REPO / "tests" / "data" / "real" / "noc_structure_en.csv"
    (tmp_path / "noc_structure_en.csv").write_bytes(source.read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    # the example prints the silver ledger of the 822 NOC records, all kept
    assert "rows_in=822" in done.stdout and "rows_out=822" in done.stdout
