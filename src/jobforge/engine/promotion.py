"""Promotions: a batch of one layer through a step of the executor into the
next layer (staged -> bronze -> silver), and gold builds from the current
versions of their inputs, each with its row ledger checked, its files
published under a new version, its lineage record and catalog entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog

from jobforge.catalog.declarations import TableDeclaration, check_declaration
from jobforge.catalog.entries import load_entry
from jobforge.engine.entries import build_layer_entry
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StepContext, StepOutcome, StepTargets
from jobforge.engine.ledger import ledger_for
from jobforge.engine.quarantine import DUPLICATES, quarantine_dir
from jobforge.engine.records import blame, fail, failed_ledger, finish
from jobforge.engine.recovery import Publication, interrupted_transition
from jobforge.engine.results import PromotionResult
from jobforge.engine.runtime import Runtime
from jobforge.engine.steps import GoldSpec
from jobforge.errors import ContractError
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import TransitionRecord, new_id, utc_now
from jobforge.storage import versions
from jobforge.storage.pending import PendingFiles, remove_published
from jobforge.storage.versions import BatchEntry, WriteMode

log = structlog.get_logger("jobforge")

Step = Callable[[StepTargets, StepContext, PendingFiles], StepOutcome]
"""A layer step: the executor writing a batch's outputs to ``PendingFiles`` temporaries."""


def resolve_batch(rt: Runtime, layer: Layer, table: str, batch_id: str | None) -> BatchEntry:
    """The batch of ``table``'s current ``layer`` version to promote (default: the latest)."""
    current = rt.current(layer, table)
    if current is None or not current.batches:
        raise ContractError(f"table {table!r} has no {layer.value} version to promote")
    if batch_id is None:
        return current.batches[-1]
    found = next((b for b in current.batches if b.batch_id == batch_id), None)
    if found is None:
        raise ContractError(f"batch {batch_id!r} is not in the {layer.value} version of {table!r}")
    return found


def domain_of(rt: Runtime, layer: Layer, table: str, domain: str) -> str:
    """``domain`` if given (validated by the caller), else the one the catalog
    entry of ``table`` in ``layer`` has."""
    if domain:
        return domain
    entry = load_entry(rt.config, layer.value, table)
    return entry.domain if entry else ""


def gold_inputs(rt: Runtime, spec: GoldSpec) -> tuple[dict[str, list[Path]], list[str], int]:
    """The files of the current version of each input of ``spec`` (looked up in
    gold first, gold tables may build on gold, then in silver), the upstream
    keys (``layer.table``) and the rows in all of them."""
    table = spec.name
    inputs: dict[str, list[Path]] = {}
    upstream: list[str] = []
    rows_in = 0
    for name in spec.inputs:
        for layer in (Layer.GOLD, Layer.SILVER):
            if name == table and layer is Layer.GOLD:
                continue
            current = rt.current(layer, name)
            if current is not None:
                break
        else:
            raise ContractError(f"gold {table}: input {name!r} has no silver or gold version")
        inputs[name] = current.files(versions.table_dir(rt.layer_dir(layer), name))
        upstream.append(f"{layer.value}.{name}")
        rows_in += current.row_count
    return inputs, upstream, rows_in


