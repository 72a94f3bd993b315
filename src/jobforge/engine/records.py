"""How a transition ends, on record: after a publication, its lineage record,
catalog entry and after-hooks (:func:`finish`); after a failure, a ``failed``
record, the failed-transition hooks and the error to raise (:func:`fail`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from jobforge.audit.chain import write_record
from jobforge.catalog.entries import write_entry_locked
from jobforge.catalog.lineage import record_id
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StepOutcome
from jobforge.engine.ledger import ledger_for
from jobforge.engine.recovery import Publication, failed_ingestion
from jobforge.engine.runtime import Runtime
from jobforge.errors import JobforgeError, PluginError, TransitionError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import (
    IngestionRecord,
    RowLedger,
    TableMetadata,
    TransitionRecord,
    utc_now,
)
from jobforge.storage import versions

log = get_logger()


def finish(
    rt: Runtime,
    event: TransitionEvent,
    record: TransitionRecord | IngestionRecord,
    metadata: TableMetadata,
    version: versions.CurrentVersion,
    publication: Publication,
) -> TransitionRecord | IngestionRecord:
    """After the version switch: lineage, catalog entry, after-hooks; returns the
    record as it was sealed and saved (its place in the chain, its signature).

    The version is published at this point, so an error here does not undo
    it: the error says so. If the record or the entry could not be written,
    the journal stays and the next run on the table writes them.
    """
    published = (
        f"{event.source_layer} -> {event.target_layer} of {event.table!r} was published "
        f"(version {version.version}, record {version.record_id})"
    )
    try:
        record = write_record(rt.config, record)
        write_entry_locked(rt.config, metadata, rt.lock_timeout)
    except Exception as exc:
        raise TransitionError(
            f"{published}, but its lineage record or catalog entry was not written: "
            f"{exc}; the next run on {event.table!r} writes them"
        ) from exc
    publication.done()
    try:
        rt.host.after_transition(event, record)
    except Exception as exc:
        raise TransitionError(f"{published}, but then {exc}") from exc
    return record


def fail(
    rt: Runtime,
    event: TransitionEvent,
    record: TransitionRecord | IngestionRecord,
    exc: BaseException,
    publication: Publication | None = None,
) -> TransitionError:
    """Write the failed record, tell the plugins, and build the error to raise.

    A failing lineage writer or ``transition_failed`` hook does not hide the
    original error: both are in the message, and the failed record stays in
    the journal for the next run on the table to write.
    """
    notes = _record_failure(rt, event, record, exc, publication)
    message = str(exc) if isinstance(exc, JobforgeError) else f"{type(exc).__name__}: {exc}"
    message += "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
    error = TransitionError(
        f"{event.source_layer} -> {event.target_layer} of {event.table!r} failed: {message}"
        + "".join(f"; also: {note}" for note in notes)
    )
    error.exit_code = getattr(exc, "exit_code", 1)
    return error


def claim_failed(
    rt: Runtime, event: TransitionEvent, base: dict[str, Any], exc: PluginError, clock: float
) -> PluginError:
    """Record an ingestion whose ``jobforge_source_reader`` hook raised, and
    return the error to raise: ``exc`` itself (it names the plugin and the
    hook), or, if recording failed too, the same message with what went wrong.

    Nothing was written yet; the failed record goes through the journal like
    any other, so that the next run on the table writes it if the lineage
    writer fails now.
    """
    failed = failed_ingestion(base, str(exc), utc_now(), round(time.perf_counter() - clock, 6))
    publication = Publication(rt.config, Layer.STAGED, failed)
    notes = _record_failure(rt, event, failed, exc, publication)
    if not notes:
        return exc
    return PluginError(str(exc) + "".join(f"; also: {note}" for note in notes), plugin=exc.plugin)


def _record_failure(
    rt: Runtime,
    event: TransitionEvent,
    record: TransitionRecord | IngestionRecord,
    exc: BaseException,
    publication: Publication | None,
) -> list[str]:
    """Write the failed record and call ``transition_failed``; return what
    went wrong doing so (each a note for the error message)."""
    notes: list[str] = []
    if publication is not None:
        publication.failed(record)
    try:
        write_record(rt.config, record)
    except Exception as write_exc:
        notes.append(
            f"the failed record was not written ({write_exc}); "
            f"the next run on {event.table!r} writes it"
        )
    else:
        if publication is not None:
            publication.done()
    try:
        rt.host.transition_failed(event, exc)
    except Exception as hook_exc:
        notes.append(str(hook_exc))
    log.error(
        "transition.failed",
        table=event.table,
        source_layer=event.source_layer,
        target_layer=event.target_layer,
        batch_id=event.batch_id,
        record_id=record_id(record),
        error_type=type(exc).__name__,
    )
    return notes


def failed_ledger(outcome: StepOutcome | None, target: Layer, rows_in: int) -> RowLedger:
    """The ledger of a failed transition: what the step reported, if it can be
    stated at all (the numbers that made it fail may not even form a ledger)."""
    if outcome is not None:
        with contextlib.suppress(ValueError):
            return ledger_for(outcome, target)
    return RowLedger(rows_in=outcome.rows_in if outcome else rows_in, rows_out=0)


@contextlib.contextmanager
def blame(who: str) -> Iterator[None]:
    """Name the plugin code an unexpected exception came from (as a note, so the
    exception and the failed record's error stay the original's)."""
    try:
        yield
    except JobforgeError:
        raise
    except Exception as exc:
        exc.add_note(f"raised by {who}")
        raise
