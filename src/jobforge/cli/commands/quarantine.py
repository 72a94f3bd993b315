"""``jobforge quarantine list|show``: rejected rows, with the rule and the reason."""

from __future__ import annotations

import json
from typing import Any

import click

from jobforge.cli import context
from jobforge.cli.output import print_table
from jobforge.pipeline.config import Layer


@click.group("quarantine")
def quarantine() -> None:
    """Rows rejected by a reader, a bronze cast or a silver rule."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_quarantine(as_json: bool) -> None:
    """Rejected rows per table, layer and rule, and the rows dropped as duplicates
    (a separate column: a duplicate is not a rejection)."""
    from jobforge.query.engine import QueryEngine
    from jobforge.query.guard import quote_literal

    config = context.pipeline_config(context.optional_project())
    with QueryEngine(config) as engine:
        parts = [
            f"SELECT {quote_literal(r.name)} AS table_name, classification, layer, rule_id, "
            f"count(*) AS rows, NULL::BIGINT AS duplicates, "
            f"min(quarantined_at) AS first_at, max(quarantined_at) AS last_at "
            f"FROM {r.sql_name} GROUP BY ALL"
            for r in engine.relations("quarantine")
        ]
        parts += [
            f"SELECT {quote_literal(r.name)} AS table_name, classification, 'silver' AS layer, "
            f"'dedupe' AS rule_id, NULL::BIGINT AS rows, count(*) AS duplicates, "
            f"min(deduplicated_at) AS first_at, max(deduplicated_at) AS last_at "
            f"FROM {r.sql_name} GROUP BY ALL"
            for r in engine.relations("duplicates")
        ]
        if not parts:
            frame = None
        else:
            frame = engine.query(" UNION ALL ".join(parts) + " ORDER BY table_name, layer, rule_id")
    if as_json:
        rows = [] if frame is None else frame.to_dicts()
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if frame is None or frame.height == 0:
        click.echo("no quarantined rows and no duplicates")
        return
    print_table("quarantine", frame.columns, frame.rows())


@quarantine.command("show")
@click.argument("table")
@click.option(
    "--layer",
    type=click.Choice([layer.value for layer in Layer]),
    default=None,
    help="Only rows rejected in this layer.",
)
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many rows.")
@click.option(
    "--duplicates",
    "show_duplicates",
    is_flag=True,
    help="Show the rows silver dropped as duplicates, with the row each equals.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(table: str, layer: str | None, limit: int, show_duplicates: bool, as_json: bool) -> None:
    """The quarantined rows of TABLE: source row, rule, column, message, original values
    (classified as the table is)."""
    from jobforge.query.engine import QueryEngine

    project = context.optional_project()
    config = context.pipeline_config(project)
    context.known_table(config, table, project)
    if show_duplicates:
        _show_duplicates(config, table, limit, as_json)
        return
    with QueryEngine(config) as engine:
        relation = next((r for r in engine.relations("quarantine") if r.name == table), None)
        if relation is None:
            click.echo(f"no quarantined rows for {table!r}")
            return
        where = "WHERE layer = $layer" if layer else ""
        frame = engine.query(
            f'SELECT _source_file, _batch_id, _source_row, layer, rule_id, "column", message, '
            f"row, quarantined_at, classification FROM {relation.sql_name} {where} "
            f"ORDER BY quarantined_at, _source_row LIMIT {int(limit)}",
            {"layer": layer} if layer else None,
        )
    if as_json:
        click.echo(json.dumps(frame.to_dicts(), indent=2, default=str))
        return
    print_table(
        f"quarantine.{table}{_label(relation.classification)}",
        ["source row", "layer", "rule", "column", "message", "row", "classification"],
        [
            [
                r["_source_row"],
                r["layer"],
                r["rule_id"],
                r["column"] or "",
                r["message"],
                r["row"][:120],
                r["classification"] or "",
            ]
            for r in frame.to_dicts()
        ],
    )


def _label(classification: str | None) -> str:
    """How a listing of original rows says how secret they are."""
    if classification is None:
        return ""
    return f" (original values, classified {classification}: read them as the table)"


def _show_duplicates(config: Any, table: str, limit: int, as_json: bool) -> None:
    """The dropped copies of TABLE and the source row each duplicates (the one kept)."""
    from jobforge.query.engine import QueryEngine

    with QueryEngine(config) as engine:
        relation = next((r for r in engine.relations("duplicates") if r.name == table), None)
        if relation is None:
            click.echo(f"no rows of {table!r} were dropped as duplicates")
            return
        frame = engine.query(
            f"SELECT _source_file, _batch_id, _source_row, duplicate_of, row, deduplicated_at, "
            f"classification FROM {relation.sql_name} "
            f"ORDER BY deduplicated_at, _source_row LIMIT {int(limit)}"
        )
    if as_json:
        click.echo(json.dumps(frame.to_dicts(), indent=2, default=str))
        return
    print_table(
        f"duplicates.{table}{_label(relation.classification)}",
        ["source row", "duplicate of row", "batch", "row", "classification"],
        [
            [
                r["_source_row"],
                r["duplicate_of"],
                r["_batch_id"][:8],
                r["row"][:120],
                r["classification"] or "",
            ]
            for r in frame.to_dicts()
        ],
    )
