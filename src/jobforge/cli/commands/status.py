"""``jobforge status``: every table by layer."""

from __future__ import annotations

import json

import click

from jobforge.cli import context
from jobforge.cli.output import print_table


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Every table by layer: version, rows, last batch and time, quarantined rows,
    duplicate deliveries, whether it is up to date (or stale, or failed in the
    last run), and the head of its lineage record chain (sha256, records)."""
    from jobforge.engine.status import warehouse_status

    config = context.pipeline_config(context.optional_project())
    statuses = warehouse_status(config)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    if not statuses:
        click.echo(f"no tables yet in {config.data_root} (run `jobforge run` or `jobforge ingest`)")
        return
    print_table(
        "status",
        [
            "layer",
            "table",
            "version",
            "rows",
            "batches",
            "last batch",
            "updated (UTC)",
            "quarantined",
            "duplicate deliveries",
            "state",
            "chain head",
        ],
        [
            [
                s.layer,
                s.table,
                s.version,
                s.rows,
                s.batches,
                s.last_batch[:8],
                s.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
                s.quarantined_rows,
                s.duplicate_deliveries if s.layer == "staged" else "",
                s.state,
                f"{s.chain_head[:12]} ({s.chain_length})" if s.chain_head else "",
            ]
            for s in statuses
        ],
    )
