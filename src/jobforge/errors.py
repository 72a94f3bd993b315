"""The exceptions jobforge raises for expected problems.

Every one carries a one-line message that names the file, field or key and what
was expected; the CLI prints that line and exits with :attr:`exit_code`
without a traceback.
"""

from __future__ import annotations


class JobforgeError(Exception):
    """Base class of expected jobforge errors."""

    exit_code = 1


class ConfigError(JobforgeError):
    """A usage or configuration mistake (exit code 2)."""

    exit_code = 2


class DataRootError(ConfigError):
    """A data root (or layout folder) jobforge must not write: the filesystem
    root, a system folder, a file, a project or source folder."""


class SqlError(ConfigError):
    """SQL that does not parse, is not a query, or names a table or column that is
    not there (the message names it and lists the known ones)."""


class GovernanceError(ConfigError):
    """A declared label (a table's classification, a column's PII class) lower than
    its inputs give, without a recorded ``declassify`` decision, or a decision
    that cannot be applied as declared."""


class InvalidNameError(ConfigError, ValueError):
    """A table name, domain or id that is not safe to use in a path."""


class PathEscapeError(JobforgeError):
    """A path that would lead outside the data root."""


class SourceError(JobforgeError):
    """A source file that cannot be read as the format it claims."""


class UnsupportedFormatError(SourceError):
    """No reader claims the file."""


class ContractError(JobforgeError):
    """A layer contract was broken (schema drift, missing column, unbalanced ledger)."""


class TransitionError(JobforgeError):
    """A transition failed; its failed lineage record was written."""


class PluginError(JobforgeError):
    """A plugin failed to import or raised inside a hook.

    ``plugin``: the name of the plugin whose hook raised, when the plugin host
    knows it (``None`` otherwise).
    """

    def __init__(self, message: str = "", *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class NoPluginError(PluginError):
    """No plugin answers a hook that must be answered."""


class CatalogError(JobforgeError):
    """A catalog file that does not validate, or a reference that does not exist."""


class LockTimeoutError(JobforgeError):
    """Another run holds the lock of a table."""


class QueryError(JobforgeError):
    """A SQL query that DuckDB refused or the read-only guard blocked."""
