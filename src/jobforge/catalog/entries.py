"""Writing a table's catalog entry after each transition.

Technical metadata comes from the parquet footers (:mod:`jobforge.catalog.profile`);
business metadata from the table's declaration, then the enrichment hooks;
the entry is given to the exporters (``jobforge_write_table_metadata``) and
saved in the catalog store, and the upstream entries get this table added to
their ``downstream_tables``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ConfigDict

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.derivation import StepLineage
from jobforge.catalog.glossary import check_reference, load_glossary
from jobforge.catalog.governance import (
    DEFAULT_CLASSIFICATION,
    Computed,
    govern,
    input_labels,
    redact,
)
from jobforge.catalog.profile import TableProfile, profile_files, summary_cache_file
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import (
    Classification,
    ColumnMetadata,
    Declassification,
    LayerName,
    TableMetadata,
)
from jobforge.storage.locks import catalog_lock
from jobforge.timestamps import UtcDatetime


class SchemaVersion(BaseModel):
    """One schema a table had in a layer, and when it was first published."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str
    first_seen: UtcDatetime
    columns: list[tuple[str, str]]
    """``(name, data type)`` in order."""


def schema_version_of(profile: TableProfile) -> str:
    """A short hash of the column names and types, in order."""
    text = json.dumps([(c.name, c.data_type) for c in profile.columns])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_entry(config: PipelineConfig, layer: str, table: str) -> TableMetadata | None:
    """The catalog entry of ``layer.table`` (``None`` if there is none), as the
    catalog store keeps it (validated: one that is not valid, or that describes
    another table, is a :class:`~jobforge.errors.CatalogError` naming it)."""
    return config.catalog.entry(layer, table)


def _record_schema(config: PipelineConfig, metadata: TableMetadata) -> None:
    """Append the entry's schema to the history unless it is the latest one there."""
    layer, table, version = metadata.layer, metadata.table_name, metadata.schema_version
    history = schema_history(config, layer, table)
    if history and history[-1].schema_version == version:
        return
    history.append(
        SchemaVersion(
            schema_version=version,
            first_seen=metadata.updated_at,
            columns=[(c.name, c.data_type) for c in metadata.columns],
        )
    )
    config.catalog.save_schema_history(layer, table, history)


def schema_history(config: PipelineConfig, layer: str, table: str) -> list[SchemaVersion]:
    """Every schema ``layer.table`` has had, oldest first (validated)."""
    return config.catalog.schema_history(layer, table)


def upstream_computed(
    config: PipelineConfig, lineage: StepLineage, upstream: Sequence[str]
) -> Computed:
    """What the catalog entries of ``upstream`` (``layer.table`` keys) give a step
    with this ``lineage`` (an input with no entry gives nothing)."""
    entries = []
    for key in upstream:
        layer, _, name = key.partition(".")
        entry = load_entry(config, layer, name)
        if entry is not None:
            entries.append(input_labels(entry))
    return Computed(lineage, tuple(entries))


def build_entry(
    config: PipelineConfig,
    *,
    layer: str,
    table: str,
    domain: str,
    files: list[Path],
    sample: Path | None = None,
    table_dir: Path | str,
    now: datetime,
    declaration: TableDeclaration | None = None,
    upstream: list[str] | None = None,
    lineage: StepLineage | None = None,
    computed: Computed | None = None,
    decision: Declassification | None = None,
    transform_script: str | None = None,
) -> TableMetadata:
    """Build, enrich, govern and validate the entry of ``layer.table`` (nothing is
    written).

    ``lineage``: how each column is computed (:mod:`jobforge.engine.column_lineage`);
    ``computed``: what the inputs give the table and its columns (default: from
    the entries of ``upstream``), see :mod:`jobforge.catalog.governance`;
    ``decision``: the ``declassify`` decision as applied to this version;
    ``sample``: the file of ``files`` the columns and their examples are read
    from (default: the first).
    """
    declaration = declaration or TableDeclaration()
    lineage = lineage or StepLineage()
    upstream = list(upstream or [])
    if computed is None:
        computed = upstream_computed(config, lineage, upstream)
    cache = summary_cache_file(config, layer, table)
    profile = profile_files(table, layer, files, cache, sample=sample)
    previous = load_entry(config, layer, table)
    version = schema_version_of(profile)
    columns = []
    for col in profile.columns:
        declared = declaration.columns.get(col.name)
        derivation = lineage.of(col.name)
        columns.append(
            ColumnMetadata(
                name=col.name,
                data_type=col.data_type,
                nullable=col.null_count is None or col.null_count > 0,
                description=declared.description if declared else "",
                glossary_term_id=declared.glossary_term if declared else None,
                source_columns=list(derivation.sources),
                lineage_kind=derivation.kind,
                lineage_expression=derivation.expression,
                pii_classification=declared.pii if declared else None,
                example_values=col.examples,
            )
        )
    metadata = TableMetadata(
        table_name=table,
        layer=cast(LayerName, layer),  # the model checks the value
        domain=domain,
        file_path=str(table_dir),
        row_count=profile.row_count,
        column_count=len(columns),
        file_size_bytes=profile.file_size_bytes,
        schema_version=version,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        description=declaration.description,
        business_purpose=declaration.business_purpose,
        data_owner=declaration.owner,
        data_steward=declaration.steward,
        upstream_tables=upstream,
        downstream_tables=list(previous.downstream_tables) if previous else [],
        transform_script=transform_script,
        retention_days=declaration.retention_days,
        classification=cast(
            Classification, declaration.declared_classification or DEFAULT_CLASSIFICATION
        ),  # the model checks the value
        columns=columns,
    )
    host = config.plugins
    before = metadata
    metadata = host.enrich_table_metadata(metadata, profile, config)
    enriched = [
        host.enrich_column_metadata(column, metadata, profile, config)
        for column in metadata.columns
    ]
    metadata = metadata.model_copy(update={"columns": enriched})
    metadata = govern(
        metadata, before=before, declaration=declaration, computed=computed, decision=decision
    )
    glossary = load_glossary(config)
    for column in metadata.columns:
        check_reference(config, column.glossary_term_id, f"{layer}.{table}.{column.name}", glossary)
    return metadata


def save_entry(config: PipelineConfig, metadata: TableMetadata) -> None:
    """Give an entry to the exporters (``jobforge_write_table_metadata``), then
    save it in the catalog store (the first error stops the rest)."""
    config.plugins.write_table_metadata(metadata, config)
    config.catalog.save_entry(metadata)


def write_entry(config: PipelineConfig, metadata: TableMetadata) -> None:
    """Save an entry (:func:`save_entry`), record its schema version and add it
    to the ``downstream_tables`` of its upstream entries."""
    metadata = redact(metadata)  # whoever built it, no value it may not hold is written
    layer, table = metadata.layer, metadata.table_name
    _record_schema(config, metadata)
    save_entry(config, metadata)
    for key in metadata.upstream_tables:
        up_layer, _, up_table = key.partition(".")
        entry = load_entry(config, up_layer, up_table)
        me = f"{layer}.{table}"
        if entry is not None and me not in entry.downstream_tables:
            updated = entry.model_copy(update={"downstream_tables": [*entry.downstream_tables, me]})
            save_entry(config, TableMetadata.model_validate(updated.model_dump()))


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
