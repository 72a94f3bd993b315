"""``jobforge lineage``: from a table down to the source files and rows it came from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from jobforge.cli import context
from jobforge.cli.output import console, print_table
from jobforge.pipeline.config import Layer

if TYPE_CHECKING:
    from rich.tree import Tree


@click.command("lineage")
@click.argument("table", required=False)
@click.option(
    "--layer",
    type=click.Choice([layer.value for layer in Layer]),
    default=None,
    help="Layer of TABLE (default: the last layer it reached).",
)
@click.option("--batch", "batch_id", default=None, help="Show everything that happened to a batch.")
@click.option(
    "--where",
    default=None,
    help="SQL condition selecting rows of TABLE to trace to their source rows.",
)
@click.option(
    "--limit", type=int, default=5, show_default=True, help="At most this many rows with --where."
)
@click.option(
    "--column",
    default=None,
    help="Show where this column of TABLE comes from, down to the source files' headers.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lineage(
    table: str | None,
    layer: str | None,
    batch_id: str | None,
    where: str | None,
    limit: int,
    column: str | None,
    as_json: bool,
) -> None:
    """The lineage tree of TABLE down to source files (with sha256) and rows,
    the tree of one of its columns (--column), or every record of a batch (--batch)."""
    from jobforge.catalog.manager import CatalogManager
    from jobforge.errors import ConfigError

    project = context.optional_project()
    config = context.pipeline_config(project)
    manager = CatalogManager(config)
    if batch_id is not None:
        batch_id = manager.resolve_batch_id(batch_id)
        records = manager.batch_records(batch_id)
        if as_json:
            click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
            return
        if not records:
            click.echo(f"no lineage record mentions batch {batch_id}")
            return
        print_table(
            f"batch {batch_id}",
            ["when (UTC)", "table", "step", "status", "rows in", "rows out", "errors"],
            [_record_row(r) for r in records],
        )
        return
    if table is None:
        raise ConfigError("give a TABLE or --batch ID")
    context.known_table(config, table, project)
    if layer is None:
        reached = [e.layer for e in manager.list_tables() if e.table_name == table]
        layer = reached[-1] if reached else Layer.GOLD.value
    if column is not None:
        if where is not None:
            raise ConfigError("give --column or --where, not both")
        node = manager.column_lineage(layer, table, column)
        if as_json:
            click.echo(json.dumps(node.as_dict(), indent=2))
        else:
            console().print(_column_tree(node), soft_wrap=False)
        return
    chain = manager.upstream(layer, table)
    if where is not None:
        _trace_rows(config, layer, table, where, limit, as_json)
        return
    used = _rows_used(config, layer, table)
    published = _published(config, chain)
    if as_json:
        data = _chain_dict(chain)
        for node in data["nodes"]:
            node["versions"] = published[node["table"]]
        for source in data["sources"]:
            source["rows_used"] = used.get(source["batch_id"])
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console().print(_tree(chain, used, published))


def _published(config: Any, chain: Any) -> dict[str, list[dict[str, Any]]]:
    """Node key -> the versions its records published: jobforge's number and,
    with the Delta store, the Delta version of its commit."""
    from jobforge.storage.history import published_by

    found: dict[str, list[dict[str, Any]]] = {}
    for node in chain.nodes:
        ids = [r.transition_id for r in node.records] or [
            s.ingestion_id
            for s in chain.sources
            if s.table == node.table and s.batch_id in node.batch_ids
        ]
        found[node.key] = [
            {
                "version": v.version,
                "delta_version": v.extra.get("delta_version"),
                "record_id": v.record_id,
            }
            for v in published_by(config.store, node.layer, node.table, ids)
        ]
    return found


def _version_label(versions: list[dict[str, Any]]) -> str:
    """``version 3 (delta version 2)``, or ``versions 1, 2`` (parquet store)."""
    if not versions:
        return ""
    numbers = ", ".join(str(v["version"]) for v in versions)
    text = f"  version{'s' if len(versions) > 1 else ''} {numbers}"
    deltas = [v["delta_version"] for v in versions if v["delta_version"] is not None]
    if deltas:
        text += f" (delta version{'s' if len(deltas) > 1 else ''} {', '.join(map(str, deltas))})"
    return text


def _rows_used(config: Any, layer: str, table: str) -> dict[str, dict[str, Any]]:
    """Per ingestion batch: how many source rows this table's rows come from."""
    from jobforge.errors import QueryError
    from jobforge.query.engine import QueryEngine

    with QueryEngine(config) as engine:
        try:
            frame = engine.get_lineage(table, layer)
        except QueryError:
            return {}
    return {
        row["batch_id"]: {
            "source_rows": row["source_rows"],
            "first_source_row": row["first_source_row"],
            "last_source_row": row["last_source_row"],
        }
        for row in frame.to_dicts()
    }


def _record_row(record: Any) -> list[Any]:
    if record.record_type == "ingestion":
        step = f"ingest {record.source_file}"
    else:
        step = f"{record.source_layer} -> {record.target_layer}"
    return [
        record.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        record.table_name,
        step,
        record.status,
        record.row_count_in,
        record.row_count_out,
        "; ".join(record.errors or []),
    ]


def _chain_dict(chain: Any) -> dict[str, Any]:
    return {
        "table": chain.key,
        "nodes": [
            {
                "table": n.key,
                "batches": list(n.batch_ids),
                "inputs": list(n.inputs),
                "transitions": [r.model_dump(mode="json") for r in n.records],
            }
            for n in chain.nodes
        ],
        "sources": [s.__dict__ for s in chain.sources],
        "duplicate_deliveries": [d.__dict__ for d in chain.duplicates],
    }


