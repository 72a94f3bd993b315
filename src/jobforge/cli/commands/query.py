"""``jobforge query``: read-only SQL over every layer and the catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobforge.cli import context
from jobforge.cli.output import print_table
from jobforge.errors import ConfigError


def register(group: click.Group) -> None:
    group.add_command(query)


@click.command("query")
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the result to this file (required for parquet).",
)
def query(sql: str, fmt: str, output: Path | None) -> None:
    """Run one read-only SQL statement (schemas: staged, bronze, silver, gold,
    quarantine, duplicates, catalog)."""
    from jobforge.query.engine import QueryEngine

    if fmt == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output FILE")
    config = context.pipeline_config(context.optional_project())
    with QueryEngine(config) as engine:
        frame = engine.query(sql)
    if fmt == "parquet":
        frame.write_parquet(output)
    elif fmt == "csv":
        text = frame.write_csv()
        _emit(text, output)
    elif fmt == "json":
        _emit(frame.write_json() + "\n", output)
    elif output is not None:
        _emit(frame.write_csv(separator="\t"), output)
    else:
        print_table("result", frame.columns, frame.rows())
    if output is not None:
        click.echo(f"{frame.height} rows written to {output}", err=True)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
