"""``jobforge history TABLE``: every version of a table, with its batches and ledger."""

from __future__ import annotations

import json
from typing import Any

import click

from jobforge.cli import context
from jobforge.cli.output import print_table


@click.command("history")
@click.argument("table")
@click.option(
    "--layer",
    type=click.Choice(["staged", "bronze", "silver", "gold"]),
    default="silver",
    show_default=True,
    help="The layer of the table.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(table: str, layer: str, as_json: bool) -> None:
    """Every version of TABLE in a layer, oldest first: its Delta version, when and
    how it was published, its batches and the row ledger of its lineage record
    (needs [storage] format = "delta")."""
    from jobforge.catalog.lineage import find_record
    from jobforge.pipeline.models import TransitionRecord
    from jobforge.storage.history import table_history
    from jobforge.storage.maintenance import READABLE
    from jobforge.storage.names import validate_name

    config = context.pipeline_config(context.optional_project())
    validate_name(table)
    rows: list[dict[str, Any]] = []
    for version in table_history(config.store, layer, table):
        record = find_record(config, table, version.record_id) if version.record_id else None
        if isinstance(record, TransitionRecord):
            ledger = record.ledger.model_dump()
        elif record is not None:
            ledger = {"rows_in": record.row_count_in, "rows_out": record.row_count_out}
        else:
            ledger = None
        rows.append(
            {
                "version": version.version,
                "delta_version": version.extra.get("delta_version"),
                "updated_at": version.updated_at.isoformat(),
                "mode": version.mode,
                "rows": version.row_count,
                "batches": [b.batch_id for b in version.batches],
                "record_id": version.record_id,
                "readable": version.extra.get(READABLE, True),
                "ledger": ledger,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"{layer}.{table}: no versions")
        return
    print_table(
        "history",
        [
            "version",
            "delta version",
            "updated (UTC)",
            "mode",
            "rows",
            "batches",
            "readable",
            "ledger",
        ],
        [
            [
                r["version"],
                r["delta_version"],
                r["updated_at"][:19].replace("T", " "),
                r["mode"],
                r["rows"],
                " ".join(b[:8] for b in r["batches"]),
                "yes" if r["readable"] else "no: removed by maintain",
                " ".join(f"{k}={v}" for k, v in (r["ledger"] or {}).items() if v),
            ]
            for r in rows
        ],
    )
