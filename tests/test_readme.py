"""The README's two commands are the ones CI and new users run: keep them in step."""

from __future__ import annotations

import re

from .conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_the_demo_and_the_test_command() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("jobforge demo")
    assert "pip install -e ." in demo
    assert tests.endswith("pytest")
    assert 'pip install -q -e ".[dev]"' in tests


def test_neither_command_installs_the_example_plugin() -> None:
    """Both commands use one ``.venv``: a plugin installed there would load in the
    demo and in every project (the tests install theirs in a session folder)."""
    demo, tests = readme_commands()
    assert demo.split(" && ")[0] == tests.split(" && ")[0] == "python3 -m venv .venv"
    for command in (demo, tests):
        assert "example_plugin" not in command


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()
