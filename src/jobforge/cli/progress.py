"""Showing a run as it happens: a live table on a terminal, plain lines otherwise.

rich is imported only for the live table (a terminal): a run whose output is
piped, ``--quiet`` or ``--json`` does not pay for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from jobforge import hookimpl
from jobforge.cli.output import console, print_table
from jobforge.project.runner import RunReport, StepReport

if TYPE_CHECKING:
    from jobforge.engine.events import TransitionEvent

COLUMNS = [
    "table",
    "layer",
    "status",
    "rows in",
    "rows out",
    "quarantined",
    "deduplicated",
    "s",
    "why",
]


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
        step.error or (step.reason if step.reason != step.status else ""),
    ]


def _line(step: StepReport) -> str:
    if step.status == "failed":
        return f"{step.table}: failed: {step.error}"
    if step.status == "skipped":
        return f"{step.table}: skipped, {step.reason}"
    return (
        f"{step.table} {step.layer}: {step.status}, {step.rows_out} rows"
        f" ({step.rows_quarantined} quarantined, {step.rows_deduplicated} deduplicated)"
        + (f"; {step.reason}" if step.reason and step.reason != step.status else "")
    )


def summary_line(report: RunReport) -> str:
    """``ran 6, up to date 3, failed 1, skipped 2`` (statuses with no step left out)."""
    counts = report.counts()
    ran = counts.pop("success") + counts.pop("partial")
    parts = [f"ran {ran}"] + [f"{status} {n}" for status, n in counts.items() if n]
    return ", ".join(parts)


class RunDisplay:
    """The progress of a run on a terminal: a live table of finished steps and a
    spinner naming the step in progress.

    It is also a plugin (registered explicitly for the run): its
    ``jobforge_before_transition`` hook learns when a step starts, as any
    observer plugin would.
    """

    jobforge_plugin_name = "cli-progress"

    def __init__(self) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.spinner import Spinner
        from rich.table import Table

        self.table = Table(title="jobforge run")
        for column in COLUMNS:
            self.table.add_column(column)
        self.spinner = Spinner("dots", text="starting")
        self.live = Live(
            Group(self.table, self.spinner),
            console=console(),
            refresh_per_second=8,
            transient=False,
        )

    @hookimpl
    def jobforge_before_transition(self, event: TransitionEvent) -> None:
        source = "file" if event.source_layer == "source" else event.source_layer
        self.spinner.update(text=f"{event.table}: {source} -> {event.target_layer} ...")
        self.live.refresh()

    def __call__(self, step: StepReport) -> None:
        from rich.text import Text

        self.table.add_row(*_cells(step))
        self.spinner.update(text=Text("waiting for the next step"))
        self.live.refresh()


@contextmanager
def run_display(quiet: bool) -> Iterator[tuple[Callable[[StepReport], None], list[object]]]:
    """Yield a progress callback for :func:`jobforge.project.runner.run_project` and
    the plugins to register for the run (the live display on a terminal)."""
    if quiet:
        yield (lambda step: None), []
        return
    if not sys.stdout.isatty():
        yield (lambda step: click.echo(_line(step))), []
        return
    display = RunDisplay()
    with display.live:
        try:
            yield display, [display]
        finally:
            display.live.update(display.table, refresh=True)


def print_summary(report: RunReport) -> None:
    if not sys.stdout.isatty():  # on a terminal the live table already is the summary
        print_table("summary", COLUMNS, [_cells(s) for s in report.steps])
    click.echo(summary_line(report))
    for step in report.failed:
        click.echo(f"error: {step.error}", err=True)
