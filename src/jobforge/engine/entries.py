"""The catalog entry of a layer's table: built from the files a transition
published, written under the catalog locks of the tables it names."""

from __future__ import annotations

import contextlib
from pathlib import Path

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.derivation import StepLineage
from jobforge.catalog.entries import build_entry, load_entry, write_entry
from jobforge.catalog.governance import Computed
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import Declassification, TableMetadata, utc_now
from jobforge.storage.locks import catalog_lock


def build_layer_entry(
    config: PipelineConfig,
    *,
    layer: Layer,
    table: str,
    domain: str,
    files: list[Path],
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
        table_dir=table_dir,
        now=utc_now(),
        declaration=declaration,
        upstream=upstream,
        lineage=lineage,
        computed=computed,
        decision=decision,
        transform_script=transform_script,
    )


def write_entry_locked(config: PipelineConfig, metadata: TableMetadata, timeout: float) -> None:
    """Write a catalog entry under the catalog locks of the table and of the
    upstream tables whose entries get it added to their ``downstream_tables``
    (a gold build on another process may add itself to this entry at any
    time: what it added since the entry was built is kept)."""
    names = {metadata.table_name} | {key.partition(".")[2] for key in metadata.upstream_tables}
    with contextlib.ExitStack() as stack:
        for name in sorted(names):
            stack.enter_context(catalog_lock(config.locks_path(), name, timeout))
        existing = load_entry(config, metadata.layer, metadata.table_name)
        if existing is not None:
            added = [d for d in existing.downstream_tables if d not in metadata.downstream_tables]
            if added:
                metadata = metadata.model_copy(
                    update={"downstream_tables": [*metadata.downstream_tables, *added]}
                )
        write_entry(config, metadata)
