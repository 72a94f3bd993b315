"""The lineage records of an evidence pack: the whole chain of every table on
the way, as the catalog store keeps their bytes (never re-serialised: the
pack's ``reproduce.py`` recomputes each record's sha256 from exactly what was
stored), and each table's chain head.

A pack holds whole chains, not only the records that made the selected rows,
so that every ``previous_record_sha256`` link from position 1 to the head can
be checked without the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig


@dataclass
class ChainMembers:
    """The pack members of the chains, and how ``evidence.json`` lists them."""

    members: dict[str, bytes] = field(default_factory=dict)
    """Member path -> bytes: ``lineage/<table>/<record id>.json``, ``chain/<table>.json``."""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Table -> ``records`` (member paths, in chain order) and ``head`` (a path or ``None``)."""
    paths: dict[tuple[str, str], str] = field(default_factory=dict)
    """(table, record id) -> member path."""

    def path_of(self, table: str, record_id: str) -> str:
        """The member holding record ``record_id`` of ``table``."""
        try:
            return self.paths[(table, record_id)]
        except KeyError:
            raise CatalogError(
                f"evidence: record {record_id} of {table} is not among the records the "
                "catalog store holds for it; run jobforge verify"
            ) from None


def chain_members(config: PipelineConfig, tables: Iterable[str]) -> ChainMembers:
    """Every stored record and the chain head of each of ``tables``."""
    found = ChainMembers()
    for table in sorted(set(tables)):
        listed: list[tuple[int, str, str, bytes]] = []
        for name, data in config.catalog.record_bytes(table):
            parsed = _parsed(data)
            record_id = parsed.get("transition_id") or parsed.get("ingestion_id")
            if not isinstance(record_id, str) or not record_id:
                raise CatalogError(
                    f"evidence: lineage record {name} is not a record jobforge can read; "
                    "run jobforge verify"
                )
            position = parsed.get("chain_position")
            order = position if isinstance(position, int) else 0
            listed.append((order, str(parsed.get("started_at", "")), record_id, data))
        paths = []
        for _, _, record_id, data in sorted(listed):
            path = f"lineage/{table}/{record_id}.json"
            found.members[path] = data
            found.paths[(table, record_id)] = path
            paths.append(path)
        head = config.catalog.chain_head(table)
        head_path = None
        if head is not None:
            head_path = f"chain/{table}.json"
            found.members[head_path] = head.encode()
        found.tables[table] = {"records": paths, "head": head_path}
    return found


def _parsed(data: bytes) -> dict[str, Any]:
    """The stored record as a JSON object (``{}``: it is not one)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
