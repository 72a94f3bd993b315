"""One module per command group; each exposes ``register(group)``."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from jobforge.cli.commands import plugins, project, run, status

    for module in (project, run, status, plugins):
        module.register(group)
