"""Writing a table's catalog entry after each transition.

Technical metadata comes from the parquet footers (:mod:`jobforge.catalog.profile`);
business metadata from the table's declaration, then the enrichment hooks;
the entry is written through the catalog-writer hooks, and the upstream
entries get this table added to their ``downstream_tables``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.glossary import check_reference, load_glossary
from jobforge.catalog.jsonfile import read_json_model
from jobforge.catalog.profile import TableProfile, profile_files
from jobforge.catalog.store import schema_history_file_for, table_file_for
from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import ColumnMetadata, TableMetadata, UtcDatetime
from jobforge.storage.atomic import atomic_write_text


class SchemaVersion(BaseModel):
    """One schema a table had in a layer, and when it was first published."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str
    first_seen: UtcDatetime
    columns: list[tuple[str, str]]
    """``(name, data type)`` in order."""


_ENTRY = TypeAdapter(TableMetadata)
_HISTORY = TypeAdapter(list[SchemaVersion])


def schema_version_of(profile: TableProfile) -> str:
    """A short hash of the column names and types, in order."""
    text = json.dumps([(c.name, c.data_type) for c in profile.columns])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_entry(config: PipelineConfig, layer: str, table: str) -> TableMetadata | None:
    """The catalog entry of ``layer.table`` (``None`` if there is none).

    A file that does not validate, or that describes another table or layer
    than its path says, is a :class:`CatalogError` naming it.
    """
    path = table_file_for(config, layer, table)
    if not path.exists():
        return None
    entry = read_json_model(path, _ENTRY, "table metadata entry")
    if (entry.layer, entry.table_name) != (layer, table):
        raise CatalogError(
            f"{path}: describes {entry.layer}.{entry.table_name}, expected {layer}.{table}"
        )
    return entry


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
    path = schema_history_file_for(config, layer, table)
    atomic_write_text(path, _HISTORY.dump_json(history, indent=2).decode() + "\n")


def schema_history(config: PipelineConfig, layer: str, table: str) -> list[SchemaVersion]:
    """Every schema ``layer.table`` has had, oldest first (validated)."""
    path = schema_history_file_for(config, layer, table)
    if not path.exists():
        return []
    return read_json_model(path, _HISTORY, "schema history")


def qualify_source_columns(
    source_columns: Mapping[str, Sequence[str]], upstream: Sequence[str], layer: str
) -> dict[str, list[str]]:
    """An executor's ``source_columns`` in catalog form, ``<layer>.<table>.<column>``.

    Bronze and silver report bare column names of their one upstream table
    (which may contain dots: ``"Code - NOC 2021 V1.0"``); gold reports
    ``<input table>.<column>``, and ``upstream`` says which layer each input came
    from. Staged has no upstream table: its sources are the source file's columns.
    """
    if not upstream:
        return {name: list(sources) for name, sources in source_columns.items()}
    if layer != "gold":
        return {
            name: [f"{upstream[0]}.{s}" for s in sources]
            for name, sources in source_columns.items()
        }
    by_table = {key.partition(".")[2]: key for key in upstream}

    def qualify(source: str) -> str:
        table, dot, column = source.partition(".")
        return f"{by_table[table]}.{column}" if dot and table in by_table else source

    return {name: [qualify(s) for s in sources] for name, sources in source_columns.items()}


def build_entry(
    config: PipelineConfig,
    *,
    layer: str,
    table: str,
    domain: str,
    files: list[Path],
    table_dir: Path | str,
    now: datetime,
    declaration: TableDeclaration | None = None,
    upstream: list[str] | None = None,
    source_columns: dict[str, list[str]] | None = None,
    transform_script: str | None = None,
) -> TableMetadata:
    """Build, enrich and validate the entry of ``layer.table`` (nothing is written)."""
    declaration = declaration or TableDeclaration()
    profile = profile_files(table, layer, files)
    previous = load_entry(config, layer, table)
    version = schema_version_of(profile)
    columns = []
    for col in profile.columns:
        declared = declaration.columns.get(col.name)
        columns.append(
            ColumnMetadata(
                name=col.name,
                data_type=col.data_type,
                nullable=col.null_count is None or col.null_count > 0,
                description=declared.description if declared else "",
                glossary_term_id=declared.glossary_term if declared else None,
                source_columns=(source_columns or {}).get(col.name, []),
                pii_classification=declared.pii if declared else None,
                example_values=col.examples,
            )
        )
    metadata = TableMetadata(
        table_name=table,
        layer=layer,
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
        upstream_tables=list(upstream or []),
        downstream_tables=list(previous.downstream_tables) if previous else [],
        transform_script=transform_script,
        retention_days=declaration.retention_days,
        classification=declaration.classification,
        columns=columns,
    )
    host = config.plugins
    metadata = host.enrich_table_metadata(metadata, profile, config)
    enriched = [
        host.enrich_column_metadata(column, metadata, profile, config)
        for column in metadata.columns
    ]
    metadata = metadata.model_copy(update={"columns": enriched})
    glossary = load_glossary(config)
    for column in metadata.columns:
        check_reference(config, column.glossary_term_id, f"{layer}.{table}.{column.name}", glossary)
    return metadata


def write_entry(config: PipelineConfig, metadata: TableMetadata) -> None:
    """Write an entry through the catalog writers, record its schema version and
    add it to the ``downstream_tables`` of its upstream entries."""
    host = config.plugins
    layer, table = metadata.layer, metadata.table_name
    _record_schema(config, metadata)
    host.write_table_metadata(metadata, config)
    for key in metadata.upstream_tables:
        up_layer, _, up_table = key.partition(".")
        entry = load_entry(config, up_layer, up_table)
        me = f"{layer}.{table}"
        if entry is not None and me not in entry.downstream_tables:
            updated = entry.model_copy(update={"downstream_tables": [*entry.downstream_tables, me]})
            host.write_table_metadata(TableMetadata.model_validate(updated.model_dump()), config)
