"""One transition, one place: the protocol every ingestion and promotion follows.

A :class:`Transition` publishes one new version of a table in a layer:

1. the journal is written (:class:`~jobforge.engine.recovery.Publication`) with the
   record to write if the process dies before publishing;
2. ``jobforge_before_transition``; the step writes its files under temporary names;
3. the lineage record is built from what the step reports (a ledger that does not
   balance, or any other error, fails the transition here), with the sha256 and
   size of every file the step wrote (:func:`~jobforge.audit.digest.draft_digests`);
4. the files are renamed into place, the catalog entry is built and journaled, and
   the version pointer is switched atomically: the publication;
5. the lineage record and the catalog entry are written, the journal cleared,
   ``jobforge_after_transition`` and ``jobforge_rows_quarantined`` called
   (:func:`~jobforge.engine.records.finish`).

On any failure before the switch nothing is published: the temporaries are
removed, the ``failed`` record written and ``jobforge_transition_failed``
called (:func:`~jobforge.engine.records.fail`). A *refusal* (bad input found
before anything was written, such as a source that is not valid CSV) publishes
nothing and writes no record: the error is raised as it is.

What differs between steps (the files written, the record type and its fields,
the catalog entry, the batch entry of the pointer) is given by the caller; the
order of the steps above, and what happens when one fails, are here only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobforge.audit.digest import draft_digests
from jobforge.catalog.lineage import record_id
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StepOutcome
from jobforge.engine.records import fail, finish
from jobforge.engine.recovery import Publication
from jobforge.engine.runtime import Runtime
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import LineageRecord, TableMetadata
from jobforge.storage.pending import PendingFiles
from jobforge.storage.store import Draft
from jobforge.storage.versions import BatchEntry, CurrentVersion, WriteMode


@dataclass(frozen=True)
class Published:
    """What a transition published."""

    record: LineageRecord
    version: CurrentVersion
    outcome: StepOutcome


@dataclass
class Transition:
    """One unit of work that publishes a version of ``event.table`` in ``target``."""

    rt: Runtime
    event: TransitionEvent
    target: Layer
    interrupted: LineageRecord
    """The ``failed`` record the next run writes if this process dies before publishing."""
    draft: Draft
    """Where the step writes (from the table store)."""
    clock: float = field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        """Seconds since the transition started (for its record)."""
        return round(time.perf_counter() - self.clock, 6)

    def run(
        self,
        *,
        write: Callable[[PendingFiles], StepOutcome],
        record: Callable[[StepOutcome], LineageRecord],
        entry: Callable[[StepOutcome], TableMetadata],
        batch: Callable[[StepOutcome, LineageRecord], BatchEntry],
        failed: Callable[[BaseException, StepOutcome | None], LineageRecord],
        mode: WriteMode,
        previous: CurrentVersion | None,
        quarantine: Path | None = None,
        refusals: tuple[type[BaseException], ...] = (),
    ) -> Published:
        """Run the protocol of the module docstring.

        ``write`` writes the step's files (:attr:`draft`'s targets) to the
        temporaries it asks of the draft's :class:`PendingFiles` and reports
        what it did; ``record`` builds the
        lineage record from that report (raising if it cannot: an unbalanced
        ledger), ``entry`` the catalog entry and ``batch`` the pointer's batch
        entry; ``failed`` builds the ``failed`` record of an error. Errors of
        the types in ``refusals`` are refusals (nothing written, no record).
        """
        rt, event, draft, store = self.rt, self.event, self.draft, self.rt.store
        publication = Publication(rt.config, self.target, self.interrupted)
        outcome: StepOutcome | None = None
        staged: list[Path] = []
        try:
            rt.host.before_transition(event)
            outcome = write(draft.pending)
            built = record(outcome).model_copy(
                update={"files": draft_digests(rt.config.data_root, draft)}
            )
            rt.ensure_layout()  # the first publication of an engine
            staged = publication.stage(store, draft, built)
            metadata = entry(outcome)
            publication.before_switch(metadata)
            version = store.publish(
                draft,
                batch(outcome, built),
                mode=mode,
                record_id=record_id(built),
                updated_at=built.completed_at,
                previous=previous,
            )
        except refusals:
            # Bad input is refused before anything is written: no failed record
            # either, only the error (the CLI prints it on one line).
            store.abort(draft, staged)
            publication.done()
            raise
        except Exception as exc:
            store.abort(draft, staged)
            raise fail(rt, event, failed(exc, outcome), exc, publication) from exc
        built = finish(rt, event, built, metadata, version, publication)
        if outcome.rows_quarantined and quarantine is not None:
            files = set_apart_files(rt.config.data_root, built, "quarantine")
            rt.host.rows_quarantined(event, outcome.rows_quarantined, quarantine, files)
        return Published(built, version, outcome)


def set_apart_files(root: Path, record: LineageRecord, role: str) -> list[Path]:
    """The files of ``role`` (``quarantine``, ``duplicates``) that ``record``
    published, below the data root ``root``, in the order it lists them (rows set
    apart in parts: each part, in order)."""
    return [root / f.path for f in record.files if f.role == role]
