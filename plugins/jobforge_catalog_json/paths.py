"""Where the JSON catalog store keeps each file inside the catalog directory
(the layout every existing data root has)."""

from __future__ import annotations

from pathlib import Path

from jobforge.plugin import Layer, LineageRecord, PipelineConfig, RunRecord, validate_name


def table_file_for(config: PipelineConfig, layer: Layer | str, table: str) -> Path:
    """``catalog/tables/<layer>/<table>.json``."""
    return config.catalog_tables_path() / Layer(layer).value / f"{validate_name(table)}.json"


def schema_history_file_for(config: PipelineConfig, layer: Layer | str, table: str) -> Path:
    """``catalog/tables/<layer>/_history/<table>.json``: every schema version seen."""
    return (
        config.catalog_tables_path()
        / Layer(layer).value
        / "_history"
        / f"{validate_name(table)}.json"
    )


def lineage_file_for(config: PipelineConfig, record: LineageRecord) -> Path:
    """``catalog/lineage/<table>/<started_at>-<kind>-<id>.json``.

    The timestamp prefix keeps a directory listing in time order.
    """
    stamp = record.started_at.strftime("%Y%m%dT%H%M%S%fZ")
    if record.record_type == "ingestion":
        record_id = record.ingestion_id
        kind = "ingest"
    else:
        record_id = record.transition_id
        kind = f"{record.source_layer}-{record.target_layer}"
    return (
        config.catalog_lineage_path()
        / validate_name(record.table_name)
        / f"{stamp}-{kind}-{record_id}.json"
    )


def term_file_for(config: PipelineConfig, term_id: str) -> Path:
    """``catalog/glossary/<id>.json``."""
    return config.catalog_glossary_path() / f"{validate_name(term_id, 'glossary term id')}.json"


def runs_path(config: PipelineConfig) -> Path:
    """``catalog/runs/``."""
    return config.catalog_path() / "runs"


def run_file_for(config: PipelineConfig, record: RunRecord) -> Path:
    """``catalog/runs/<started_at>-run-<id>.json``."""
    stamp = record.started_at.strftime("%Y%m%dT%H%M%S%fZ")
    return runs_path(config) / f"{stamp}-run-{record.run_id}.json"
