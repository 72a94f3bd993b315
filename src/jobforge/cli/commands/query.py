"""``jobforge query``: read-only SQL over every layer and the catalog.

The result is streamed: read from DuckDB in Arrow batches and written as each
arrives, so a large result does not grow memory; the table format shows at
most ``--max-rows`` rows and says how many it left out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from jobforge.cli import context
from jobforge.cli.output import print_table
from jobforge.errors import ConfigError
from jobforge.query.limits import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from jobforge.query.engine import QueryStream
    from jobforge.query.export import ExportFormat

DEFAULT_MAX_ROWS = 1000


@click.command("query")
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format (table: tab-separated lines unless on a terminal).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the result to this file (required for parquet; table is written as TSV).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Stop the query after this many seconds (running and writing it); 0: no limit.",
)
@click.option(
    "--memory-limit",
    default=DEFAULT_MEMORY_LIMIT,
    show_default=True,
    help="DuckDB memory limit of the query (e.g. 500MB, 4GB).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    help="Rows shown by the table format on the screen (the rest are counted, not shown).",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="VERSION|TIMESTAMP",
    help="Read every layer as it was: each table's version VERSION (or the last before it), "
    "or the versions current at TIMESTAMP (ISO 8601, UTC unless it names a zone). "
    'Needs [storage] format = "delta".',
)
def query(
    sql: str,
    fmt: str,
    output: Path | None,
    timeout: float,
    memory_limit: str,
    max_rows: int,
    as_of: str | None,
) -> None:
    """Run one read-only SQL statement (schemas: staged, bronze, silver, gold,
    quarantine, duplicates, catalog)."""
    from jobforge.query.engine import QueryEngine
    from jobforge.query.export import export
    from jobforge.storage.history import parse_as_of

    moment = parse_as_of(as_of) if as_of is not None else None
    if fmt == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output FILE")
    config = context.pipeline_config(context.optional_project())
    with (
        QueryEngine(config, timeout=timeout, memory_limit=memory_limit, as_of=moment) as engine,
        engine.stream(sql) as result,
    ):
        if fmt == "table" and output is None:
            _print_capped(result, max_rows)
            return
        kind = cast("ExportFormat", "tsv" if fmt == "table" else fmt)
        try:
            rows = export(result, result.schema, kind, output or sys.stdout)
        except BrokenPipeError:
            _stdout_closed()
            return
    if output is not None:
        click.echo(f"{rows} rows written to {output}", err=True)


def _print_capped(result: QueryStream, max_rows: int) -> None:
    """Print at most ``max_rows`` rows; count the others and say how many."""
    from jobforge.query.export import to_polars, unique_names

    shown: list[tuple[object, ...]] = []
    total = 0
    for batch in result:
        total += batch.num_rows
        if len(shown) < max_rows:
            shown += to_polars(batch.slice(0, max_rows - len(shown))).rows()
    try:
        print_table("result", unique_names(result.schema.names), shown)
    except BrokenPipeError:
        _stdout_closed()
        return
    if total > len(shown):
        click.echo(
            f"note: {len(shown)} of {total} rows shown, {total - len(shown)} not shown "
            "(--max-rows N to show more, --format csv or --output FILE for all)",
            err=True,
        )


def _stdout_closed() -> None:
    """The reader of standard output went away (``| head``): stop quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
