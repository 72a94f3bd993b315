"""``jobforge verify``: re-hash every current file and walk every record chain."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobforge.cli import context


@click.command("verify")
@click.argument("tables", nargs=-1)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="ed25519 public key (PEM) to check signatures with (default: [audit] public_key).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify(tables: tuple[str, ...], public_key: Path | None, as_json: bool) -> None:
    """Check that every current file has the sha256 its record published, and that
    every table's lineage records form an unbroken chain (signed, with a public
    key). Exit 0 when all holds, 1 otherwise."""
    from jobforge.audit.verify import verify as run_verify
    from jobforge.project.runner import audit_key_path

    project = context.optional_project()
    config = context.pipeline_config(project)
    if public_key is None and project is not None:
        public_key = audit_key_path(project, project.spec.audit.public_key)
    report = run_verify(config, list(tables) or None, public_key)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for finding in report.findings:
            click.echo(finding.line())
        signatures = (
            f", {report.signatures_checked} signatures"
            if public_key is not None
            else " (signatures not checked: no public key)"
        )
        verdict = "all holds" if report.holds else f"{len(report.findings)} problem(s)"
        click.echo(
            f"verified {len(report.tables)} tables: {report.files_checked} files, "
            f"{report.bytes_checked} bytes, {report.records_checked} records{signatures}: "
            f"{verdict}"
        )
    if not report.holds:
        raise click.exceptions.Exit(1)
