"""The built wheel ships the core, ``py.typed`` and the four bundled plugins,
and works on its own: installed into an empty folder, it lists and loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUNDLED_PACKAGES = [
    "jobforge_catalog_json",
    "jobforge_dama",
    "jobforge_delta",
    "jobforge_duckdb",
    "jobforge_openlineage",
    "jobforge_parquet_store",
    "jobforge_polars",
    "jobforge_readers",
    "jobforge_spark",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [built] = out.glob("jobforge-*.whl")
    return built


def test_the_wheel_contains_the_core_and_the_bundled_plugins(wheel: Path) -> None:
    assert wheel.name == "jobforge-2.0.0-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "jobforge/py.typed" in names
    assert "jobforge/__main__.py" in names
    assert "jobforge/hooks/specs.py" in names
    assert "jobforge/testing/fixtures.py" in names
    for package in BUNDLED_PACKAGES:
        assert f"{package}/__init__.py" in names
    for module in ("delimited", "excel", "json_reader", "parquet"):
        assert f"jobforge_readers/{module}.py" in names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"jobforge", *BUNDLED_PACKAGES, "jobforge-2.0.0.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_declares_the_script_and_the_pytest_plugin(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    text = archive.read("jobforge-2.0.0.dist-info/entry_points.txt").decode()
    assert "[console_scripts]\njobforge = jobforge.cli.app:run" in text
    assert "[pytest11]\njobforge = jobforge.testing.fixtures" in text


def test_the_installed_wheel_loads_its_bundled_plugins(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env["PYTHONPATH"] = str(target)  # before the editable checkout on sys.path
    env["JOBFORGE_LOAD_PLUGINS"] = ""  # bundled plugins only
    listing = subprocess.run(
        [sys.executable, "-m", "jobforge", "plugins", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    plugins = json.loads(listing.stdout)
    assert [(p["name"], p["status"]) for p in plugins if p["source"] == "bundled"] == [
        ("dama", "loaded"),
        ("readers", "loaded"),
        ("polars", "loaded"),
        ("catalog-json", "loaded"),
        ("parquet-store", "loaded"),
        ("delta-store", "loaded"),
        ("openlineage", "loaded"),
        ("duckdb", "loaded"),
        ("spark", "loaded"),
    ]
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import jobforge, jobforge_dama, jobforge_readers, jobforge_polars, "
            "jobforge_catalog_json as c; "
            "print('\\n'.join(m.__file__ for m in (jobforge, jobforge_dama, jobforge_readers, "
            "jobforge_polars, c)))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    files = [Path(line) for line in where.stdout.splitlines()]
    assert len(files) == 5
    assert all(f.is_relative_to(target) for f in files), files
