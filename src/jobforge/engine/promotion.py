"""Promotions: a batch of one layer through a step of the executor into the
next layer (staged -> bronze -> silver), and gold builds from the current
versions of their inputs, each with its row ledger checked, its files
published under a new version, its lineage record and catalog entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobforge.catalog.declarations import TableDeclaration, check_declaration
from jobforge.catalog.derivation import StepLineage
from jobforge.catalog.entries import load_entry, upstream_computed
from jobforge.catalog.governance import Computed, GroupCheck, check_labels, declassification
from jobforge.catalog.lineage import find_record, record_id
from jobforge.engine.control_totals import bronze_totals, step_totals
from jobforge.engine.entries import build_layer_entry
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StepContext, StepOutcome, StepTargets
from jobforge.engine.fingerprint import Fingerprint
from jobforge.engine.fingerprint import reasons as fingerprint_reasons
from jobforge.engine.group_size import GroupSizeError, check_group_size, group_tables
from jobforge.engine.ledger import ledger_for
from jobforge.engine.records import blame, failed_ledger
from jobforge.engine.recovery import interrupted_transition
from jobforge.engine.results import PromotionResult
from jobforge.engine.runtime import Runtime
from jobforge.engine.steps import BronzeSchema, GoldSpec
from jobforge.engine.transition import Transition, set_apart_files
from jobforge.errors import ConfigError, ContractError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import (
    Declassification,
    InputRef,
    LineageRecord,
    TableMetadata,
    TransitionRecord,
    new_id,
    utc_now,
)
from jobforge.storage import literal, versions
from jobforge.storage.pending import PendingFiles
from jobforge.storage.versions import BatchEntry, WriteMode

log = get_logger()

Step = Callable[[StepTargets, StepContext, PendingFiles], StepOutcome]
"""A layer step: the executor writing a batch's outputs to ``PendingFiles`` temporaries."""

Lineage = Callable[[], StepLineage]
"""Works out a step's column lineage from its declarations (reads no data)."""


def resolve_batch(rt: Runtime, layer: Layer, table: str, batch_id: str | None) -> BatchEntry:
    """The batch of ``table``'s current ``layer`` version to promote (default: the latest)."""
    current = rt.current(layer, table)
    if current is None or not current.batches:
        raise ContractError(f"table {table!r} has no {layer.value} version to promote")
    if batch_id is None:
        return current.batches[-1]
    found = next((b for b in current.batches if b.batch_id == batch_id), None)
    if found is None:
        # a unique prefix names a batch too (the 8 characters `status` shows)
        matches = [b for b in current.batches if b.batch_id.startswith(batch_id)]
        if len(matches) > 1:
            raise ConfigError(
                f"batch id {batch_id!r} is ambiguous in the {layer.value} version of "
                f"{table!r}: {', '.join(b.batch_id for b in matches)}"
            )
        if not matches:
            raise ContractError(
                f"batch {batch_id!r} is not in the {layer.value} version of {table!r}"
            )
        found = matches[0]
    return found


def domain_of(rt: Runtime, layer: Layer, table: str, domain: str) -> str:
    """``domain`` if given (validated by the caller), else the one the catalog
    entry of ``table`` in ``layer`` has."""
    if domain:
        return domain
    entry = load_entry(rt.config, layer.value, table)
    return entry.domain if entry else ""


@dataclass(frozen=True)
class GoldInputs:
    """The current versions a gold build reads."""

    files: dict[str, list[Path]]
    """Input table name -> the files of its current version."""
    upstream: list[str]
    """``layer.table`` of each input."""
    refs: list[InputRef]
    """Every batch read, with the record that published it."""
    rows: int
    """Rows in all of them."""


def input_refs(rt: Runtime, layer: Layer, table: str, batches: list[BatchEntry]) -> list[InputRef]:
    """Batches of ``layer.table``, as a transition that reads them records them."""
    return [
        InputRef(
            table=f"{layer.value}.{table}",
            batch_id=b.batch_id,
            file=str(path),
            record_id=b.record_id,
        )
        for b in batches
        for path in batch_files(rt.store, layer.value, table, b)  # a part file: one ref each
    ]


