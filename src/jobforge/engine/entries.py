"""The catalog entry of a layer's table: built from the files a transition
published, written by :func:`jobforge.catalog.entries.write_entry_locked`."""

from __future__ import annotations

from pathlib import Path

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.derivation import StepLineage
from jobforge.catalog.entries import build_entry
from jobforge.catalog.governance import Computed
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import Declassification, TableMetadata, utc_now


def build_layer_entry(
    config: PipelineConfig,
    *,
    layer: Layer,
    table: str,
    domain: str,
    files: list[Path],
    sample: Path | None = None,
    table_dir: Path | str,
    declaration: TableDeclaration | None,
    upstream: list[str],
    lineage: StepLineage,
    computed: Computed | None,
    decision: Declassification | None,
    transform_script: str | None,
) -> TableMetadata:
    """The entry of ``table`` in ``layer`` once ``files`` are its current version:
    its columns' lineage as the engine worked it out from the step's
    declarations (never from the executor), and the labels its inputs give it."""
    return build_entry(
        config,
        layer=layer.value,
        table=table,
        domain=domain,
        files=files,
        sample=sample,
        table_dir=table_dir,
        now=utc_now(),
        declaration=declaration,
        upstream=upstream,
        lineage=lineage,
        computed=computed,
        decision=decision,
        transform_script=transform_script,
    )
