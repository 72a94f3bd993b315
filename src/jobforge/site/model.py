"""The catalog site's data, gathered in one place.

:func:`build_site_model` returns a plain, JSON-serialisable mapping that holds
everything the site shows. It is built only from the catalog and the
lineage records, read through :class:`~jobforge.catalog.manager.CatalogManager`
(entries, schema history, glossary, lineage records, current versions), and
from :func:`~jobforge.engine.status.warehouse_status` (versions, staleness and
the quarantined rows of each current version). It never reads a data file:
the only figures it shows are the counts the catalog and the records already
hold.

The pages (``assets/app.js``) read nothing else, so when the catalog gains a
field only this module changes: the pages show ``pii_origin``,
``classification_origin`` and each lineage step's ``kind`` and ``expression``
(the column's, from its catalog entry) when they are not ``null``.

Example values pass through the catalog's own rule,
:func:`~jobforge.catalog.governance.redaction_reason` (the catalog does not
keep values it may not show; the site checks again, for entries written before
that rule): a column whose values may not be shown has none in the model at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from jobforge import __version__
from jobforge.catalog.derivation import split_source
from jobforge.catalog.entries import SchemaVersion
from jobforge.catalog.glossary import GlossaryTerm
from jobforge.catalog.governance import redaction_reason
from jobforge.catalog.manager import CatalogManager, current_version
from jobforge.engine.status import TableStatus, warehouse_status
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import (
    CLASSIFICATIONS,
    PII_CLASSIFICATIONS,
    ColumnMetadata,
    IngestionRecord,
    LineageRecord,
    TableMetadata,
    TransitionRecord,
    utc_now,
)
from jobforge.query.guard import quote_ident, quote_literal
from jobforge.storage.versions import CurrentVersion

MODEL_FORMAT = 1
"""Version of the model's shape (raised when a key changes meaning)."""

RUNS_PER_TABLE = 50
"""How many of the latest runs of a table (in one layer) the site keeps."""

LAYERS: tuple[str, ...] = tuple(layer.value for layer in Layer)

STATES: dict[str, str] = {
    "up_to_date": "up to date",
    "quarantined": "rows quarantined",
    "stale": "upstream newer",
    "failed": "last run failed",
    "no_version": "no current version",
}
"""A table's status on the overview, from the least to the most urgent."""


def build_site_model(
    config: PipelineConfig, *, project_name: str = "", generated_at: datetime | None = None
) -> dict[str, Any]:
    """Everything the catalog site shows, as plain JSON values (see the module docstring)."""
    catalog = CatalogManager(config)
    entries = catalog.list_tables()
    statuses = {(s.layer, s.table): s for s in warehouse_status(config)}
    records = catalog.lineage_records()
    by_step: dict[tuple[str, str], list[LineageRecord]] = defaultdict(list)
    for record in records:  # oldest first
        by_step[(record.target_layer, record.table_name)].append(record)
    currents: dict[tuple[str, str], CurrentVersion | None] = {
        (entry.layer, entry.table_name): current_version(config, entry.layer, entry.table_name)
        for entry in entries
    }
    tables = [
        _table(
            entry,
            statuses.get((entry.layer, entry.table_name)),
            currents[(entry.layer, entry.table_name)],
            by_step.get((entry.layer, entry.table_name), []),
            catalog.schema_history(entry.layer, entry.table_name),
        )
        for entry in entries
    ]
    sources, source_edges = _sources(entries, currents, by_step)
    missing, table_edges = _table_edges(entries)
    return {
        "format": MODEL_FORMAT,
        "generator": f"jobforge {__version__}",
        "generated_at": (generated_at or utc_now()).isoformat(),
        "project": project_name,
        "layers": list(LAYERS),
        "classifications": list(CLASSIFICATIONS),
        "pii_classes": list(PII_CLASSIFICATIONS),
        "states": STATES,
        "domains": sorted({entry.domain for entry in entries}),
        "tables": tables,
        "sources": sources,
        "missing": missing,
        "edges": source_edges + table_edges,
        "glossary": _glossary(catalog.glossary(), entries),
        "summary": _summary(tables, sources, records),
    }