def batch_files(store: object, layer: str, table: str, batch: BatchEntry) -> list[Path]:
    """The files of one batch, in row order: its parts when a store keeps
    batches in parts (``files_of``), else the one file ``file_of`` names."""
    files_of = getattr(store, "files_of", None)
    if files_of is not None:
        return list(files_of(layer, table, batch))
    return [store.file_of(layer, table, batch)]  # type: ignore[attr-defined]


def gold_inputs(rt: Runtime, spec: GoldSpec) -> GoldInputs:
    """The current version of each input of ``spec`` (looked up in gold first,
    gold tables may build on gold, then in silver)."""
    table = spec.name
    inputs: dict[str, list[Path]] = {}
    upstream: list[str] = []
    refs: list[InputRef] = []
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
        inputs[name] = rt.store.files(layer.value, name, current)
        upstream.append(f"{layer.value}.{name}")
        refs += input_refs(rt, layer, name, current.batches)
        rows_in += current.row_count
    return GoldInputs(inputs, upstream, refs, rows_in)


def decide(
    previous: versions.CurrentVersion | None,
    fingerprint: Fingerprint,
    mode: WriteMode,
    batch_id: str | None,
) -> tuple[BatchEntry | None, list[str]]:
    """Whether a step must run: the batch of ``previous`` it would publish again
    unchanged (``None`` if it must run), and why (``["up to date"]``, or the
    parts that changed).

    In ``replace`` mode the version must be that batch alone; in ``append``
    mode it must hold it. ``batch_id``: the batch the step promotes (``None``
    for gold, whose build runs have ids of their own).
    """
    if previous is None or not previous.batches:
        return None, ["not built yet"]
    if mode == "replace":
        if len(previous.batches) != 1:
            return None, [f"the version holds {len(previous.batches)} batches, replaced by one"]
        before = previous.batches[0]
    else:
        same = next((b for b in previous.batches if b.batch_id == batch_id), None)
        if same is None:
            return None, ["new batch"]
        before = same
    if before.fingerprint == fingerprint:
        return before, ["up to date"]
    if not before.fingerprint:
        return None, ["made before fingerprints were kept"]
    return None, fingerprint_reasons(before.fingerprint, fingerprint)


