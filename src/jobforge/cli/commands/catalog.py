"""``jobforge catalog list|show``: the DAMA-DMBOK catalog."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from jobforge.cli import context
from jobforge.cli.output import print_table
from jobforge.pipeline.config import Layer

if TYPE_CHECKING:
    from jobforge.pipeline.models import TableMetadata

LAYER = click.Choice([layer.value for layer in Layer])


@click.group("catalog")
def catalog() -> None:
    """Read the catalog: what each table means, who owns it, where it comes from."""


@catalog.command("list")
@click.option("--layer", type=LAYER, default=None, help="Only this layer.")
@click.option("--domain", default=None, help="Only this domain.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_entries(layer: str | None, domain: str | None, as_json: bool) -> None:
    """Every table entry (layer, table, domain, rows, owner, classification)."""
    from jobforge.catalog.manager import CatalogManager

    manager = CatalogManager(context.pipeline_config(context.optional_project()))
    entries = manager.list_tables(layer=layer, domain=domain)
    if as_json:
        click.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    print_table(
        "catalog",
        ["layer", "table", "domain", "rows", "columns", "owner", "classification", "description"],
        [
            [
                e.layer,
                e.table_name,
                e.domain,
                e.row_count,
                e.column_count,
                e.data_owner,
                e.classification,
                e.description[:70],
            ]
            for e in entries
        ],
    )


@catalog.command("show")
@click.argument("table")
@click.option(
    "--layer",
    type=LAYER,
    default=None,
    help="Layer of the entry (default: the last layer the table reached).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(table: str, layer: str | None, as_json: bool) -> None:
    """One table's entry with its columns."""
    from jobforge.catalog.manager import CatalogManager
    from jobforge.errors import CatalogError

    project = context.optional_project()
    config = context.pipeline_config(project)
    context.known_table(config, table, project)
    manager = CatalogManager(config)
    if layer is None:
        found = [e for e in manager.list_tables() if e.table_name == table]
        if not found:
            raise CatalogError(f"no catalog entry for table {table!r} in any layer")
        entry = found[-1]
    else:
        entry = manager.get(layer, table)
    if as_json:
        click.echo(entry.model_dump_json(indent=2))
        return
    fields = [
        ("table", entry.key),
        ("domain", entry.domain),
        ("description", entry.description),
        ("business purpose", entry.business_purpose),
        ("owner", entry.data_owner),
        ("steward", entry.data_steward or ""),
        ("classification", entry.classification),
        ("origin", entry.classification_origin or ""),
        *_decision(entry),
        ("retention days", entry.retention_days if entry.retention_days is not None else ""),
        ("rows", entry.row_count),
        ("file size", entry.file_size_bytes),
        ("schema version", entry.schema_version),
        ("updated", entry.updated_at.isoformat()),
        ("upstream", ", ".join(entry.upstream_tables)),
        ("downstream", ", ".join(entry.downstream_tables)),
        (
            "transform",
            (entry.transform_script or "").strip().splitlines()[0]
            if entry.transform_script
            else "",
        ),
    ]
    for name, value in fields:
        click.echo(f"{name:>16}: {value}")
    click.echo("")
    print_table(
        "columns",
        [
            "column",
            "type",
            "nullable",
            "pii",
            "pii origin",
            "glossary",
            "from",
            "how",
            "description",
        ],
        [
            [
                c.name,
                c.data_type,
                "yes" if c.nullable else "no",
                c.pii_classification or "",
                c.pii_origin or "",
                c.glossary_term_id or "",
                ", ".join(c.source_columns),
                c.lineage_kind or "",
                c.description,
            ]
            for c in entry.columns
        ],
    )


def _decision(entry: TableMetadata) -> list[tuple[str, object]]:
    """The ``declassify`` decision of an entry, as ``show`` lists it."""
    decision = entry.declassification
    if decision is None:
        return []
    group = (
        f"min {decision.min_group_size}, smallest {decision.smallest_group} "
        f"(rows of {', '.join(decision.group_tables)})"
        if decision.min_group_size is not None
        else "no group-size check"
    )
    return [
        ("declassified", f"{decision.computed} -> {decision.to}"),
        ("reason", decision.reason),
        ("approved by", decision.approved_by),
        ("group size", group),
    ]
