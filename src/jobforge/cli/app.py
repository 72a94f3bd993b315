"""The ``jobforge`` command line (click + rich).

Exit codes: 0 success, 1 a pipeline or data error, 2 a usage or
configuration error. Expected errors print one line (``error: ...``) and no
traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobforge import __version__
from jobforge.cli.state import GlobalOptions


class LazyGroup(click.Group):
    """A group whose commands are imported when they run (or when ``--help``
    lists them), from :data:`jobforge.cli.commands.COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from jobforge.cli.commands import COMMANDS

        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        import importlib

        from jobforge.cli.commands import COMMANDS

        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    name="jobforge",
    help="Auditable medallion data pipelines: staged -> bronze -> silver -> gold.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Data root (default: the project's, $JOBFORGE_DATA_ROOT, or ./data).",
)
@click.option(
    "--project",
    "-p",
    type=click.Path(path_type=Path),
    default=None,
    help="Project file (default: ./jobforge.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Level of the structured log events written to stderr.",
)
@click.option("--log-json/--log-console", default=True, help="Log events as JSON lines.")
@click.version_option(__version__, prog_name="jobforge", message="%(prog)s %(version)s")
@click.pass_context
def cli(
    ctx: click.Context,
    data_root: Path | None,
    project: Path | None,
    debug: bool,
    log_level: str,
    log_json: bool,
) -> None:
    from jobforge.logging import configure_logging

    configure_logging(json=log_json, level="debug" if debug else log_level, stream=sys.stderr)
    ctx.obj = GlobalOptions(data_root=data_root, project=project, debug=debug)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from jobforge.errors import JobforgeError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # a command ends with a code of its own by raising click's Exit, which
        # click returns here (standalone_mode=False)
        code = cli.main(args=args, prog_name="jobforge", standalone_mode=False)
    except JobforgeError as exc:
        if "--debug" in args:
            raise
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return code if isinstance(code, int) else 0


def run() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
