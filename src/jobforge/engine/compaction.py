"""Compaction, the first half of ``jobforge maintain``: the small files of a
table's current version merged into fewer files, every row unchanged.

Which tables: the **staged** layer's, whose appends leave one file per
ingestion and whose batches are never published again (an ingestion is a new
batch). Bronze, silver and gold tables in ``replace`` mode have one file per
version; in ``append`` mode a batch is published again when its step changes,
and a compacted file would then have to be rewritten without it in the same
commit: not built yet, so they are not compacted (the report says why).

How (the store does the files, :class:`~jobforge.storage.maintenance.MaintainedStore`):

1. the store names the runs of batches one file can hold (same schema);
2. the files are written under fresh names, listed by no version, after the
   table's journal names them (a process killed here leaves files the next
   run on the table removes);
3. a lineage record is made for the compaction: a transition from the layer to
   itself (``transforms_applied = ["compact"]``) that read each batch's file
   (``inputs``: batch, file, the record that published it), wrote the compacted
   files (``files``: their sha256 and size, what ``verify`` checks), with a
   balanced ledger (rows in = rows out);
4. one commit switches the version: the next version, the same batches, each
   merged batch naming its compacted file, the version naming the record;
5. the record is chained into the table's chain like every other record, and
   the catalog entry's file size is brought up to date.

Between 4 and 5 the journal holds the record and the entry, so a run killed
there is completed by the next run on the table, as for a promotion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobforge.audit.chain import write_record
from jobforge.audit.digest import recorded_path, sha256_file
from jobforge.catalog.entries import write_entry_locked
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.recovery import INTERRUPTED
from jobforge.errors import JobforgeError, TransitionError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import (
    COMPACTION,
    FileDigest,
    InputRef,
    RowLedger,
    TransitionRecord,
    new_id,
    utc_now,
)
from jobforge.storage.journal import (
    Journal,
    append_journal,
    clear_journal,
    read_journal,
    write_journal,
)
from jobforge.storage.maintenance import (
    COMPACTED_PREFIX,
    DEFAULT_COMPACT_TARGET_BYTES,
    CompactedFile,
    MaintainedStore,
    compacted_name,
)
from jobforge.storage.versions import BatchEntry, CurrentVersion

log = get_logger()


class CompactionError(TransitionError):
    """A compaction that failed (its record says so) or failed after its commit."""


COMPACTED_LAYERS = (Layer.STAGED.value,)
"""The layers whose tables ``maintain`` compacts (the module docstring says why)."""


@dataclass
class Compaction:
    """What a compaction merged (``dry_run``: would merge) in one layer."""

    files: list[dict[str, Any]] = field(default_factory=list)
    """Each file written: ``into`` (its path), ``replaced`` (the files it holds,
    each once, in order: a batch's own file or an earlier compacted file),
    ``batches``, ``rows``, ``bytes`` (of the files replaced), ``sha256`` (``None``
    in a dry run)."""
    skipped: str | None = None
    """Why nothing was compacted, when nothing was."""
    version: int | None = None
    """The version the compaction published (``None``: none)."""
    version_files: tuple[int, int] | None = None
    """The files the current version lists before and after it (``None``: not compacted)."""
    planned: CurrentVersion | None = None
    """``dry_run``: the version it would publish (its compacted files not named yet),
    for the vacuum after it to be planned from."""


def _planned(
    store: MaintainedStore,
    layer: str,
    table: str,
    current: CurrentVersion,
    groups: list[list[BatchEntry]],
) -> Compaction:
    """What compacting ``groups`` of ``current`` would do: the files merged and
    their bytes, and the version it would publish."""
    folder = store.table_dir(layer, table)
    into = {b.batch_id: f"{COMPACTED_PREFIX}(planned {n})" for n, g in enumerate(groups) for b in g}
    planned = current.model_copy(
        update={
            "version": current.version + 1,
            "updated_at": utc_now(),
            "batches": [
                b.model_copy(update={"file": into[b.batch_id], "parts": []})
                if b.batch_id in into
                else b
                for b in current.batches
            ],
            "record_id": None,
            "extra": {},
        }
    )
    files = [
        {
            "into": None,
            "replaced": [str(p) for p in _once(folder / f for b in group for f in b.data_files())],
            "batches": len(group),
            "rows": sum(b.rows for b in group),
            "bytes": store.bytes_of(
                layer, table, _once(folder / f for b in group for f in b.data_files())
            ),
            "sha256": None,
        }
        for group in groups
    ]
    return Compaction(
        files=files,
        version_files=(len(current.files(folder)), len(planned.files(folder))),
        planned=planned,
    )


def compact(
    config: PipelineConfig,
    store: MaintainedStore,
    layer: str,
    table: str,
    *,
    dry_run: bool,
    lock_timeout: float,
    target_bytes: int = DEFAULT_COMPACT_TARGET_BYTES,
) -> Compaction:
    """Compact ``layer.table`` (held under its lock by the caller): files below
    ``target_bytes`` merged, each run closed once it reaches it."""
    if layer not in COMPACTED_LAYERS:
        return Compaction(
            skipped=f"{layer}.{table}: not compacted: only {', '.join(COMPACTED_LAYERS)} tables "
            f"are (a {layer} batch can be published again, and its compacted file would "
            "have to be rewritten in that commit: not built)"
        )
    current = config.store.current(layer, table)
    assert current is not None
    entry = CatalogManager(config).load(layer, table)
    if entry is None:
        return Compaction(skipped=f"{layer}.{table}: not compacted: no catalog entry")
    try:
        groups = store.compaction_groups(layer, table, current, target_bytes)
    except (OSError, ValueError) as exc:  # a file of the version gone or unreadable
        if dry_run:
            raise CompactionError(f"{layer}.{table}: cannot compact: {_reason(exc)}") from exc
        groups = None
        group_error: BaseException | None = exc
    else:
        group_error = None
    if groups == []:
        return Compaction(
            skipped=f"{layer}.{table}: nothing to compact: no two small files in a row"
        )
    folder = store.table_dir(layer, table)
    if dry_run:
        assert groups is not None
        return _planned(store, layer, table, current, groups)
    started = utc_now()
    transition_id = new_id()
    names = [compacted_name() for _ in groups or []]
    root = config.data_root
    base = _base(layer, table, entry.domain, transition_id, current.batches[-1].batch_id, started)
    rows_in = (
        sum(b.rows for b in current.batches)
        if groups is None
        else sum(b.rows for g in groups for b in g)
    )
    failed = _failed(base, rows_in, [INTERRUPTED])
    journal = Journal(
        table=table,
        layer=layer,
        record_id=transition_id,
        phase="publishing",
        failed=failed.model_dump(mode="json"),
        files=[str((folder / name).absolute()) for name in names],
    )
    locks = config.locks_path()
    write_journal(locks, journal)
    written: list[CompactedFile] = []
    try:
        if group_error is not None:
            raise group_error
        assert groups is not None
        written = store.write_compacted(layer, table, groups, names)
        record = _record(base, written, root)
        size = sum(d.size_bytes for d in record.files)
        kept = {f for b in current.batches for f in b.data_files()} - {
            p.name for c in written for p in c.replaced
        }
        size += sum((folder / name).stat().st_size for name in kept)
        updated = entry.model_copy(update={"file_size_bytes": size, "updated_at": started})
        append_journal(
            locks,
            table,
            {
                "phase": "switching",
                "record": record.model_dump(mode="json"),
                "metadata": updated.model_dump(mode="json"),
            },
        )
        version = store.publish_compaction(
            layer,
            table,
            current,
            written,
            record_id=transition_id,
            updated_at=started,
            metadata={},
        )
    except Exception as exc:
        raise _failure(config, layer, table, current.version, base, rows_in, written, exc) from exc
    except BaseException:
        # interrupted (not an error of the compaction): undone now, as a kill
        # would be by the next run (discard never removes a listed file)
        config.store.discard(layer, table, [str(c.path) for c in written])
        clear_journal(locks, table)
        raise
    try:
        write_record(config, record)
        write_entry_locked(config, updated, lock_timeout)
    except Exception as exc:  # committed: the journal keeps the record for the next run
        raise CompactionError(
            f"maintain: compaction of {layer}.{table} committed version {version.version} "
            f"but then failed: {_reason(exc)}; the next maintain or run on {table!r} "
            "writes its record"
        ) from exc
    clear_journal(locks, table)
    log.info(
        "maintain.compacted",
        table=f"{layer}.{table}",
        files=sum(len(_once(c.replaced)) for c in written),
        into=len(written),
        version=version.version,
    )
    digests = {d.path: d.sha256 for d in record.files}
    published = store.table_dir(layer, table)
    return Compaction(
        version_files=(len(current.files(published)), len(version.files(published))),
        files=[
            {
                "into": str(c.path),
                "replaced": [str(p) for p in _once(c.replaced)],
                "batches": len(c.batches),
                "rows": c.rows,
                "bytes": sum(p.stat().st_size for p in _once(c.replaced) if p.is_file()),
                "sha256": digests[recorded_path(root, c.path)],
            }
            for c in written
        ],
        version=version.version,
    )


def _once(paths: Iterable[Path]) -> list[Path]:
    """``paths`` each once, in order (the batches of a compacted file name it each)."""
    return list(dict.fromkeys(paths))


def _base(
    layer: str, table: str, domain: str, transition_id: str, batch_id: str, started: Any
) -> dict[str, Any]:
    return {
        "transition_id": transition_id,
        "batch_id": batch_id,
        "source_layer": layer,
        "target_layer": layer,
        "table_name": table,
        "domain": domain,
        "input_tables": [f"{layer}.{table}"],
        "started_at": started,
    }


def _failure(
    config: PipelineConfig,
    layer: str,
    table: str,
    before: int,
    base: dict[str, Any],
    rows_in: int,
    written: list[CompactedFile],
    exc: Exception,
) -> CompactionError:
    """Leave the truthful record of a compaction that raised ``exc``, and
    return the one-line error to raise.

    Not committed: the files it wrote are removed, a ``failed`` record with the
    error is chained (through the journal, as a failed transition's: if it
    cannot be written now, the next run on the table writes it) and the version
    stays ``before``. Committed (the error came after the Delta commit): the
    journal is kept, holding the success record and the entry, and the next
    run on the table writes them, as after a kill at that point."""
    where = f"{layer}.{table}"
    reason = _reason(exc)
    store = config.store
    locks = config.locks_path()
    if store.is_published(layer, table, base["transition_id"]):
        now = store.current(layer, table)
        version = "" if now is None else f" version {now.version}"
        return CompactionError(
            f"maintain: compaction of {where} committed{version} but then failed: {reason}; "
            f"the next maintain or run on {table!r} writes its record"
        )
    store.discard(layer, table, [str(c.path) for c in written])
    failed = _failed(base, rows_in, [reason])
    if read_journal(locks, table) is not None:
        append_journal(locks, table, {"failed": failed.model_dump(mode="json")})
    note = ""
    try:
        write_record(config, failed)
    except Exception as write_exc:
        note = f"; the failed record was not written ({_reason(write_exc)}), the next run writes it"
    else:
        clear_journal(locks, table)
    log.info("maintain.compaction_failed", table=where, error_type=type(exc).__name__)
    return CompactionError(
        f"maintain: compaction of {where} failed: {reason}; "
        f"nothing was committed (version {before} unchanged){note}"
    )


def _reason(exc: BaseException) -> str:
    """``exc`` on one line (its type when it says nothing)."""
    if isinstance(exc, JobforgeError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _failed(base: dict[str, Any], rows: int, errors: list[str]) -> TransitionRecord:
    """The ``failed`` record of a compaction: ``errors`` say why (a kill before
    its commit: :data:`~jobforge.engine.recovery.INTERRUPTED`, written by the
    next run)."""
    return TransitionRecord(
        **base,
        source_files=[],
        target_file="",
        row_count_in=rows,
        row_count_out=0,
        transforms_applied=[COMPACTION],
        completed_at=base["started_at"],
        status="failed",
        errors=errors,
        ledger=RowLedger(rows_in=rows, rows_out=0),
    )


def _record(base: dict[str, Any], written: list[CompactedFile], root: Path) -> TransitionRecord:
    """The record of the compaction: which files replaced which, with the
    digests of the new ones (read back once, as ``verify`` will)."""
    rows = sum(c.rows for c in written)
    digests = []
    for compacted in written:
        sha256, size = sha256_file(compacted.path)
        digests.append(
            FileDigest(
                role="data",
                path=recorded_path(root, compacted.path),
                sha256=sha256,
                size_bytes=size,
            )
        )
    layer, table = base["source_layer"], base["table_name"]
    return TransitionRecord(
        **base,
        source_files=[recorded_path(root, p) for c in written for p in _once(c.replaced)],
        target_file=recorded_path(root, written[0].path),
        row_count_in=rows,
        row_count_out=rows,
        transforms_applied=[COMPACTION],
        completed_at=utc_now(),
        status="success",
        ledger=RowLedger(rows_in=rows, rows_out=rows),
        inputs=[
            InputRef(
                table=f"{layer}.{table}",
                batch_id=b.batch_id,
                file=str(c.path.parent / name),
                record_id=b.record_id,
            )
            for c in written
            for b in c.batches
            for name in b.data_files()  # a batch in parts: one ref per part
        ],
        files=digests,
    )