def current_result(
    rt: Runtime, target: Layer, table: str, entry: BatchEntry, reason: str
) -> PromotionResult | None:
    """The result of a step that is up to date: its current batch and the record
    that published it (``None`` if that record cannot be found: then the step
    runs again, so that the chain has no gap)."""
    if entry.record_id is None:
        return None
    record = find_record(rt.config, table, entry.record_id)
    if not isinstance(record, TransitionRecord):
        return None
    return PromotionResult(
        table=table,
        layer=target.value,
        batch_id=entry.batch_id,
        path=rt.store.file_of(target.value, table, entry),
        parts=batch_files(rt.store, target.value, table, entry) if entry.parts else [],
        record=record,
        up_to_date=True,
        reason=reason,
        quarantine_files=set_apart_files(rt.config.data_root, record, "quarantine"),
        duplicates_files=set_apart_files(rt.config.data_root, record, "duplicates"),
    )


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
    inputs: list[InputRef],
    transform_script: str | None,
    step: Step,
    lineage: Lineage,
    fingerprint: Fingerprint,
    force: bool = False,
    bronze: BronzeSchema | None = None,
) -> PromotionResult:
    """Run ``step`` from ``source`` to ``target`` for ``batch`` of ``table`` (its
    lock held): hooks, the step writing temporaries, the ledger check, the
    record, publication and the catalog entry; or, on any failure, nothing
    published and a ``failed`` record.

    Unless ``force``, a step whose ``fingerprint`` equals the one its current
    version was published with is not run: the result is that version, with
    ``up_to_date`` set, and nothing is written.

    Before the step runs, its column lineage is worked out (``lineage``) and the
    labels its inputs give it are checked against the declared ones: a declared
    label lower than the inputs', without a ``declassify`` decision, is refused
    (:class:`~jobforge.errors.GovernanceError`) before anything is read. After
    it, a ``declassify`` decision's ``min_group_size`` is checked on the data
    written (a group too small fails the step).
    """
    check_declaration(rt.config, declaration, table, target.value)
    previous = rt.current(target, table)
    same, why = decide(
        previous, fingerprint, mode, batch.batch_id if target is not Layer.GOLD else None
    )
    if force:
        why = ["forced"]
    elif same is not None:
        result = current_result(rt, target, table, same, "up to date")
        if result is not None:
            rt.ensure_layout()
            log.info("transition.up_to_date", table=table, target_layer=target.value)
            return result
        why = ["the record of the current version is missing"]
    rt.must_write()
    columns = lineage()
    computed = upstream_computed(rt.config, columns, upstream)
    check_labels(f"{target.value}.{table}", declaration, computed, columns.columns)
    started = utc_now()
    clock = time.perf_counter()
    event = TransitionEvent(
        table, source.value, target.value, batch.batch_id, rt.config, domain, rt.run_id
    )
    # A batch promoted again gets fresh file names: a file a version lists is
    # never overwritten (the store's draft sees to it).
    draft = rt.store.draft(target.value, table, batch.batch_id)
    targets = draft.targets
    base: dict[str, Any] = {  # the record template: validated by TransitionRecord
        "transition_id": new_id(),
        "batch_id": batch.batch_id,
        "source_layer": source.value,
        "target_layer": target.value,
        "source_files": list(dict.fromkeys(ref.file for ref in inputs)),
        "inputs": inputs,
        "fingerprint": fingerprint,
        "target_file": str(targets.data),
        "started_at": started,
        "table_name": table,
        "domain": domain,
        "input_tables": upstream,
    }
    transition = Transition(
        rt, event, target, interrupted_transition(base, batch.rows), draft, clock
    )
    ctx = StepContext(table=table, batch_id=batch.batch_id, processed_at=started)

    written: list[PendingFiles] = []
    decision: list[Declassification | None] = [None]
    """The ``declassify`` decision as applied to the files written (also on a failure)."""

    def write(pending: PendingFiles) -> StepOutcome:
        written.append(pending)
        with blame(f"{rt.executor_label} (write_{target.value})"):
            return step(targets, ctx, pending)

    def record(outcome: StepOutcome) -> TransitionRecord:
        ledger = ledger_for(outcome, target)
        if not ledger.balanced:
            raise ContractError(ledger.imbalance_message())
        declared = declaration.control_totals if declaration else []
        if target is Layer.BRONZE:  # staged text in, cast values out (``bronze``: the casts)
            totals = bronze_totals(
                declared,
                bronze or BronzeSchema(),
                table=table,
                inputs=[Path(ref.file) for ref in inputs],
                pending=written[-1],
                targets=targets,
                ledger=ledger,
            )
        else:
            totals = step_totals(
                declared,
                gold=target is Layer.GOLD,
                inputs=[Path(ref.file) for ref in inputs],
                pending=written[-1],
                targets=targets,
                ledger=ledger,
            )
        try:
            decision[0] = _declassify(rt, table, declaration, computed, upstream, targets, written)
        except GroupSizeError as exc:
            decision[0] = _decision(declaration, computed, targets, written, exc.check)
            raise
        return TransitionRecord(
            **base,
            row_count_in=ledger.rows_in,
            row_count_out=ledger.rows_out,
            transforms_applied=outcome.transforms_applied,
            completed_at=utc_now(),
            status="partial" if ledger.rows_quarantined else "success",
            ledger=ledger,
            quarantine_file=str(targets.quarantine) if ledger.rows_quarantined else None,
            rule_counts=outcome.rule_counts,
            seconds=transition.seconds(),
            declassification=decision[0],
            control_totals=totals,
        )

    def entry(outcome: StepOutcome) -> TableMetadata:
        files = written[-1].parts_of(targets.data)
        if mode == "append" and previous is not None:
            # the files of the batches kept, as the store lists a version's files
            # (one call, as the staged entry's are: not one per batch)
            kept = previous.model_copy(
                update={"batches": [b for b in previous.batches if b.batch_id != batch.batch_id]}
            )
            files = [*rt.store.files(target.value, table, kept), *files]
        return build_layer_entry(
            rt.config,
            layer=target,
            table=table,
            domain=domain,
            files=files,
            table_dir=rt.store.table_location(target.value, table),
            declaration=declaration,
            upstream=upstream,
            lineage=columns,
            computed=computed,
            decision=decision[0],
            transform_script=transform_script,
        )

    def new_batch(outcome: StepOutcome, made: LineageRecord) -> BatchEntry:
        return BatchEntry(
            batch_id=batch.batch_id,
            file=targets.data.name,
            parts=_part_names(targets, written),
            rows=outcome.rows_out,
            source_sha256=batch.source_sha256,
            source_file=batch.source_file,
            ingested_at=batch.ingested_at,
            record_id=record_id(made),
            fingerprint=fingerprint,
        )

    def failed(exc: BaseException, outcome: StepOutcome | None) -> TransitionRecord:
        return TransitionRecord(
            **base,
            row_count_in=outcome.rows_in if outcome else batch.rows,
            row_count_out=0,
            transforms_applied=outcome.transforms_applied if outcome else [],
            completed_at=utc_now(),
            status="failed",
            errors=[str(exc) or type(exc).__name__],
            ledger=failed_ledger(outcome, target, batch.rows),
            seconds=transition.seconds(),
            declassification=decision[0],
        )

    done = transition.run(
        write=write,
        record=record,
        entry=entry,
        batch=new_batch,
        failed=failed,
        mode=mode,
        previous=previous,
        quarantine=targets.quarantine,
    )
    made = done.record
    assert isinstance(made, TransitionRecord)
    ledger = made.ledger
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
        status=made.status,
        seconds=made.seconds,
    )
    return PromotionResult(
        table=table,
        layer=target.value,
        batch_id=batch.batch_id,
        path=targets.data,
        parts=[] if not _part_names(targets, written) else written[-1].parts_of(targets.data),
        record=made,
        quarantine_path=targets.quarantine if ledger.rows_quarantined else None,
        duplicates_path=targets.duplicates if ledger.rows_deduplicated else None,
        quarantine_files=set_apart_files(rt.config.data_root, made, "quarantine"),
        duplicates_files=set_apart_files(rt.config.data_root, made, "duplicates"),
        reason="; ".join(why),
    )


