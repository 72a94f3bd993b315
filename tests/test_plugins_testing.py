"""The ``jobforge.testing`` pytest plugin: its fixtures, used as a plugin
author would in a project of their own (a real ``pytest`` subprocess in an
empty folder, where the fixtures arrive through the ``pytest11`` entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from jobforge.pipeline.config import PipelineConfig
from jobforge.testing import isolated_config

from .bundled import BUNDLED

AUTHOR_TESTS = """
from pathlib import Path

import pytest

from jobforge import hookimpl

STATE = {}


class Layout:
    @hookimpl
    def jobforge_resolve_layer_path(self, layer):
        return Path("/elsewhere") / layer.value


class Steward:
    @hookimpl
    def jobforge_enrich_table_metadata(self):
        return {"data_steward": "me"}


def test_the_config_has_the_bundled_plugins_only(jobforge_config, jobforge_data_root):
    assert jobforge_config.data_root == jobforge_data_root
    assert list(jobforge_data_root.iterdir()) == []
    assert [i.name for i in jobforge_config.plugins.infos] == BUNDLED


def test_register_then_fail(jobforge_config, register_jobforge_plugin):
    STATE["config"] = jobforge_config
    STATE["plugins"] = [
        register_jobforge_plugin(jobforge_config, Layout(), "layout"),
        register_jobforge_plugin(jobforge_config, Steward()),
    ]
    assert jobforge_config.staged_path() == Path("/elsewhere/staged")
    assert jobforge_config.plugins.implementations("jobforge_resolve_layer_path") == [
        "layout",
        "dama",
    ]
    steward = f"Steward-{len(BUNDLED) + 1}"
    assert [i.name for i in jobforge_config.plugins.infos] == [*BUNDLED, "layout", steward]
    raise RuntimeError("the test body fails on purpose")


def test_after_the_failure():
    config = STATE["config"]
    assert not any(config.plugins.pm.is_registered(p) for p in STATE["plugins"])
    assert config.plugins.implementations("jobforge_resolve_layer_path") == ["dama"]
    assert [i.name for i in config.plugins.infos] == BUNDLED
    assert config.staged_path() == config.data_root / "staged"


@pytest.fixture
def broken_setup():
    raise RuntimeError("a later fixture fails")


def test_register_then_a_fixture_fails(jobforge_config, register_jobforge_plugin, request):
    STATE["config2"] = jobforge_config
    STATE["plugin2"] = register_jobforge_plugin(jobforge_config, Layout(), "layout")
    request.getfixturevalue("broken_setup")


def test_after_the_fixture_failure():
    assert not STATE["config2"].plugins.pm.is_registered(STATE["plugin2"])
"""


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.installed_plugins
def test_the_fixtures_in_a_plugin_authors_project(tmp_path: Path) -> None:
    """Installed entry points (the example plugin is one, and is enabled here)
    stay out of ``jobforge_config``; a registered plugin is gone after its test,
    even when the test body or a later fixture fails."""
    (tmp_path / "test_author.py").write_text(
        f"BUNDLED = {BUNDLED!r}\n" + AUTHOR_TESTS, encoding="utf-8"
    )
    done = run_pytest(tmp_path, "--junitxml=report.xml")
    assert done.stdout.strip().splitlines()[-1].startswith("2 failed, 3 passed"), done.stdout
    outcomes = {}
    for case in ElementTree.parse(tmp_path / "report.xml").iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        outcomes[case.get("name")] = None if problem is None else problem.get("message")
    assert outcomes == {
        "test_the_config_has_the_bundled_plugins_only": None,
        "test_register_then_fail": "RuntimeError: the test body fails on purpose",
        "test_after_the_failure": None,
        "test_register_then_a_fixture_fails": "RuntimeError: a later fixture fails",
        "test_after_the_fixture_failure": None,
    }


def test_the_fixtures_are_a_pytest11_plugin() -> None:
    from importlib import metadata

    [ep] = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "jobforge"]
    assert (ep.value, ep.dist.name if ep.dist else None) == (
        "jobforge.testing.fixtures",
        "jobforge",
    )


def test_jobforge_config_fixture(jobforge_config: PipelineConfig, jobforge_data_root: Path) -> None:
    assert jobforge_config.data_root == jobforge_data_root
    assert jobforge_config.entry_points is False
    assert [i.name for i in jobforge_config.plugins.infos] == BUNDLED
    assert jobforge_config.staged_path() == jobforge_data_root / "staged"


def test_register_fixture_returns_the_plugin_and_it_wins(
    jobforge_config: PipelineConfig, register_jobforge_plugin, tmp_path: Path
) -> None:
    from jobforge import hookimpl

    class Layout:
        @hookimpl
        def jobforge_resolve_layer_path(self, layer):  # type: ignore[no-untyped-def]
            return tmp_path / "mine" / layer.value

    plugin = Layout()
    assert register_jobforge_plugin(jobforge_config, plugin, "mine") is plugin
    assert jobforge_config.plugins.implementations("jobforge_resolve_layer_path") == [
        "mine",
        "dama",
    ]
    assert jobforge_config.silver_path() == tmp_path / "mine" / "silver"


def test_isolated_config_without_pytest(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    other = isolated_config(tmp_path)
    assert config.plugins.pm is not other.plugins.pm
    assert [i.name for i in config.plugins.infos] == BUNDLED


@pytest.mark.installed_plugins  # the module is importable from the session's installed copy
def test_the_guide_example_registers_the_example_module(
    jobforge_config: PipelineConfig, register_jobforge_plugin, tmp_path: Path
) -> None:
    """The test shown in docs/plugins.md, section 7."""
    import jobforge_example.plugin as example

    from jobforge.engine.pipeline import PipelineEngine

    register_jobforge_plugin(jobforge_config, example, "example")
    source = tmp_path / "people.csv"
    source.write_text("id,email\n1,a@x.org\n", encoding="utf-8")
    PipelineEngine(jobforge_config).ingest(source, "people")
    entry = json.loads(
        (jobforge_config.catalog_tables_path() / "staged" / "people.json").read_text()
    )
    email = next(c for c in entry["columns"] if c["name"] == "email")
    assert email["pii_classification"] == "direct_identifier"
    assert entry["data_steward"] == "example-steward@jobforge.example"