# -- one table ------------------------------------------------------------------------------
def _table(
    entry: TableMetadata,
    status: TableStatus | None,
    current: CurrentVersion | None,
    records: list[LineageRecord],
    history: list[SchemaVersion],
) -> dict[str, Any]:
    last = records[-1] if records else None
    produced = _current_records(current, records)
    pii = sorted(
        {c.pii_classification for c in entry.columns if c.pii_classification not in (None, "none")}
    )
    return {
        "key": entry.key,
        "layer": entry.layer,
        "name": entry.table_name,
        "domain": entry.domain,
        "description": entry.description,
        "business_purpose": entry.business_purpose,
        "owner": entry.data_owner,
        "steward": entry.data_steward,
        "classification": entry.classification,
        "classification_origin": entry.classification_origin,
        "classification_sources": list(entry.classification_sources),
        "declassification": (
            entry.declassification.model_dump(mode="json") if entry.declassification else None
        ),
        "retention_days": entry.retention_days,
        "rows": entry.row_count,
        "column_count": entry.column_count,
        "file_size_bytes": entry.file_size_bytes,
        "file_path": entry.file_path,
        "schema_version": entry.schema_version,
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
        "upstream": list(entry.upstream_tables),
        "downstream": list(entry.downstream_tables),
        "transform": entry.transform_script,
        "pii": pii,
        "unclassified_columns": sum(1 for c in entry.columns if c.pii_classification is None),
        "status": _status(status, last),
        "last_run": _run(last, produced) if last is not None else None,
        "columns": [_column(entry, column) for column in entry.columns],
        "schema_history": _history(history),
        "runs": [_run(r, produced) for r in records[-RUNS_PER_TABLE:]],
        "run_count": len(records),
        "quarantine": _quarantine(entry, status, current, produced),
    }


def _status(status: TableStatus | None, last: LineageRecord | None) -> dict[str, Any]:
    if last is not None and last.status == "failed":
        state = "failed"
    elif status is None:
        state = "no_version"
    elif status.stale:
        state = "stale"
    elif status.quarantined_rows:
        state = "quarantined"
    else:
        state = "up_to_date"
    return {
        "state": state,
        "label": STATES[state],
        "version": status.version if status else None,
        "batches": status.batches if status else 0,
        "last_batch": status.last_batch if status else None,
        "updated_at": status.updated_at.isoformat() if status else None,
        "quarantined_rows": status.quarantined_rows if status else 0,
        "stale": status.stale if status else False,
    }


def _column(entry: TableMetadata, column: ColumnMetadata) -> dict[str, Any]:
    hidden = redaction_reason(entry.classification, column.pii_classification)
    return {
        "name": column.name,
        "type": column.data_type,
        "nullable": column.nullable,
        "description": column.description,
        "glossary_term": column.glossary_term_id,
        "pii": column.pii_classification,
        "pii_origin": column.pii_origin,
        "pii_sources": list(column.pii_sources),
        "lineage_kind": column.lineage_kind,
        "lineage_expression": column.lineage_expression,
        "lineage": [_lineage_step(entry.layer, column, source) for source in column.source_columns],
        "examples": [] if hidden else list(column.example_values),
        "examples_hidden": hidden,
    }


def _lineage_step(layer: str, column: ColumnMetadata, source: str) -> dict[str, Any]:
    """One entry of ``source_columns``: ``<layer>.<table>.<column>`` (the column may
    hold dots), or, in staged, the source file's column name; with how the
    column is computed from its sources."""
    kind, expression = column.lineage_kind, column.lineage_expression
    parts = split_source(source)
    if layer != Layer.STAGED.value and parts is not None:
        table = f"{parts[0]}.{parts[1]}"
        return {"table": table, "column": parts[2], "kind": kind, "expression": expression}
    return {"table": None, "column": source, "kind": kind, "expression": expression}


def _history(history: list[SchemaVersion]) -> list[dict[str, Any]]:
    found = []
    previous: dict[str, str] | None = None
    for version in history:
        columns = dict(version.columns)
        if previous is None:
            changes = None
        else:
            changes = {
                "added": [c for c in columns if c not in previous],
                "removed": [c for c in previous if c not in columns],
                "retyped": [
                    {"column": c, "from": previous[c], "to": t}
                    for c, t in columns.items()
                    if c in previous and previous[c] != t
                ],
            }
        found.append(
            {
                "schema_version": version.schema_version,
                "first_seen": version.first_seen.isoformat(),
                "columns": [list(pair) for pair in version.columns],
                "changes": changes,
            }
        )
        previous = columns
    return found


# -- runs ---------------------------------------------------------------------------------
def _current_records(
    current: CurrentVersion | None, records: list[LineageRecord]
) -> dict[str, LineageRecord]:
    """Batch id -> the record that produced that batch of the current version
    (the latest one that did not fail, as the lineage walk takes it)."""
    if current is None:
        return {}
    wanted = {batch.batch_id for batch in current.batches}
    found: dict[str, LineageRecord] = {}
    for record in records:
        if record.status != "failed" and record.batch_id in wanted:
            found[record.batch_id] = record
    return found


