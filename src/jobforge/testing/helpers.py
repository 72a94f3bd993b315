"""Plain helpers behind the fixtures (usable without pytest)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from jobforge.pipeline.config import PipelineConfig


def isolated_config(
    data_root: str | os.PathLike[str],
    *,
    plugins: Sequence[object] = (),
    entry_points: bool = False,
) -> PipelineConfig:
    """A config on ``data_root`` with the bundled plugins, ``plugins``, and (only
    if asked) the installed entry points."""
    return PipelineConfig(Path(data_root), plugins=plugins, entry_points=entry_points)
