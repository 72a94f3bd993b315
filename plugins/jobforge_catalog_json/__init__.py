"""The JSON catalog: the bundled catalog store (``trylast``: a store plugin that
answers first is used instead), keeping table entries, schema histories,
lineage records, the glossary and run records as reviewed JSON files under
``catalog/`` (see :mod:`jobforge_catalog_json.store`).

Also fills the descriptions the declaration left empty (``trylast``, so any
other enrichment plugin's values are already there and are kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobforge import hookimpl
from jobforge.plugin import (
    PROVENANCE_DESCRIPTIONS,
    CatalogStore,
    ColumnMetadata,
    PipelineConfig,
    TableMetadata,
)


@hookimpl(trylast=True)
def jobforge_catalog_store(config: PipelineConfig) -> CatalogStore:
    from jobforge_catalog_json.store import JsonCatalogStore

    return JsonCatalogStore(config)


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
