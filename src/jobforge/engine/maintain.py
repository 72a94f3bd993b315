"""``jobforge maintain``: compact the small files of current versions
(:mod:`jobforge.engine.compaction`), then remove the files of old versions
that nothing needs.

Which versions of a table stay readable (each with the reasons, as
``jobforge maintain --json`` lists them), for a table in a layer:

- its **current** version;
- every version the **current lineage** points at: the records that published
  the current version of any table of the data root, and every batch in it,
  name the batches they read (``inputs``); the version of this table they read
  (the one holding exactly those batches, else the newest holding them all)
  stays, so every current row can still be followed back through the files
  it was made from;
- with ``retention_days`` in the table's catalog entry: every version that
  was current at some instant of the last ``retention_days`` days (those
  published in that window, and the one current when it began), so that
  ``--as-of`` any instant of the window reads what it read before;
- without ``retention_days``: every version (nothing is removed).

Every other version may go: its files are removed unless a kept version lists
them too. ``jobforge history`` marks such a version as no longer readable and
``--as-of`` it is a one-line error. The store removes the files
(:class:`~jobforge.storage.maintenance.MaintainedStore`, Delta's vacuum), under
the table's lock, after an interrupted publication of the table is finished or
undone.

A compaction publishes a version with the same rows in fewer files, and a
record naming which files replaced which with their digests, so the query
views, ``verify`` (it checks the files of current versions against the
records that published them) and row lineage (the rows keep their provenance
columns) read what they read before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jobforge.catalog.manager import CatalogManager
from jobforge.engine.compaction import compact
from jobforge.engine.tables import TableLocks
from jobforge.errors import ConfigError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import TransitionRecord, utc_now
from jobforge.storage.history import table_history
from jobforge.storage.locks import DEFAULT_TIMEOUT_S
from jobforge.storage.maintenance import DEFAULT_COMPACT_TARGET_BYTES, READABLE, maintained
from jobforge.storage.names import validate_name
from jobforge.storage.versions import CurrentVersion

log = get_logger()

MAINTAIN_KEY = "jobforge.maintain"
"""Metadata the store keeps with its record of a removal (JSON: the kept versions)."""

BatchRef = tuple[str, str | None]
"""A batch read: its id and the record that published it."""


@dataclass
class LayerMaintenance:
    """What maintenance kept and removed of one table in one layer."""

    layer: str
    table: str
    retention_days: int | None
    dry_run: bool
    kept: dict[int, list[str]] = field(default_factory=dict)
    """Version -> why it stays readable."""
    compacted: list[dict[str, Any]] = field(default_factory=list)
    """The files compaction wrote (``dry_run``: would write), each with the
    files it replaced (:class:`~jobforge.engine.compaction.Compaction`)."""
    compaction: str | None = None
    """Why the layer was not compacted (``None``: it was, or had nothing to)."""
    removed_versions: list[int] = field(default_factory=list)
    """Versions readable before that are not any more (``dry_run``: would not be)."""
    files: list[str] = field(default_factory=list)
    """The files removed (``dry_run``: that would be)."""
    bytes_removed: int = 0
    version_files: tuple[int, int] | None = None
    """The files the current version listed before the compaction and after it
    (``dry_run``: would list; ``None``: not compacted)."""
    target_bytes: int = DEFAULT_COMPACT_TARGET_BYTES
    """The target size of a compacted file the compaction used."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept"] = {str(k): v for k, v in self.kept.items()}
        return data


def maintain(
    config: PipelineConfig,
    table: str,
    layers: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    lock_timeout: float = DEFAULT_TIMEOUT_S,
    target_bytes: int = DEFAULT_COMPACT_TARGET_BYTES,
) -> list[LayerMaintenance]:
    """Compact, then vacuum, ``table`` in ``layers`` (default: every layer it has
    a version in). A dry run lists both for the table as it is: the files a
    compaction would replace are removed by the vacuum after it when no kept
    version lists them. Compaction merges files below ``target_bytes``, each run
    closed once it reaches it."""
    table = validate_name(table)
    store = maintained(config.store)
    chosen = list(layers) if layers else [layer.value for layer in Layer]
    present = [layer for layer in chosen if config.store.current(layer, table) is not None]
    if not present:
        where = f"layer {chosen[0]}" if layers and len(chosen) == 1 else "any layer"
        raise ConfigError(f"maintain: table {table!r} has no version in {where}")
    results = []
    with TableLocks(config, lock_timeout).hold(table):
        compactions = {
            layer: compact(
                config,
                store,
                layer,
                table,
                dry_run=dry_run,
                lock_timeout=lock_timeout,
                target_bytes=target_bytes,
            )
            for layer in present
        }
        when = now or utc_now()  # after the compaction: its version is not in the future
        pointed = _pointed_at(config)
        catalog = CatalogManager(config)
        for layer in present:
            entry = catalog.load(layer, table)
            days = entry.retention_days if entry is not None else None
            history = table_history(config.store, layer, table)
            planned = compactions[layer].planned
            # a dry run plans the vacuum after the compaction it would make
            after = [*history, planned] if planned is not None else history
            kept = versions_to_keep(after, days, pointed.get(f"{layer}.{table}", []), when)
            result = LayerMaintenance(layer, table, days, dry_run, kept)
            result.target_bytes = target_bytes
            result.compacted = compactions[layer].files
            result.compaction = compactions[layer].skipped
            result.version_files = compactions[layer].version_files
            keep = [v for v in history if v.version in kept]
            metadata = {MAINTAIN_KEY: json.dumps({"kept": sorted(kept), "retention_days": days})}
            files = store.vacuum(layer, table, keep, dry_run=True, metadata=metadata)
            if planned is not None:
                files = sorted({*files, *_freed(store.table_dir(layer, table), keep, result)})
            result.files = [str(f) for f in files]
            result.bytes_removed = store.bytes_of(layer, table, files)
            gone = {f.name for f in files}
            result.removed_versions = [
                v.version
                for v in history
                if v.version not in kept
                and v.extra.get(READABLE, True)
                and any(f in gone for b in v.batches for f in b.data_files())
            ]
            if not dry_run and files:
                store.vacuum(layer, table, keep, dry_run=False, metadata=metadata)
                log.info(
                    "maintain.vacuumed",
                    table=f"{layer}.{table}",
                    files=len(files),
                    versions=result.removed_versions,
                )
            results.append(result)
    return results


