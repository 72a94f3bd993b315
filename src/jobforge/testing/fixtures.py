"""pytest fixtures for jobforge and its plugin authors (loaded through ``pytest11``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from jobforge.pipeline.config import PipelineConfig
from jobforge.testing.helpers import isolated_config

P = TypeVar("P")


class RegisterPlugin(Protocol):
    """The callable ``register_jobforge_plugin`` provides."""

    def __call__(self, config: PipelineConfig, plugin: P, name: str | None = None) -> P: ...


@pytest.fixture
def jobforge_data_root(tmp_path: Path) -> Path:
    """An empty data root in a temporary directory."""
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def jobforge_config(jobforge_data_root: Path) -> PipelineConfig:
    """A config on a temporary data root, bundled plugins only (no entry points)."""
    return isolated_config(jobforge_data_root)


@pytest.fixture
def register_jobforge_plugin() -> Iterator[RegisterPlugin]:
    """``register(config, plugin, name=None)``: register ``plugin`` on ``config``'s
    manager for this test and return it.

    The plugin is checked like an installed one (a misspelled hook is a
    :class:`~jobforge.errors.PluginError`) and is called before the plugins
    registered earlier. It is unregistered when the test ends, whether the
    test passed or failed.
    """
    registered: list[tuple[PipelineConfig, object]] = []

    def register(config: PipelineConfig, plugin: P, name: str | None = None) -> P:
        config.plugins.register(plugin, name)
        registered.append((config, plugin))
        return plugin

    try:
        yield register
    finally:
        for config, plugin in reversed(registered):
            config.plugins.unregister(plugin)
