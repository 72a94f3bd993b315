"""Shared fixtures of jobforge's own tests.

The example plugin distribution (``tests/example_plugin``) is installed in the
test environment; it stays disabled unless a test is marked
``installed_plugins``, so every other test sees jobforge's defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(__file__).resolve().parent / "data" / "real"


@pytest.fixture(autouse=True)
def _clean_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBFORGE_DATA_ROOT", "JOBFORGE_LOAD_PLUGINS", "JOBFORGE_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    if request.node.get_closest_marker("installed_plugins") is None:
        monkeypatch.setenv("JOBFORGE_DISABLE_PLUGINS", "example")


@pytest.fixture
def real_data() -> Path:
    """The real public source files copied into the repository."""
    return REAL_DATA
