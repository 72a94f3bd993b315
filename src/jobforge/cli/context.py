"""Building the library objects a command works on, from the global options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobforge.cli import state

if TYPE_CHECKING:  # imported where used: a command that needs none of them loads none
    from jobforge.hooks.host import PluginHost
    from jobforge.pipeline.config import PipelineConfig
    from jobforge.project.model import Project

DATA_ROOT_OPTION = "--data-root"


def optional_project() -> Project | None:
    """The project of this invocation: ``--project``, else ``./jobforge.toml`` if present."""
    from jobforge.project.loader import PROJECT_FILE, find_project_file, load_project

    options = state.current()
    if options.project is not None:
        return load_project(find_project_file(options.project))
    default = Path.cwd() / PROJECT_FILE
    return load_project(default) if default.is_file() else None


def required_project() -> Project:
    from jobforge.project.loader import find_project_file, load_project

    options = state.current()
    return load_project(find_project_file(options.project))


def pipeline_config(
    project: Project | None = None, *, plugins: Sequence[object] = ()
) -> PipelineConfig:
    """``--data-root`` wins, then the project's data root, then $JOBFORGE_DATA_ROOT or ``data``.

    ``plugins`` are registered explicitly (the CLI's own progress display is one).
    Each is checked where the config is built; a refusal names where the data
    root came from.
    """
    from jobforge.pipeline.config import PipelineConfig
    from jobforge.project.runner import project_config
    from jobforge.storage.roots import check_data_root

    options = state.current()
    if project is not None:
        return project_config(project, options.data_root, plugins=plugins, origin=DATA_ROOT_OPTION)
    if options.data_root is not None:
        check_data_root(options.data_root, DATA_ROOT_OPTION)
    return PipelineConfig(options.data_root, plugins=plugins)


def listing_config() -> PipelineConfig:
    """The config ``jobforge plugins`` describes: the project's, if there is one
    that loads, else the defaults."""
    try:
        project = optional_project()
    except Exception:
        project = None
    return pipeline_config(project)


def plugin_host_for_listing() -> PluginHost:
    """A host that records broken plugins instead of stopping on them."""
    from jobforge.hooks.host import build_host

    return build_host(listing_config(), strict=False)


def known_table(config: PipelineConfig, name: str, project: Project | None = None) -> str:
    """``name`` if it is a table of the warehouse (a layer, the lineage records)
    or of the project; else a :class:`~jobforge.errors.ConfigError` (exit 2)
    naming the closest known names, the same for every command."""
    from jobforge.catalog.lineage import lineage_tables
    from jobforge.pipeline.config import Layer
    from jobforge.storage.names import unknown_table, validate_name

    validate_name(name)
    known = set(lineage_tables(config))
    for layer in Layer:
        known |= set(config.store.tables(layer.value))
    if project is not None:
        known |= set(project.order)
    if name in known:
        return name
    raise unknown_table(name, known)