def _part_names(targets: StepTargets, written: list[PendingFiles]) -> list[str]:
    """The names of the data output's parts (empty: written as one file)."""
    parts = written[-1].parts_of(targets.data) if written else [targets.data]
    return [] if parts == [targets.data] else [p.name for p in parts]


def _written_columns(targets: StepTargets, written: list[PendingFiles]) -> list[str]:
    files = written[0].written_files(targets.data) if written else []
    return list(literal.read_schema(files[0]).names) if files else []


def _decision(
    declaration: TableDeclaration | None,
    computed: Computed,
    targets: StepTargets,
    written: list[PendingFiles],
    check: GroupCheck | None,
) -> Declassification | None:
    decision = declaration.declassify if declaration is not None else None
    columns = _written_columns(targets, written) if decision is not None else []
    return declassification(decision, computed, declaration, columns, check)


def _declassify(
    rt: Runtime,
    table: str,
    declaration: TableDeclaration | None,
    computed: Computed,
    upstream: list[str],
    targets: StepTargets,
    written: list[PendingFiles],
) -> Declassification | None:
    """The ``declassify`` decision of the table as applied to the version just
    written, its ``min_group_size`` checked on the data (a
    :class:`~jobforge.engine.group_size.GroupSizeError` if a group is too small)."""
    decision = declaration.declassify if declaration is not None else None
    if decision is None:
        return None
    check = None
    files = written[0].written_files(targets.data) if written else []
    if decision.min_group_size is not None and files:
        lowered = _decision(declaration, computed, targets, written, None)
        tables = group_tables(
            rt.config, upstream, decision.to, computed, lowered.columns if lowered else []
        )
        check = check_group_size(table, files, tables, decision.min_group_size)
    return _decision(declaration, computed, targets, written, check)
