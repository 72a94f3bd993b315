"""``jobforge docs build|serve``: the catalog site."""

from __future__ import annotations

import json
from pathlib import Path

import click

# Nothing heavy at import time: the command's modules are imported when it runs.

OUTPUT_HELP = "Site folder (default: site/ beside jobforge.toml, else ./site)."


@click.group("docs")
def docs() -> None:
    """A static website of the catalog: tables, columns, runs, lineage, glossary."""


def _output(output: Path | None) -> tuple[Path, str]:
    from jobforge.cli import context

    project = context.optional_project()
    name = project.spec.project.name if project is not None else ""
    if output is not None:
        return output, name
    return (project.root / "site" if project is not None else Path("site")), name


def _build(output: Path, name: str, as_json: bool) -> None:
    from jobforge.cli import context
    from jobforge.site.build import build_site

    config = context.pipeline_config(context.optional_project())
    built = build_site(config, output, project_name=name)
    seconds = built.model_seconds + built.write_seconds
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(built.path),
                    "tables": built.tables,
                    "source_files": built.source_files,
                    "bytes": built.bytes,
                    "seconds": round(seconds, 3),
                }
            )
        )
        return
    click.echo(
        f"wrote {built.path} ({built.tables} tables, {built.source_files} source files, "
        f"{built.bytes / 1024:.0f} KiB) in {seconds:.2f} s; open {built.path / 'index.html'}"
    )


@docs.command("build")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help=OUTPUT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def build(output: Path | None, as_json: bool) -> None:
    """Write the catalog site into a folder that opens from disk (no server, no network)."""
    target, name = _output(output)
    _build(target, name, as_json)


@docs.command("serve")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help=OUTPUT_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--no-build", is_flag=True, help="Serve the site as it is, without building it.")
def serve(output: Path | None, host: str, port: int, no_build: bool) -> None:
    """Build the site (unless --no-build) and serve it over HTTP until interrupted."""
    from jobforge.site.serve import make_server, url_of

    target, name = _output(output)
    if not no_build:
        _build(target, name, as_json=False)
    server = make_server(target, host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: others on the network can read the catalog")
    click.echo(f"serving {target} at {url_of(server)} (Ctrl+C to stop)", nl=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
