"""The JSON catalog: table metadata and lineage records as reviewed JSON files.

- table metadata: ``catalog/tables/<layer>/<table>.json`` (one entry per layer
  and table, replaced atomically);
- lineage: ``catalog/lineage/<table>/<started_at>-<id>.json`` (one file per
  ingestion or transition, never rewritten).

Also fills the descriptions the declaration left empty (``trylast``, so any
other enrichment plugin's values are already there and are kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobforge import hookimpl
from jobforge.plugin import (
    PROVENANCE_DESCRIPTIONS,
    ColumnMetadata,
    LineageRecord,
    PipelineConfig,
    TableMetadata,
    atomic_write_text,
    lineage_file_for,
    table_file_for,
)


@hookimpl
def jobforge_write_table_metadata(metadata: TableMetadata, config: PipelineConfig) -> None:
    path = table_file_for(config, metadata.layer, metadata.table_name)
    atomic_write_text(path, metadata.model_dump_json(indent=2) + "\n")


@hookimpl
def jobforge_write_lineage(log: LineageRecord, config: PipelineConfig) -> None:
    path = lineage_file_for(config, log)
    atomic_write_text(path, log.model_dump_json(indent=2) + "\n")


@hookimpl(trylast=True)
def jobforge_enrich_table_metadata(metadata: TableMetadata) -> Mapping[str, Any] | None:
    if metadata.description:
        return None
    return {
        "description": f"{metadata.table_name} in the {metadata.layer} layer "
        f"(domain {metadata.domain or 'unassigned'}); no description was declared."
    }


@hookimpl(trylast=True)
def jobforge_enrich_column_metadata(column: ColumnMetadata) -> Mapping[str, Any] | None:
    known = PROVENANCE_DESCRIPTIONS.get(column.name)
    if known is None:
        return None
    updates: dict[str, Any] = {}
    if not column.description:
        updates["description"] = known
    if column.pii_classification is None:
        updates["pii_classification"] = "none"
    return updates or None
