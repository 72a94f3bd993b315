"""``jobforge plugins`` through the real command, in a subprocess, with the
installed example distribution; and pipeline commands stopping on a broken plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .bundled import BUNDLED

pytestmark = pytest.mark.installed_plugins

SCRIPT = Path(sys.executable).parent / "jobforge"
LABEL = "'example' (jobforge-example 0.1.0)"


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, module: bool = False) -> Run:
    """``jobforge ARGS`` (or ``python -m jobforge ARGS``) with the example enabled
    unless ``env`` says otherwise; output is not a terminal."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    full_env.update(env or {})
    command = [sys.executable, "-m", "jobforge"] if module else [str(SCRIPT)]
    done = subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def by_name(listing: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in listing}


def test_the_script_is_installed() -> None:
    assert SCRIPT.is_file()


@pytest.mark.parametrize("module", [False, True], ids=["script", "python-m"])
def test_plugins_json_lists_bundled_and_installed(tmp_path: Path, module: bool) -> None:
    result = run("plugins", "--json", cwd=tmp_path, module=module)
    assert (result.code, result.err) == (0, "")
    listing = json.loads(result.out)
    assert [p["name"] for p in listing] == [*BUNDLED, "example"]
    assert listing[0] == {
        "name": "dama",
        "source": "bundled",
        "module": "jobforge_dama",
        "distribution": "jobforge",
        "version": "2.0.0",
        "status": "loaded",
        "error": None,
        "hooks": [
            "jobforge_resolve_catalog_path",
            "jobforge_resolve_layer_path",
            "jobforge_resolve_quarantine_path",
        ],
    }
    assert listing[-1] == {
        "name": "example",
        "source": "entry point",
        "module": "jobforge_example.plugin",
        "distribution": "jobforge-example",
        "version": "0.1.0",
        "status": "loaded",
        "error": None,
        "hooks": [
            "jobforge_enrich_column_metadata",
            "jobforge_enrich_table_metadata",
            "jobforge_resolve_layer_path",
        ],
    }


def test_plugins_prints_one_line_per_plugin(tmp_path: Path) -> None:
    result = run("plugins", cwd=tmp_path)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split("\t") == [
        "name",
        "source",
        "distribution",
        "version",
        "status",
        "hooks",
        "error",
    ]
    assert lines[1].split("\t") == [
        "dama",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "resolve_catalog_path, resolve_layer_path, resolve_quarantine_path",
        "",
    ]
    assert lines[5].split("\t") == [
        "parquet-store",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "table_store",
        "",
    ]
    assert lines[6].split("\t") == [
        "delta-store",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "table_store",
        "",
    ]
    assert lines[7].split("\t") == [
        "openlineage",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "after_transition, before_transition, transition_failed",
        "",
    ]
    assert lines[8].split("\t") == [
        "duckdb",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "executor",
        "",
    ]
    assert lines[9].split("\t") == [
        "spark",
        "bundled",
        "jobforge",
        "2.0.0",
        "loaded",
        "executor",
        "",
    ]
    assert lines[10].split("\t") == [
        "example",
        "entry point",
        "jobforge-example",
        "0.1.0",
        "loaded",
        "enrich_column_metadata, enrich_table_metadata, resolve_layer_path",
        "",
    ]
    assert len(lines) == 12  # a line per plugin, then the executor
    assert lines[11] == (
        "executor 'polars' runs every step (staged, bronze, silver, gold), plugin polars; "
        "transforms: arrow, polars; files per version: one; SQL: duckdb; streaming: yes"
    )


def test_hook_shows_the_call_order(tmp_path: Path) -> None:
    result = run("plugins", "--hook", "jobforge_enrich_table_metadata", cwd=tmp_path)
    assert result.code == 0
    assert result.out.splitlines() == [
        "1. example (entry point, jobforge-example 0.1.0)",
        "2. catalog-json (bundled, jobforge 2.0.0, trylast)",
    ]


def test_hook_json_accepts_the_short_name(tmp_path: Path) -> None:
    result = run("plugins", "--hook", "resolve_layer_path", "--json", cwd=tmp_path)
    assert result.code == 0
    assert json.loads(result.out) == {
        "hook": "jobforge_resolve_layer_path",
        "implementations": [
            {
                "position": 1,
                "plugin": "example",
                "source": "entry point",
                "distribution": "jobforge-example",
                "version": "0.1.0",
                "tryfirst": False,
                "trylast": False,
            },
            {
                "position": 2,
                "plugin": "dama",
                "source": "bundled",
                "distribution": "jobforge",
                "version": "2.0.0",
                "tryfirst": False,
                "trylast": True,
            },
        ],
    }


def test_an_unknown_hook_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = run("plugins", "--hook", "resolve_layer_pth", cwd=tmp_path)
    assert result.code == 2
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("error: --hook: unknown hook 'resolve_layer_pth'; expected one of ")
    assert "jobforge_resolve_layer_path" in line