def promote(
    rt: Runtime,
    *,
    table: str,
    source: Layer,
    target: Layer,
    batch: BatchEntry,
    domain: str,
    declaration: TableDeclaration | None,
    mode: WriteMode,
    upstream: list[str],
    input_files: list[Path],
    transform_script: str | None,
    step: Step,
) -> PromotionResult:
    """Run ``step`` from ``source`` to ``target`` for ``batch`` of ``table`` (its
    lock held): hooks, the step writing temporaries, the ledger check, the
    record, publication and the catalog entry; or, on any failure, nothing
    published and a ``failed`` record."""
    check_declaration(rt.config, declaration, table)
    target_dir = rt.layer_dir(target)
    table_dir = versions.table_dir(target_dir, table)
    previous = versions.read_current(target_dir, table)
    started = utc_now()
    clock = time.perf_counter()
    event = TransitionEvent(
        table, source.value, target.value, batch.batch_id, rt.config, domain, rt.run_id
    )
    rejected_dir = quarantine_dir(rt.config, table, target)
    duplicates_dir = quarantine_dir(rt.config, table, DUPLICATES)
    # A batch promoted again gets a fresh file name: a file a pointer lists is
    # never overwritten (see versions.new_batch_file_name).
    name = versions.new_batch_file_name(
        batch.batch_id,
        (previous.version + 1) if previous else 1,
        [table_dir, rejected_dir, duplicates_dir],
    )
    targets = StepTargets(
        data=table_dir / name,
        # gold builds new rows: nothing to reject or de-duplicate
        quarantine=rejected_dir / name if target is not Layer.GOLD else None,
        duplicates=duplicates_dir / name if target is Layer.SILVER else None,
    )
    pending = PendingFiles()
    base = {
        "transition_id": new_id(),
        "batch_id": batch.batch_id,
        "source_layer": source.value,
        "target_layer": target.value,
        "source_files": [str(p) for p in input_files],
        "target_file": str(targets.data),
        "started_at": started,
        "table_name": table,
        "domain": domain,
        "input_tables": upstream,
    }
    outcome: StepOutcome | None = None
    publication = Publication(rt.config, target, interrupted_transition(base, batch.rows))
    try:
        rt.host.before_transition(event)
        ctx = StepContext(table=table, batch_id=batch.batch_id, processed_at=started)
        with blame(f"{rt.executor_label} (write_{target.value})"):
            outcome = step(targets, ctx, pending)
        ledger = ledger_for(outcome, target)
        if not ledger.balanced:
            raise ContractError(ledger.imbalance_message())
        record = TransitionRecord(
            **base,
            row_count_in=ledger.rows_in,
            row_count_out=ledger.rows_out,
            transforms_applied=outcome.transforms_applied,
            completed_at=utc_now(),
            status="partial" if ledger.rows_quarantined else "success",
            ledger=ledger,
            quarantine_file=str(targets.quarantine) if ledger.rows_quarantined else None,
            rule_counts=outcome.rule_counts,
            seconds=round(time.perf_counter() - clock, 6),
        )
        published = publication.commit_files(pending, record)
        try:
            metadata = build_layer_entry(
                rt.config,
                layer=target,
                table=table,
                domain=domain,
                files=[targets.data]
                if mode == "replace"
                else [*(previous.files(table_dir) if previous else []), targets.data],
                table_dir=table_dir,
                declaration=declaration,
                upstream=upstream,
                outcome=outcome,
                transform_script=transform_script,
            )
            entry = BatchEntry(
                batch_id=batch.batch_id,
                file=targets.data.name,
                rows=ledger.rows_out,
                source_sha256=batch.source_sha256,
                source_file=batch.source_file,
                ingested_at=batch.ingested_at,
            )
            publication.before_switch(metadata)
            version = versions.publish(
                target_dir,
                table,
                target.value,
                [entry],
                mode=mode,
                updated_at=record.completed_at,
                record_id=record.transition_id,
                previous=previous,
            )
        except BaseException:
            remove_published(published)  # fresh names: no pointer lists them
            raise
    except Exception as exc:
        pending.abort()
        failed = TransitionRecord(
            **base,
            row_count_in=outcome.rows_in if outcome else batch.rows,
            row_count_out=0,
            transforms_applied=outcome.transforms_applied if outcome else [],
            completed_at=utc_now(),
            status="failed",
            errors=[str(exc) or type(exc).__name__],
            ledger=failed_ledger(outcome, target, batch.rows),
            seconds=round(time.perf_counter() - clock, 6),
        )
        raise fail(rt, event, failed, exc, publication) from exc
    finish(rt, event, record, metadata, version, publication)
    if ledger.rows_quarantined and targets.quarantine is not None:
        rt.host.rows_quarantined(event, ledger.rows_quarantined, targets.quarantine)
    log.info(
        "transition.done",
        table=table,
        source_layer=source.value,
        target_layer=target.value,
        batch_id=batch.batch_id,
        rows_in=ledger.rows_in,
        rows_out=ledger.rows_out,
        rows_quarantined=ledger.rows_quarantined,
        rows_deduplicated=ledger.rows_deduplicated,
        status=record.status,
        seconds=record.seconds,
    )
    return PromotionResult(
        table=table,
        layer=target.value,
        batch_id=batch.batch_id,
        path=targets.data,
        record=record,
        quarantine_path=targets.quarantine if ledger.rows_quarantined else None,
        duplicates_path=targets.duplicates if ledger.rows_deduplicated else None,
    )