def _record_id(record: LineageRecord) -> str:
    return record.ingestion_id if isinstance(record, IngestionRecord) else record.transition_id


def _run(record: LineageRecord, produced: dict[str, LineageRecord]) -> dict[str, Any]:
    current = produced.get(record.batch_id) is record
    common = {
        "id": _record_id(record),
        "status": record.status,
        "batch_id": record.batch_id,
        "started_at": record.started_at.isoformat(),
        "completed_at": record.completed_at.isoformat(),
        "seconds": record.seconds,
        "errors": list(record.errors or []),
        "current": current,
    }
    if isinstance(record, IngestionRecord):
        return {
            **common,
            "kind": "ingestion",
            "from": "source",
            "source_file": record.source_file,
            "sha256": record.source_sha256,
            "size_bytes": record.source_size_bytes,
            "format": record.source_format,
            "reader": record.reader,
            "inputs": [],
            "ledger": {
                "rows_in": record.row_count_in,
                "rows_out": record.row_count_out,
                "rows_quarantined": record.rows_quarantined,
                "rows_deduplicated": 0,
                "rows_filtered": 0,
                "rows_generated": 0,
                "rows_warned": 0,
            },
            "rule_counts": {},
            "transforms": [],
        }
    return {
        **common,
        "kind": "transition",
        "from": record.source_layer,
        "inputs": list(record.input_tables),
        "ledger": record.ledger.model_dump(mode="json"),
        "rule_counts": dict(record.rule_counts),
        "transforms": list(record.transforms_applied),
    }


# -- quarantine -------------------------------------------------------------------------------
def _severities(transforms: Iterable[str]) -> dict[str, str]:
    """Rule id -> severity, from the ``rule:<id>:<severity>`` transforms of a record."""
    found = {}
    for step in transforms:
        kind, _, rest = step.partition(":")
        rule, _, severity = rest.rpartition(":")
        if kind == "rule" and rule:
            found[rule] = severity
    return found


def _where(layer: str | None, batch_ids: Sequence[str], rule: str | None = None) -> str:
    clauses = [f"layer = {quote_literal(layer)}"] if layer is not None else []
    if rule is not None:
        clauses.append(f"rule_id = {quote_literal(rule)}")
    if batch_ids:
        clauses.append(f"_batch_id IN ({', '.join(quote_literal(b) for b in batch_ids)})")
    return " AND ".join(clauses) or "true"


def _quarantine(
    entry: TableMetadata,
    status: TableStatus | None,
    current: CurrentVersion | None,
    produced: dict[str, LineageRecord],
) -> dict[str, Any]:
    """Rows set apart by the runs behind the current version: by rule (from the
    records' ``rule_counts``), the rest (reader rejects, bronze casts) as one
    figure, the rows dropped as duplicates, and the SQL that lists them."""
    layer = entry.layer
    table = entry.table_name
    batch_ids = sorted(produced)
    relation = f"quarantine.{quote_ident(table)}"
    rules: dict[str, dict[str, Any]] = {}
    quarantined = deduplicated = 0
    for record in produced.values():
        if isinstance(record, IngestionRecord):
            quarantined += record.rows_quarantined
            continue
        quarantined += record.ledger.rows_quarantined
        deduplicated += record.ledger.rows_deduplicated
        severities = _severities(record.transforms_applied)
        for rule, count in record.rule_counts.items():
            severity = severities.get(rule, "error")
            item = rules.setdefault(
                rule,
                {
                    "rule": rule,
                    "severity": severity,
                    "rows": 0,
                    "action": "quarantined" if severity == "error" else "kept and counted",
                    "sql": (
                        f"SELECT * FROM {relation} WHERE {_where(layer, batch_ids, rule)}"
                        if severity == "error"
                        else None
                    ),
                },
            )
            item["rows"] += count
    attributed = sum(r["rows"] for r in rules.values() if r["severity"] == "error")
    return {
        "rows": status.quarantined_rows if status else 0,
        "recorded_rows": quarantined,
        "unattributed_rows": max(quarantined - attributed, 0),
        "deduplicated_rows": deduplicated,
        "rules": sorted(rules.values(), key=lambda r: (-r["rows"], r["rule"])),
        "by_rule_sql": (
            f"SELECT rule_id, count(*) AS rows FROM {relation} "
            f"WHERE {_where(layer, batch_ids)} GROUP BY rule_id ORDER BY rows DESC"
        ),
        "rows_sql": f"SELECT * FROM {relation} WHERE {_where(layer, batch_ids)}",
        "duplicates_sql": (
            f"SELECT * FROM duplicates.{quote_ident(table)} WHERE {_where(None, batch_ids)}"
            if deduplicated
            else None
        ),
        "command": f"jobforge quarantine show {table} --layer {layer}",
        "batches": batch_ids if current is not None else [],
    }


