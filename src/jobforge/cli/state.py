"""Options given before the command (``jobforge --data-root X run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class GlobalOptions:
    data_root: Path | None = None
    project: Path | None = None
    debug: bool = False


def current() -> GlobalOptions:
    """The global options of the running command."""
    ctx = click.get_current_context()
    obj = ctx.find_object(GlobalOptions)
    return obj if obj is not None else GlobalOptions()
