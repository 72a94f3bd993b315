"""Earlier versions of a table: what ``jobforge history`` lists and what
``jobforge query --as-of`` reads.

Only a store that keeps its versions' history answers
(:meth:`~jobforge.storage.store.TableStore.history`: the Delta store keeps
every commit); the parquet store keeps one pointer, so asking it is a
:class:`~jobforge.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from jobforge.errors import ConfigError
from jobforge.storage.store import TableStore
from jobforge.storage.versions import CurrentVersion

AsOf = int | datetime
"""A jobforge version number (each table's own) or an instant (UTC)."""


def table_history(store: TableStore, layer: str, table: str) -> list[CurrentVersion]:
    """Every version of ``table`` in ``layer``, oldest first."""
    history = store.history(layer, table)
    if history is None:
        raise ConfigError(
            f"the {store.name} store keeps only the current version of each table; "
            'history and --as-of need [storage] format = "delta"'
        )
    return history


def version_as_of(store: TableStore, layer: str, table: str, as_of: AsOf) -> CurrentVersion | None:
    """The version of ``table`` that was current at ``as_of``: the last one
    numbered at most ``as_of``, or published at or before it (``None``: none was)."""
    chosen = None
    for version in table_history(store, layer, table):
        if isinstance(as_of, datetime):
            if version.updated_at > as_of:
                break
        elif version.version > as_of:
            break
        chosen = version
    return chosen


def parse_as_of(text: str) -> AsOf:
    """``VERSION`` (a whole number from 1) or an ISO 8601 ``TIMESTAMP`` (UTC if
    it names no zone)."""
    if text.isdigit():
        if int(text) < 1:
            raise ConfigError(f"--as-of {text!r}: versions are numbered from 1")
        return int(text)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--as-of {text!r}: expected a version number or an ISO 8601 timestamp "
            "(2026-12-02T05:00:00Z)"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def published_by(
    store: TableStore, layer: str, table: str, record_ids: Iterable[str]
) -> list[CurrentVersion]:
    """The versions of ``table`` that the records ``record_ids`` published, oldest
    first (a store without history: the current version, if one of them published it)."""
    wanted = set(record_ids)
    history = store.history(layer, table)
    if history is None:
        current = store.current(layer, table)
        history = [current] if current is not None else []
    return [v for v in history if v.record_id in wanted]
