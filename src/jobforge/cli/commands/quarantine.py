"""``jobforge quarantine list|show``: rejected rows, with the rule and the reason."""

from __future__ import annotations

import json

import click

from jobforge.cli import context
from jobforge.cli.output import print_table
from jobforge.pipeline.config import Layer
from jobforge.storage.names import validate_name


def register(group: click.Group) -> None:
    group.add_command(quarantine)


@click.group("quarantine")
def quarantine() -> None:
    """Rows rejected by a reader, a bronze cast or a silver rule."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_quarantine(as_json: bool) -> None:
    """Quarantined rows per table, layer and rule."""
    from jobforge.query.engine import QueryEngine

    config = context.pipeline_config(context.optional_project())
    with QueryEngine(config) as engine:
        parts = [
            f"SELECT '{r.name}' AS table_name, layer, rule_id, count(*) AS rows, "
            f"min(quarantined_at) AS first_at, max(quarantined_at) AS last_at "
            f"FROM {r.sql_name} GROUP BY ALL"
            for r in engine.relations("quarantine")
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
        click.echo("no quarantined rows")
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(table: str, layer: str | None, limit: int, as_json: bool) -> None:
    """The quarantined rows of TABLE: source row, rule, column, message, original values."""
    from jobforge.query.engine import QueryEngine

    validate_name(table)
    config = context.pipeline_config(context.optional_project())
    with QueryEngine(config) as engine:
        relation = next((r for r in engine.relations("quarantine") if r.name == table), None)
        if relation is None:
            click.echo(f"no quarantined rows for {table!r}")
            return
        where = "WHERE layer = $layer" if layer else ""
        frame = engine.query(
            f'SELECT _source_file, _batch_id, _source_row, layer, rule_id, "column", message, '
            f"row, quarantined_at FROM {relation.sql_name} {where} "
            f"ORDER BY quarantined_at, _source_row LIMIT {int(limit)}",
            {"layer": layer} if layer else None,
        )
    if as_json:
        click.echo(json.dumps(frame.to_dicts(), indent=2, default=str))
        return
    print_table(
        f"quarantine.{table}",
        ["source row", "layer", "rule", "column", "message", "row"],
        [
            [
                r["_source_row"],
                r["layer"],
                r["rule_id"],
                r["column"] or "",
                r["message"],
                r["row"][:120],
            ]
            for r in frame.to_dicts()
        ],
    )
