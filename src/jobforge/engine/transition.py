"""One transition, one place: the protocol every ingestion and promotion follows.

A :class:`Transition` publishes one new version of a table in a layer:

1. the journal is written (:class:`~jobforge.engine.recovery.Publication`) with the
   record to write if the process dies before publishing;
2. ``jobforge_before_transition``; the step writes its files under temporary names;
3. the lineage record is built from what the step reports (a ledger that does not
   balance, or any other error, fails the transition here);
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

from jobforge.catalog.lineage import record_id
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StepOutcome
from jobforge.engine.records import fail, finish
from jobforge.engine.recovery import Publication
from jobforge.engine.runtime import Runtime
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import LineageRecord, TableMetadata
from jobforge.storage import versions
from jobforge.storage.pending import PendingFiles, remove_published
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

        ``write`` writes the step's files to the temporaries it asks of
        :class:`PendingFiles` and reports what it did; ``record`` builds the
        lineage record from that report (raising if it cannot: an unbalanced
        ledger), ``entry`` the catalog entry and ``batch`` the pointer's batch
        entry; ``failed`` builds the ``failed`` record of an error. Errors of
        the types in ``refusals`` are refusals (nothing written, no record).
        """
        rt, event = self.rt, self.event
        table = event.table
        layer_dir = rt.layer_dir(self.target)
        pending = PendingFiles()
        publication = Publication(rt.config, self.target, self.interrupted)
        outcome: StepOutcome | None = None
        try:
            rt.host.before_transition(event)
            outcome = write(pending)
            built = record(outcome)
            rt.ensure_layout()  # the first publication of an engine
            moved = publication.commit_files(pending, built)
            try:
                metadata = entry(outcome)
                publication.before_switch(metadata)
                version = versions.publish(
                    layer_dir,
                    table,
                    self.target.value,
                    [batch(outcome, built)],
                    mode=mode,
                    updated_at=built.completed_at,
                    record_id=record_id(built),
                    previous=previous,
                )
            except BaseException:
                remove_published(moved)  # fresh names: no pointer lists them
                raise
        except refusals:
            # Bad input is refused before anything is written: no failed record
            # either, only the error (the CLI prints it on one line).
            pending.abort()
            publication.done()
            raise
        except Exception as exc:
            pending.abort()
            raise fail(rt, event, failed(exc, outcome), exc, publication) from exc
        finish(rt, event, built, metadata, version, publication)
        if outcome.rows_quarantined and quarantine is not None:
            rt.host.rows_quarantined(event, outcome.rows_quarantined, quarantine)
        return Published(built, version, outcome)
