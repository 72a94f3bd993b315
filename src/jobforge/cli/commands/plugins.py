"""``jobforge plugins``: every plugin, where it comes from, its hooks and status.

Listing never stops on a broken plugin: it is shown with status ``error`` and
its message, and the command exits 0. Pipeline commands build a strict
manager and stop on the same plugin.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from jobforge.cli.output import console, print_table
from jobforge.errors import ConfigError

if TYPE_CHECKING:
    from jobforge.hooks.host import PluginHost


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--hook",
    default=None,
    metavar="NAME",
    help="Show the implementations of one hook, in the order they are called.",
)
def plugins(as_json: bool, hook: str | None) -> None:
    """List plugins: name, source, distribution, version, status, hooks, error."""
    from jobforge.cli.context import plugin_host_for_listing

    host = plugin_host_for_listing()
    if hook is not None:
        if hook not in host.hook_names() and f"jobforge_{hook}" in host.hook_names():
            hook = f"jobforge_{hook}"
        if hook not in host.hook_names():
            raise ConfigError(
                f"--hook: unknown hook {hook!r}; expected one of {', '.join(host.hook_names())}"
            )
        order = host.call_order(hook)
        if as_json:
            click.echo(json.dumps({"hook": hook, "implementations": order}, indent=2))
            return
        out = console()
        if not order:
            out.print(f"no plugin implements {hook}", markup=False)
        for impl in order:
            origin = str(impl["source"] or "registered")
            if impl["distribution"]:
                origin += f", {impl['distribution']} {impl['version']}"
            flags = "".join(f", {f}" for f in ("tryfirst", "trylast") if impl[f])
            out.print(f"{impl['position']}. {impl['plugin']} ({origin}{flags})", markup=False)
        return
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in host.infos], indent=2))
        return
    print_table(
        "Plugins",
        ["name", "source", "distribution", "version", "status", "hooks", "error"],
        [
            [
                i.name,
                i.source,
                i.distribution or "",
                i.version or "",
                i.status,
                ", ".join(h.removeprefix("jobforge_") for h in i.hooks),
                i.error or "",
            ]
            for i in host.infos
        ],
    )
    click.echo(_executor_line(host))
    for name in host.missing_hooks():
        click.echo(f"warning: no plugin provides {name}; pipeline commands will stop", err=True)


def _executor_line(host: PluginHost) -> str:
    """Which executor runs the steps of this project (``[engine] executor``), and
    the plugin that gives it."""
    from jobforge.cli.context import listing_config
    from jobforge.engine.capabilities import capabilities_of
    from jobforge.errors import JobforgeError

    config = listing_config()
    try:
        executor, plugin = host.executor_with_plugin(config)
    except JobforgeError as exc:
        return f"executor {config.executor!r} (every step): not available: {exc}"
    caps = capabilities_of(executor)
    return (
        f"executor {executor.name!r} runs every step (staged, bronze, silver, gold), "
        f"plugin {plugin}; transforms: {', '.join(sorted(caps.transforms)) or 'none'}; "
        f"files per version: {caps.files_per_version}; SQL: {caps.sql_dialect}; "
        f"streaming: {'yes' if caps.streaming else 'no'}"
    )
