"""The environment that runs the tests is the README's ``.venv``, which its demo
command uses too: the example plugin the tests need must not be installed
there, or it would load in the demo and in every project (``jobforge plugins``
would list ``example``; catalog entries would get its steward).

The tests get the example distribution from a folder of the session
(``example_distribution`` in conftest); these check that it is seen there and
nowhere else, by the real ``jobforge`` script of this environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .bundled import BUNDLED

SCRIPT = Path(sys.executable).parent / "jobforge"
EXAMPLE_STEWARD = "example-steward@jobforge.example"


def _jobforge(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """The script as a user runs it: no ``JOBFORGE_*`` setting, no ``PYTHONPATH``
    (unless given), so every installed plugin loads."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_") and k != "PYTHONPATH"
    }
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _plugins(cwd: Path, pythonpath: Path | None = None) -> list[tuple[str, str, str]]:
    done = _jobforge("plugins", "--json", cwd=cwd, pythonpath=pythonpath)
    assert done.returncode == 0, done.stderr
    return [(p["name"], p["source"], p["status"]) for p in json.loads(done.stdout)]


def test_the_tests_environment_lists_only_the_bundled_plugins(
    example_distribution: Path, tmp_path: Path
) -> None:
    """With the session's example distribution installed (the fixture ran), the
    environment itself still has only the bundled plugins; the same script
    with that folder on its path sees the example, so the check can fail."""
    listed = _plugins(tmp_path)
    assert listed == [(name, "bundled", "loaded") for name in BUNDLED], (
        "the environment running the tests has more than the bundled plugins; if it is "
        "jobforge-example, an older setup installed it: .venv/bin/pip uninstall -y "
        f"jobforge-example ({listed})"
    )
    with_example = _plugins(tmp_path, pythonpath=example_distribution)
    assert with_example == [
        *[(name, "bundled", "loaded") for name in BUNDLED],
        ("example", "entry point", "loaded"),
    ]
    assert (example_distribution / "jobforge_example-0.1.0.dist-info").is_dir()


def test_the_demo_after_the_tests_has_no_example_steward(
    example_distribution: Path, tmp_path: Path
) -> None:
    """The README's demo, run from the tests' environment: every catalog entry
    without a declared steward keeps none (the example would set its own)."""
    done = _jobforge("demo", "--quiet", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    entries = sorted((tmp_path / "demo" / "data" / "catalog" / "tables").rglob("*.json"))
    entries = [e for e in entries if "_history" not in e.parts]
    stewards = {
        e.relative_to(tmp_path / "demo" / "data" / "catalog" / "tables").as_posix(): json.loads(
            e.read_text(encoding="utf-8")
        )["data_steward"]
        for e in entries
    }
    # 2 source tables in staged, bronze and silver, 3 gold tables
    assert len(stewards) == 9, sorted(stewards)
    assert EXAMPLE_STEWARD not in stewards.values()
    assert stewards["gold/dim_noc.json"] is None