def _tree(
    chain: Any, used: dict[str, dict[str, Any]], published: dict[str, list[dict[str, Any]]]
) -> Tree:
    from rich.tree import Tree

    nodes = {n.key: n for n in chain.nodes}
    sources_by_table: dict[str, list[Any]] = {}
    for source in chain.sources:
        sources_by_table.setdefault(source.table, []).append(source)

    def label(node: Any) -> str:
        text = f"{node.key}{_version_label(published.get(node.key, []))}  batches "
        text += ", ".join(b[:8] for b in node.batch_ids)
        if node.records:
            rows_in = sum(r.ledger.rows_in for r in node.records)
            rows_out = sum(r.ledger.rows_out for r in node.records)
            quarantined = sum(r.ledger.rows_quarantined for r in node.records)
            text += f"  ({rows_in} rows in, {rows_out} out, {quarantined} quarantined)"
        return text

    def grow(branch: Tree, node: Any, seen: frozenset[str]) -> None:
        for key in node.inputs:
            child = nodes.get(key)
            if child is None or key in seen:
                continue
            sub = branch.add(label(child))
            grow(sub, child, seen | {key})
        if node.layer == Layer.STAGED.value:
            for source in sources_by_table.get(node.table, []):
                if source.batch_id in node.batch_ids:
                    leaf = branch.add(
                        f"file {source.source_file}  sha256 {source.sha256}  "
                        f"{source.rows} rows  ingested {source.ingested_at:%Y-%m-%d %H:%M:%S}Z"
                    )
                    rows = used.get(source.batch_id)
                    if rows:
                        leaf.add(
                            f"{rows['source_rows']} source rows used, records "
                            f"{rows['first_source_row']} to {rows['last_source_row']}"
                        )
                    for again in chain.duplicates:
                        if again.duplicate_of == source.batch_id and again.table == node.table:
                            leaf.add(
                                f"delivered again as {again.source_file} "
                                f"{again.delivered_at:%Y-%m-%d %H:%M:%S}Z: the same bytes, "
                                "not read again"
                            )

    top = nodes[chain.key]
    tree = Tree(label(top))
    grow(tree, top, frozenset({chain.key}))
    return tree


def _column_label(node: Any) -> str:
    if node.layer == "source":
        return f"header {node.column!r} of " + (", ".join(node.files) or "the source file")
    if node.missing:
        return f"{node.key}  (no catalog entry)"
    text = f"{node.key}  {node.kind or '?'}"
    if node.expression:
        text += f"  {node.expression}"
    if node.pii is not None:
        text += f"  [pii {node.pii}" + (f": {node.pii_origin}" if node.pii_origin else "") + "]"
    return text


def _column_tree(node: Any) -> Tree:
    """A column's lineage as a tree: each line the column, how it is computed
    and its PII class; the leaves the source files' headers."""
    from rich.text import Text  # labels hold brackets and column names: never markup
    from rich.tree import Tree

    tree = Tree(Text(_column_label(node), overflow="fold"), highlight=False)

    def grow(branch: Tree, current: Any) -> None:
        for source in current.sources:
            grow(branch.add(Text(_column_label(source), overflow="fold"), highlight=False), source)

    grow(tree, node)
    return tree


def _trace_rows(config: Any, layer: str, table: str, where: str, limit: int, as_json: bool) -> None:
    """Each selected row, its lineage entries, and the staged source rows they point to."""
    from jobforge import provenance as prov
    from jobforge.query.engine import QueryEngine

    with QueryEngine(config) as engine:
        rows = engine.query_with_provenance(table, layer=layer, where=where, limit=limit)
        ingestions = {
            r["batch_id"]: r
            for r in engine.query(
                "SELECT batch_id, table_name, source_file, source_sha256 FROM catalog.lineage "
                "WHERE record_type = 'ingestion' AND status <> 'failed'"
            ).to_dicts()
        }
        traced: list[dict[str, Any]] = []
        for row in rows.to_dicts():
            if prov.LINEAGE in row:
                keys = [prov.parse_lineage_key(k) for k in dict.fromkeys(row[prov.LINEAGE])]
            else:
                keys = [(table, row[prov.BATCH_ID], row[prov.SOURCE_ROW])]
            origins = []
            for source_table, batch, source_row in keys:
                ingestion = ingestions.get(batch, {})
                staged_table = ingestion.get("table_name", source_table)
                raw = engine.query(
                    f"SELECT * EXCLUDE (_source_file, _ingested_at, _batch_id, _layer, "
                    f'_source_row) FROM staged."{staged_table}" '
                    "WHERE _batch_id = $batch AND _source_row = $row",
                    {"batch": batch, "row": source_row},
                ).to_dicts()
                origins.append(
                    {
                        "table": source_table,
                        "batch_id": batch,
                        "source_row": source_row,
                        "source_file": ingestion.get("source_file"),
                        "source_sha256": ingestion.get("source_sha256"),
                        "raw": raw[0] if raw else None,
                    }
                )
            data = {k: v for k, v in row.items() if not prov.is_provenance(k)}
            traced.append({"row": data, "origins": origins})
    if as_json:
        click.echo(json.dumps(traced, indent=2, default=str))
        return
    for item in traced:
        from rich.tree import Tree

        tree = Tree(", ".join(f"{k}={v}" for k, v in item["row"].items()))
        for origin in item["origins"]:
            branch = tree.add(
                f"{origin['source_file']} row {origin['source_row']} "
                f"(sha256 {str(origin['source_sha256'])[:12]}..., batch {origin['batch_id'][:8]})"
            )
            if origin["raw"]:
                branch.add(json.dumps(origin["raw"], ensure_ascii=False)[:200])
        console().print(tree)
