"""Shared fixtures of jobforge's own tests.

The example plugin distribution (``tests/example_plugin``) is never installed
in the environment that runs the tests (the README's demo uses that
environment too, and would load it): the tests marked ``installed_plugins``
get it from :func:`example_distribution`, installed by pip into a folder of
the test session and put on ``sys.path`` (and ``PYTHONPATH``, for the
processes they start) for those tests only. Every other test sees jobforge's
defaults (and runs with ``JOBFORGE_DISABLE_PLUGINS=example`` besides).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .s3_server import S3Server, running_server

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(__file__).resolve().parent / "data" / "real"
EXAMPLE_PLUGIN = Path(__file__).resolve().parent / "example_plugin"


def install_example(target: Path) -> None:
    """``pip install`` the example distribution into ``target`` (a plain folder,
    as ``--target`` makes): from the checkout, without the network (no
    dependencies, the build backend of the running environment)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE_PLUGIN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def example_distribution(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed ``jobforge-example`` distribution (its
    package and its ``.dist-info`` with the ``jobforge`` entry point)."""
    target = tmp_path_factory.mktemp("example-distribution")
    install_example(target)
    return target


@pytest.fixture(autouse=True)
def _clean_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBFORGE_DATA_ROOT", "JOBFORGE_LOAD_PLUGINS", "JOBFORGE_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    if request.node.get_closest_marker("installed_plugins") is None:
        monkeypatch.setenv("JOBFORGE_DISABLE_PLUGINS", "example")
        return
    site = request.getfixturevalue("example_distribution")
    monkeypatch.syspath_prepend(str(site))
    paths = [str(site), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def real_data() -> Path:
    """The real public source files copied into the repository."""
    return REAL_DATA


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on loopback, for the session (tests/s3_server.py)."""
    with running_server() as server:
        yield server
