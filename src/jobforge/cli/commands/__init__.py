"""One module per command group; the command line loads a module only when its
command runs (or when ``--help`` lists the commands), so that ``jobforge
--version`` imports none of them. Each module imports only click at its top:
what a command needs is imported inside it."""

from __future__ import annotations

COMMANDS: dict[str, str] = {
    "init": "jobforge.cli.commands.project:init",
    "demo": "jobforge.cli.commands.project:demo",
    "run": "jobforge.cli.commands.run:run",
    "ingest": "jobforge.cli.commands.run:ingest",
    "promote": "jobforge.cli.commands.run:promote",
    "status": "jobforge.cli.commands.status:status",
    "history": "jobforge.cli.commands.history:history",
    "maintain": "jobforge.cli.commands.maintain:maintain",
    "query": "jobforge.cli.commands.query:query",
    "catalog": "jobforge.cli.commands.catalog:catalog",
    "lineage": "jobforge.cli.commands.lineage:lineage",
    "quarantine": "jobforge.cli.commands.quarantine:quarantine",
    "verify": "jobforge.cli.commands.verify:verify",
    "evidence": "jobforge.cli.commands.evidence:evidence",
    "docs": "jobforge.cli.commands.docs:docs",
    "plugins": "jobforge.cli.commands.plugins:plugins",
}
"""Command name -> ``module:attribute`` of its click command, in the order of ``--help``."""