@pytest.mark.parametrize(
    ("env", "status"),
    [
        ({"JOBFORGE_DISABLE_PLUGINS": "example"}, "disabled"),
        ({"JOBFORGE_LOAD_PLUGINS": ""}, "disabled"),
        ({"JOBFORGE_LOAD_PLUGINS": "example"}, "loaded"),
    ],
)
def test_disabled_plugins_are_listed_as_disabled(
    tmp_path: Path, env: dict[str, str], status: str
) -> None:
    result = run("plugins", "--json", cwd=tmp_path, env=env)
    assert result.code == 0
    example = by_name(json.loads(result.out))["example"]
    assert example["status"] == status
    assert example["hooks"] == ([] if status == "disabled" else example["hooks"])


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            "import",
            "failed to load from jobforge_example.plugin: ImportError: "
            "jobforge_example.plugin refuses to import (JOBFORGE_EXAMPLE_FAULT=import)",
        ),
        (
            "misspelled",
            f"plugin {LABEL} implements unknown hook jobforge_resolve_layer_pth "
            "(did you mean jobforge_resolve_layer_path?)",
        ),
    ],
)
def test_a_broken_plugin_is_listed_with_its_error(tmp_path: Path, fault: str, error: str) -> None:
    result = run("plugins", "--json", cwd=tmp_path, env={"JOBFORGE_EXAMPLE_FAULT": fault})
    assert (result.code, result.err) == (0, "")
    listing = by_name(json.loads(result.out))
    assert (listing["example"]["status"], listing["example"]["error"]) == ("error", error)
    assert [listing[name]["status"] for name in BUNDLED] == ["loaded"] * len(BUNDLED)
    text = run("plugins", cwd=tmp_path, env={"JOBFORGE_EXAMPLE_FAULT": fault})
    assert text.code == 0
    assert text.out.splitlines()[len(BUNDLED) + 1].split("\t")[4:] == ["error", "", error]
    # the broken plugin's hooks are not in the call order
    order = run(
        "plugins",
        "--hook",
        "resolve_layer_path",
        cwd=tmp_path,
        env={"JOBFORGE_EXAMPLE_FAULT": fault},
    )
    assert order.out.splitlines() == ["1. dama (bundled, jobforge 2.0.0, trylast)"]


def test_a_missing_default_is_a_warning_when_listing(tmp_path: Path) -> None:
    result = run("plugins", cwd=tmp_path, env={"JOBFORGE_DISABLE_PLUGINS": "dama,example"})
    assert result.code == 0
    assert result.err.splitlines() == [
        f"warning: no plugin provides {hook}; pipeline commands will stop"
        for hook in (
            "jobforge_resolve_layer_path",
            "jobforge_resolve_quarantine_path",
            "jobforge_resolve_catalog_path",
        )
    ]


# -- pipeline commands stop on a broken plugin ---------------------------------------------------
@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("id,email\n1,a@x.org\n2,b@y.org\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "import",
            f"error: plugin {LABEL} failed to load from jobforge_example.plugin: ImportError: "
            "jobforge_example.plugin refuses to import (JOBFORGE_EXAMPLE_FAULT=import)",
        ),
        (
            "misspelled",
            f"error: plugin {LABEL} implements unknown hook jobforge_resolve_layer_pth "
            "(did you mean jobforge_resolve_layer_path?)",
        ),
    ],
)
def test_ingest_stops_on_a_plugin_that_cannot_load(
    tmp_path: Path, people: Path, fault: str, message: str
) -> None:
    root = tmp_path / "data"
    result = run(
        "--data-root",
        str(root),
        "ingest",
        str(people),
        "--table",
        "people",
        cwd=tmp_path,
        env={"JOBFORGE_EXAMPLE_FAULT": fault},
    )
    assert result.code == 1
    assert result.err.splitlines() == [message]
    assert not root.exists()


def test_ingest_stops_on_a_plugin_that_raises_in_a_hook(tmp_path: Path, people: Path) -> None:
    root = tmp_path / "data"
    result = run(
        "--data-root",
        str(root),
        "ingest",
        str(people),
        "--table",
        "people",
        cwd=tmp_path,
        env={"JOBFORGE_EXAMPLE_FAULT": "hook"},
    )
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.splitlines()[-1] == (
        f"error: source -> staged of 'people' failed: plugin {LABEL} raised in "
        "jobforge_enrich_table_metadata: RuntimeError: injected fault in table enrichment "
        "(JOBFORGE_EXAMPLE_FAULT=hook)"
    )
    assert list((root / "staged").rglob("*.parquet")) == []


def test_run_stops_on_a_broken_plugin(tmp_path: Path) -> None:
    assert run("init", "proj", cwd=tmp_path).code == 0
    project = tmp_path / "proj"
    result = run("run", cwd=project, env={"JOBFORGE_EXAMPLE_FAULT": "import"})
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.splitlines()[-1] == (
        f"error: plugin {LABEL} failed to load from jobforge_example.plugin: ImportError: "
        "jobforge_example.plugin refuses to import (JOBFORGE_EXAMPLE_FAULT=import)"
    )
    assert list((project / "data").rglob("*.parquet")) == []
    # disabled, the same project runs
    ok = run(
        "run",
        cwd=project,
        env={"JOBFORGE_EXAMPLE_FAULT": "import", "JOBFORGE_DISABLE_PLUGINS": "example"},
    )
    assert ok.code == 0, ok.err
    assert list((project / "data" / "gold").rglob("*.parquet")) != []