# -- the lineage picture -------------------------------------------------------------------------
def _sources(
    entries: list[TableMetadata],
    currents: dict[tuple[str, str], CurrentVersion | None],
    by_step: dict[tuple[str, str], list[LineageRecord]],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The source files behind the current version of every staged table, and
    their edges to it. A file is one node per (path, sha256)."""
    nodes: dict[tuple[str, str], dict[str, Any]] = {}
    edges: list[dict[str, str]] = []
    for entry in entries:
        if entry.layer != Layer.STAGED.value:
            continue
        current = currents.get((entry.layer, entry.table_name))
        ingestions = {
            r.batch_id: r
            for r in by_step.get((entry.layer, entry.table_name), [])
            if isinstance(r, IngestionRecord) and r.status != "failed"
        }
        for batch in current.batches if current else []:
            record = ingestions.get(batch.batch_id)
            path = record.source_file if record else (batch.source_file or "")
            digest = record.source_sha256 if record else (batch.source_sha256 or "")
            node = nodes.get((path, digest))
            if node is None:
                node = {
                    "id": f"source:{len(nodes) + 1}",
                    "path": path,
                    "name": path.replace("\\", "/").rsplit("/", 1)[-1] or path,
                    "sha256": digest,
                    "size_bytes": record.source_size_bytes if record else None,
                    "format": record.source_format if record else None,
                    "tables": [],
                    "batches": [],
                }
                nodes[(path, digest)] = node
            if entry.key not in node["tables"]:
                node["tables"].append(entry.key)
                edges.append({"from": node["id"], "to": entry.key})
            node["batches"].append(
                {
                    "table": entry.key,
                    "batch_id": batch.batch_id,
                    "rows": batch.rows,
                    "ingested_at": (
                        record.started_at.isoformat()
                        if record
                        else batch.ingested_at.isoformat()
                        if batch.ingested_at
                        else None
                    ),
                }
            )
    return list(nodes.values()), edges


def _table_edges(entries: list[TableMetadata]) -> tuple[list[str], list[dict[str, str]]]:
    """Edges between tables, from both ``upstream_tables`` and ``downstream_tables``
    (the catalog keeps them in step; a link either side gives an edge), and the
    keys they name that have no entry."""
    keys = {entry.key for entry in entries}
    pairs: dict[tuple[str, str], None] = {}
    for entry in entries:
        for upstream in entry.upstream_tables:
            pairs[(upstream, entry.key)] = None
        for downstream in entry.downstream_tables:
            pairs[(entry.key, downstream)] = None
    missing = sorted({key for pair in pairs for key in pair if key not in keys})
    return missing, [{"from": a, "to": b} for a, b in pairs]


# -- glossary and summary -----------------------------------------------------------------------
def _glossary(terms: dict[str, GlossaryTerm], entries: list[TableMetadata]) -> list[dict[str, Any]]:
    used: dict[str, list[dict[str, str]]] = defaultdict(list)
    for entry in entries:
        for column in entry.columns:
            if column.glossary_term_id:
                used[column.glossary_term_id].append({"table": entry.key, "column": column.name})
    return [
        {
            "id": term.id,
            "name": term.name,
            "definition": term.definition,
            "owner": term.owner,
            "related": list(term.related_terms),
            "columns": used.get(term.id, []),
        }
        for term in sorted(terms.values(), key=lambda t: (t.name.lower(), t.id))
    ]


def _summary(
    tables: list[dict[str, Any]], sources: list[dict[str, Any]], records: list[LineageRecord]
) -> dict[str, Any]:
    by_layer = {layer: sum(1 for t in tables if t["layer"] == layer) for layer in LAYERS}
    states: dict[str, int] = {state: 0 for state in STATES}
    for table in tables:
        states[table["status"]["state"]] += 1
    return {
        "tables": len(tables),
        "by_layer": by_layer,
        "states": states,
        "source_files": len(sources),
        "runs": len(records),
        "failed_runs": sum(1 for r in records if r.status == "failed"),
        "transitions": sum(1 for r in records if isinstance(r, TransitionRecord)),
        "columns_with_pii": sum(
            1 for t in tables for c in t["columns"] if c["pii"] not in (None, "none")
        ),
    }
