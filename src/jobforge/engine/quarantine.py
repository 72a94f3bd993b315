"""Where rows set apart are kept: one folder per table, one sub-folder per area.

::

    quarantine/<table>/<layer>/     rows rejected in that layer (reader, cast, rule)
    quarantine/<table>/duplicates/  rows silver dropped as duplicates

Files are named like the data file they go with, so each publication keeps its own.
"""

from __future__ import annotations

from pathlib import Path

from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage.names import validate_name
from jobforge.storage.store import DUPLICATES as DUPLICATES

AREAS: tuple[str, ...] = (*(layer.value for layer in Layer), DUPLICATES)


def quarantine_dir(config: PipelineConfig, table: str, area: Layer | str) -> Path:
    """The folder of ``table``'s rows set apart in ``area`` (a layer or ``duplicates``)."""
    name = area.value if isinstance(area, Layer) else area
    if name not in AREAS:
        raise ValueError(f"unknown quarantine area {name!r}; expected one of {', '.join(AREAS)}")
    return config.quarantine_path() / validate_name(table) / name