def _freed(folder: Path, keep: Sequence[CurrentVersion], result: LayerMaintenance) -> list[Path]:
    """The files a planned compaction (``result.compacted``) would merge that no
    kept version lists: the vacuum after it removes them."""
    listed = {folder / f for v in keep for b in v.batches for f in b.data_files()}
    merged = {Path(f) for c in result.compacted for f in c["replaced"]}
    return sorted(merged - listed)


def versions_to_keep(
    history: Sequence[CurrentVersion],
    retention_days: int | None,
    pointed: Sequence[frozenset[BatchRef]],
    now: datetime,
) -> dict[int, list[str]]:
    """The versions of ``history`` (oldest first) that stay readable, each with
    why (the module docstring gives the rule)."""
    kept: dict[int, list[str]] = {}

    def keep(version: CurrentVersion, why: str) -> None:
        if why not in kept.setdefault(version.version, []):
            kept[version.version].append(why)

    if not history:
        return kept
    keep(history[-1], "current")
    for read in pointed:
        found = version_read(history, read)
        if found is not None:
            keep(found, "read by the current lineage")
    if retention_days is None:
        for version in history:
            keep(version, "no retention_days: every version is kept")
        return dict(sorted(kept.items()))
    start = now - timedelta(days=retention_days)
    before = [v for v in history if v.updated_at < start]
    if before:
        keep(before[-1], f"current {retention_days} days ago")
    for version in history:
        if version.updated_at >= start:
            keep(version, f"published in the last {retention_days} days")
    return dict(sorted(kept.items()))


def version_read(
    history: Sequence[CurrentVersion], read: frozenset[BatchRef]
) -> CurrentVersion | None:
    """The version a record read when it read the batches ``read``: the newest
    holding exactly them, else the newest holding them all (``None``: none)."""
    holding = [v for v in history if read <= _refs(v, read)]
    exact = [v for v in holding if _refs(v, read) == read]
    found = exact or holding
    return found[-1] if found else None


def _refs(version: CurrentVersion, read: frozenset[BatchRef]) -> frozenset[BatchRef]:
    """The batches of ``version`` as ``read`` names them (a read naming no record
    matches on the batch id alone)."""
    loose = {batch for batch, record in read if record is None}
    return frozenset(
        (b.batch_id, None if b.batch_id in loose else b.record_id) for b in version.batches
    )


def _pointed_at(config: PipelineConfig) -> dict[str, list[frozenset[BatchRef]]]:
    """``layer.table`` -> the sets of its batches read by the records of the
    current lineage: the records that published the current version of every
    table (and each batch in it), then, in turn, those of every version they
    read, down to the staged batches."""
    store = config.store
    records = {
        r.transition_id: r
        for r in CatalogManager(config).lineage_records()
        if isinstance(r, TransitionRecord)
    }
    histories: dict[str, list[CurrentVersion]] = {}
    pointed: dict[str, list[frozenset[BatchRef]]] = {}
    frontier: list[CurrentVersion] = []
    for layer in Layer:
        for name in store.tables(layer.value):
            current = store.current(layer.value, name)
            if current is not None:
                frontier.append(current)
    seen: set[tuple[str, str, int]] = set()
    while frontier:
        version = frontier.pop()
        if (version.layer, version.table, version.version) in seen:
            continue
        seen.add((version.layer, version.table, version.version))
        ids = {version.record_id, *(b.record_id for b in version.batches)}
        for record in (records[i] for i in sorted(i for i in ids if i in records)):
            by_table: dict[str, set[BatchRef]] = {}
            for ref in record.inputs:
                by_table.setdefault(ref.table, set()).add((ref.batch_id, ref.record_id))
            for key, refs in sorted(by_table.items()):
                read = frozenset(refs)
                pointed.setdefault(key, []).append(read)
                if key not in histories:
                    layer_name, _, table = key.partition(".")
                    histories[key] = store.history(layer_name, table) or []
                found = version_read(histories[key], read)
                if found is not None:
                    frontier.append(found)
    return pointed
