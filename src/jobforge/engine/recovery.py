"""Journaled publication, and recovery of a transition a killed process left.

:class:`Publication` writes the table's journal (:mod:`jobforge.storage.journal`)
before each step of a publication; :func:`recover` reads a journal left behind
and, under the table's lock, either completes the publication (the pointer was
switched: write its lineage record and catalog entry) or undoes it (remove its
files, write a failed record). Either way, once the next run on a table holds
its lock, every version a pointer names has its lineage record and catalog
entry, and every transition that started has a record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from jobforge.audit.chain import write_record
from jobforge.catalog.lineage import record_id
from jobforge.errors import JobforgeError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import (
    IngestionRecord,
    LineageRecord,
    RowLedger,
    TableMetadata,
    TransitionRecord,
)
from jobforge.storage.journal import (
    Journal,
    append_journal,
    clear_journal,
    journal_path,
    read_journal,
    write_journal,
)
from jobforge.storage.store import Draft, TableStore

log = get_logger()

INTERRUPTED = (
    "interrupted: the process stopped before this transition was published; "
    "nothing was published (recorded by the next run on the table)"
)

_RECORD: TypeAdapter[IngestionRecord | TransitionRecord] = TypeAdapter(
    IngestionRecord | TransitionRecord
)


def failed_ingestion(
    base: dict[str, Any], error: str, completed_at: datetime, seconds: float = 0.0
) -> IngestionRecord:
    """The failed record of an ingestion (``base``: its fields): nothing was
    published, so no row came in or went out."""
    return IngestionRecord(
        **base,
        row_count_in=0,
        row_count_out=0,
        completed_at=completed_at,
        status="failed",
        errors=[error],
        seconds=seconds,
    )


def interrupted_ingestion(base: dict[str, Any]) -> IngestionRecord:
    """The failed record of an ingestion that never published (``base``: its fields)."""
    return failed_ingestion(base, INTERRUPTED, base["started_at"])


def interrupted_transition(base: dict[str, Any], rows_in: int) -> TransitionRecord:
    """The failed record of a promotion that never published."""
    return TransitionRecord(
        **base,
        row_count_in=rows_in,
        row_count_out=0,
        transforms_applied=[],
        completed_at=base["started_at"],
        status="failed",
        errors=[INTERRUPTED],
        ledger=RowLedger(rows_in=rows_in, rows_out=0),
    )


class Publication:
    """The journal of one transition: written whole before the step writes
    anything, then one line added before each step that publishes."""

    def __init__(self, config: PipelineConfig, layer: Layer, interrupted: LineageRecord) -> None:
        self._locks = config.locks_path()
        self.journal = Journal(
            table=interrupted.table_name,
            layer=layer.value,
            record_id=record_id(interrupted),
            phase="running",
            failed=interrupted.model_dump(mode="json"),
        )
        write_journal(self._locks, self.journal)

    def _update(self, **changes: Any) -> None:
        """Append the changed fields to the journal: one flushed line, not the
        whole journal again."""
        self.journal = self.journal.model_copy(update=changes)
        append_journal(self._locks, self.journal.table, changes)

    def stage(self, store: TableStore, draft: Draft, record: LineageRecord) -> list[Path]:
        """Journal the draft's files and the record, then have the store put the
        files under their final names (in no version yet)."""
        self._update(
            phase="publishing",
            record=record.model_dump(mode="json"),
            files=[os.path.abspath(p) for p in draft.pending.finals()],
        )
        return store.stage(draft)

    def before_switch(self, metadata: TableMetadata) -> None:
        """Journal the catalog entry; the pointer switch comes next."""
        self._update(phase="switching", metadata=metadata.model_dump(mode="json"))

    def failed(self, record: LineageRecord) -> None:
        """Keep the real failed record, for the next run if it cannot be written now."""
        failed = record.model_dump(mode="json")
        if failed != self.journal.failed:  # already journaled: no second write
            self._update(failed=failed)

    def done(self) -> None:
        clear_journal(self._locks, self.journal.table)


def recover(
    config: PipelineConfig,
    table: str,
    write_entry: Callable[[TableMetadata], None],
) -> str | None:
    """Finish or undo the transition a killed run left on ``table``.

    Call it holding the table's lock. Returns ``"completed"``, ``"undone"`` or
    ``None`` (no journal). The journal is removed only once the record is
    written, so a failing lineage writer leaves it for the run after.
    """
    locks = config.locks_path()
    journal = read_journal(locks, table)
    if journal is None:
        return None
    store = config.store
    try:
        published = store.is_published(journal.layer, table, journal.record_id)
        if published and journal.record is not None and journal.metadata:
            write_record(config, _RECORD.validate_python(journal.record))
            write_entry(TableMetadata.model_validate(journal.metadata))
            outcome = "completed"
        else:
            removed = store.discard(journal.layer, table, journal.files)
            failed = _RECORD.validate_python(journal.failed)
            if failed.errors == [INTERRUPTED]:
                stamp = os.stat(journal_path(locks, table)).st_mtime
                last_seen = datetime.fromtimestamp(stamp, UTC)
                failed = failed.model_copy(
                    update={"completed_at": max(last_seen, failed.started_at)}
                )
            write_record(config, failed)
            log.info("recovery.files_removed", table=table, files=removed)
            outcome = "undone"
    except JobforgeError as exc:
        raise type(exc)(
            f"while completing the interrupted {journal.layer} transition of {table!r} "
            f"(journal {journal_path(locks, table)}): {exc}"
        ) from exc
    clear_journal(locks, table)
    log.warning(
        "recovery.done",
        table=table,
        layer=journal.layer,
        record_id=journal.record_id,
        phase=journal.phase,
        outcome=outcome,
    )
    return outcome
