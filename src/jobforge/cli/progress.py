"""Showing a run as it happens: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.live import Live
from rich.table import Table

from jobforge.cli.output import console, print_table
from jobforge.project.runner import RunReport, StepReport

COLUMNS = ["table", "layer", "status", "rows in", "rows out", "quarantined", "deduplicated", "s"]


def _cells(step: StepReport) -> list[str]:
    return [
        step.table,
        step.layer,
        step.status,
        str(step.rows_in),
        str(step.rows_out),
        str(step.rows_quarantined),
        str(step.rows_deduplicated),
        f"{step.seconds:.2f}",
    ]


def _line(step: StepReport) -> str:
    if step.status == "failed":
        return f"{step.table}: failed"
    return (
        f"{step.table} {step.layer}: {step.status}, {step.rows_out} rows"
        f" ({step.rows_quarantined} quarantined, {step.rows_deduplicated} deduplicated)"
    )


@contextmanager
def run_display(quiet: bool) -> Iterator[callable]:
    """Yield a progress callback for :func:`jobforge.project.runner.run_project`."""
    if quiet:
        yield lambda step: None
        return
    if not sys.stdout.isatty():
        yield lambda step: click.echo(_line(step))
        return
    table = Table(title="jobforge run")
    for column in COLUMNS:
        table.add_column(column)
    with Live(table, console=console(), refresh_per_second=8):
        yield lambda step: table.add_row(*_cells(step))


def print_summary(report: RunReport) -> None:
    if sys.stdout.isatty():
        return  # the live table already is the summary
    print_table("summary", COLUMNS, [_cells(s) for s in report.steps])
