"""One module per command group; each exposes ``register(group)``."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from jobforge.cli.commands import (
        catalog,
        docs,
        lineage,
        plugins,
        project,
        quarantine,
        query,
        run,
        status,
    )

    for module in (project, run, status, query, catalog, lineage, quarantine, docs, plugins):
        module.register(group)
