"""The DAMA layout: every layer, the quarantine and the catalog under ``data_root``.

::

    data_root/
      staged/  bronze/  silver/  gold/     one folder per table inside
      quarantine/                          rejected rows, per layer and table
      catalog/{tables,lineage,glossary,schemas}/

Bundled with jobforge and answering ``trylast``: any installed plugin that
returns a path wins.
"""

from __future__ import annotations

from pathlib import Path

from jobforge import hookimpl
from jobforge.plugin import Layer, PipelineConfig


@hookimpl(trylast=True)
def jobforge_resolve_layer_path(config: PipelineConfig, layer: Layer) -> Path:
    return config.data_root / Layer(layer).value


@hookimpl(trylast=True)
def jobforge_resolve_quarantine_path(config: PipelineConfig) -> Path:
    return config.data_root / "quarantine"


@hookimpl(trylast=True)
def jobforge_resolve_catalog_path(config: PipelineConfig) -> Path:
    return config.data_root / "catalog"
