"""docs/cli.md follows the commands: every command of the click tree, and every
option of it, is in the reference.

A command ``jobforge catalog show`` must appear as ``jobforge catalog show`` on a
line of docs/cli.md, and each of its options (every spelling but the help
option, which every command has) on a line that names the command. The root's
options are documented on the usage line that opens the page.
"""

from __future__ import annotations

import re

import click

from jobforge.cli.app import cli

from .conftest import REPO

HELP = {"-h", "--help"}


def _commands(
    group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command below ``group`` (groups included) with its path of names."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, ctx, (*path, name))
    return found


def _option_names(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names - HELP


def _documented_with(lines: list[str], phrase: str) -> list[str]:
    """The lines of the reference that name ``phrase`` as a whole command."""
    return [
        line
        for line in lines
        if any(
            line[i + len(phrase) : i + len(phrase) + 1] in ("", " ", "`")
            for i in range(len(line))
            if line.startswith(phrase, i)
        )
    ]


def _names(line: str, option: str) -> bool:
    """``option`` is on ``line`` as a whole word (``-p`` is not in ``--project``)."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", line) is not None


def _missing() -> list[str]:
    lines = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").splitlines()
    missing: list[str] = []
    ctx = click.Context(cli)
    usage = [line for line in lines if line.startswith("jobforge [")]
    for option in sorted(_option_names(cli)):
        if not any(_names(line, option) for line in usage):
            missing.append(f"jobforge {option}")
    for path, command in _commands(cli, ctx):
        phrase = " ".join(("jobforge", *path))
        rows = _documented_with(lines, phrase)
        if not rows:
            missing.append(phrase)
            continue
        for option in sorted(_option_names(command)):
            if not any(_names(row, option) for row in rows):
                missing.append(f"{phrase} {option}")
    return missing


def test_the_walk_sees_nested_commands_and_their_options() -> None:
    ctx = click.Context(cli)
    commands = dict(_commands(cli, ctx))
    assert ("catalog", "show") in commands
    assert {"--layer", "--where", "--limit", "--column", "--batch"} <= _option_names(
        commands[("lineage",)]
    )
    assert "--log-console" in _option_names(cli)


def test_a_phrase_names_a_whole_command() -> None:
    lines = ["`jobforge catalog list [--json]`", "`jobforge docs build`"]
    assert _documented_with(lines, "jobforge catalog") == [lines[0]]
    assert _documented_with(lines, "jobforge doc") == []


def test_an_option_is_a_whole_word() -> None:
    assert _names("[--project FILE] [-p]", "-p")
    assert not _names("[--project FILE]", "-p")
    assert not _names("[--layer-name X]", "--layer")


def test_every_command_and_option_is_in_docs_cli_md() -> None:
    assert _missing() == []
