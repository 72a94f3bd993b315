"""Ingestion: a source file read by a reader plugin into the staged layer, as a
new batch, with its ingestion record and catalog entry.

An identical file (same sha256) already ingested into the table is skipped. A
refusal (bad input) writes nothing and no record; any other failure writes a
``failed`` record. The staged rows written must be the records the reader
counted in the file, or nothing is published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

from jobforge.audit.chain import write_record
from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.lineage import find_record, record_id
from jobforge.engine.column_lineage import input_columns, staged_lineage
from jobforge.engine.entries import build_layer_entry
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import LedgerObligation, StagedContext, StagedRequest, StepOutcome
from jobforge.engine.fingerprint import Fingerprint, short_digest
from jobforge.engine.records import blame, claim_failed
from jobforge.engine.recovery import failed_ingestion, interrupted_ingestion
from jobforge.engine.results import IngestResult
from jobforge.engine.runtime import Runtime
from jobforge.engine.transition import Transition
from jobforge.errors import ContractError, PluginError, SourceError, UnsupportedFormatError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import (
    IngestionRecord,
    LineageRecord,
    TableMetadata,
    new_id,
    utc_now,
)
from jobforge.sources.base import ReadResult, SourceSpec
from jobforge.storage import versions
from jobforge.storage.atomic import make_dirs, remove_empty_dirs, temporary_path_for
from jobforge.storage.digest import sha256_of
from jobforge.storage.pending import PendingFiles
from jobforge.storage.versions import BatchEntry

log = get_logger()


def ingest_source(
    rt: Runtime,
    spec: SourceSpec,
    table: str,
    domain: str,
    force: bool,
    declaration: TableDeclaration | None,
) -> IngestResult:
    """Read ``spec`` into the staged layer as a new batch of ``table`` (its
    lock held): the body of :meth:`PipelineEngine.ingest
    <jobforge.engine.pipeline.PipelineEngine.ingest>`.

    A file whose bytes, read the same way (format, reader options, reader
    plugin and version), equal a batch of the current version is not read
    again: from the same path it is up to date; from another path it is a
    duplicate delivery, recorded once with a ``skipped`` ingestion record
    naming the batch it equals.
    """
    staged_dir = rt.layer_dir(Layer.STAGED)
    previous = rt.current(Layer.STAGED, table)
    digest = sha256_of(spec.path)
    fingerprint = source_fingerprint(rt, spec, digest)
    if previous is not None and not force:
        same = same_batch(previous, fingerprint)
        if same is not None:
            return _already_ingested(rt, spec, table, domain, same, fingerprint, digest)
    rt.must_write()
    reason = "forced" if force else why_new(previous, spec, fingerprint)
    with _scratch_folder(versions.table_dir(staged_dir, table)) as scratch:
        return _ingest_batch(
            rt,
            dataclasses.replace(spec, scratch=scratch),
            table,
            domain,
            declaration,
            fingerprint,
            previous,
            reason,
        )


def why_new(
    previous: versions.CurrentVersion | None, spec: SourceSpec, fingerprint: Fingerprint
) -> str:
    """Why a file is read into a new batch: the earlier batch from its path (if
    any) had other bytes, or was read another way."""
    name = spec.path.as_posix()
    earlier = (
        next((b for b in reversed(previous.batches) if b.source_file == name), None)
        if previous
        else None
    )
    if earlier is None:
        return "new file"
    if earlier.fingerprint and earlier.fingerprint.get("source") == fingerprint["source"]:
        return "reader or reader options changed"
    return "source changed"


def source_fingerprint(rt: Runtime, spec: SourceSpec, digest: str) -> Fingerprint:
    """What a staged batch is made from: the file's bytes and how they are read
    (format, reader options, and the reader plugin that claims the file)."""
    try:
        claimed = rt.host.source_reader(spec, rt.config)
    except PluginError as exc:
        # Not up to date, whatever was read before: the ingestion that follows
        # claims the file again and records the failure.
        claimed, reader = None, f"error: {exc}"
    else:
        reader = rt.host.identity(claimed[1]) if claimed else "none"
    how = [spec.effective_format, dict(spec.options), reader]
    return {"source": digest, "reader": short_digest(how)}


def same_batch(previous: versions.CurrentVersion, fingerprint: Fingerprint) -> BatchEntry | None:
    """The batch of ``previous`` made from the same bytes read the same way (a
    batch published before fingerprints were kept: the same bytes)."""
    for batch in reversed(previous.batches):
        if batch.fingerprint == fingerprint or (
            not batch.fingerprint and batch.source_sha256 == fingerprint["source"]
        ):
            return batch
    return None


def _already_ingested(
    rt: Runtime,
    spec: SourceSpec,
    table: str,
    domain: str,
    same: BatchEntry,
    fingerprint: Fingerprint,
    digest: str,
) -> IngestResult:
    """The result for a file that needs no new batch; a duplicate delivery (a
    path the batch was not read from) is recorded the first time it is seen."""
    source_name = spec.path.as_posix()
    duplicate = same.source_file != source_name
    record = None
    delivery = delivery_record_id(table, source_name, digest) if duplicate else None
    if delivery is not None and find_record(rt.config, table, delivery) is None:
        rt.must_write()
        now = utc_now()
        record = IngestionRecord(
            ingestion_id=delivery,
            batch_id=same.batch_id,
            table_name=table,
            domain=domain,
            source_file=source_name,
            source_sha256=digest,
            source_size_bytes=spec.path.stat().st_size,
            source_format=spec.effective_format,
            reader="-",
            target_file=str(rt.store.file_of(Layer.STAGED.value, table, same)),
            row_count_in=0,
            row_count_out=0,
            started_at=now,
            completed_at=now,
            status="skipped",
            fingerprint=fingerprint,
            duplicate_of=same.batch_id,
        )
        write_record(rt.config, record)
    reason = (
        f"duplicate delivery: same bytes as batch {same.batch_id} ({same.source_file})"
        if duplicate
        else "up to date"
    )
    rt.ensure_layout()
    log.info("ingest.skipped", table=table, batch_id=same.batch_id, reason=reason)
    return IngestResult(
        table=table,
        batch_id=same.batch_id,
        path=rt.store.file_of(Layer.STAGED.value, table, same),
        rows=same.rows,
        rows_quarantined=0,
        skipped=True,
        record=record,
        duplicate_of=same.batch_id if duplicate else None,
        reason=reason,
    )


DELIVERY_NAMESPACE = uuid.UUID("6c1f5b0e-2f4d-5b8e-9a43-0d7c6e2a9f11")
"""The namespace of :func:`delivery_record_id` (a fixed random UUID)."""


def delivery_record_id(table: str, source_name: str, digest: str) -> str:
    """The id of the ``skipped`` record of a duplicate delivery: the same for
    the same table, path and bytes, so that whether a delivery was recorded is
    one record looked up by its id (reading every record of the table made the
    first run to see a delivery cost more the longer the history). jobforge
    2.0 gave these records random ids: a delivery it recorded is recorded once
    more, under this id, the first time it is seen again."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, json.dumps([table, source_name, digest])))


@contextlib.contextmanager
def _scratch_folder(table_dir: Path) -> Iterator[Path]:
    """The reader's scratch folder (:attr:`SourceSpec.scratch`), beside the
    table's staged files under a temporary name: removed when the ingestion
    ends, and by the next run on the table after a crash."""
    scratch = temporary_path_for(table_dir / "reader")
    created = make_dirs(scratch)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        remove_empty_dirs(created)  # a refused file leaves no table folder


def _ingest_batch(
    rt: Runtime,
    spec: SourceSpec,
    table: str,
    domain: str,
    declaration: TableDeclaration | None,
    fingerprint: Fingerprint,
    previous: versions.CurrentVersion | None,
    reason: str,
) -> IngestResult:
    """Ingest ``spec`` as a new batch (it is not an already ingested file)."""
    digest = fingerprint["source"]
    batch_id = new_id()
    started = utc_now()
    clock = time.perf_counter()
    event = TransitionEvent(table, "source", "staged", batch_id, rt.config, domain, rt.run_id)
    draft = rt.store.draft(Layer.STAGED.value, table, batch_id)
    targets = draft.targets
    source_name = spec.path.as_posix()
    base: dict[str, Any] = {  # the record template: validated by IngestionRecord
        "ingestion_id": new_id(),
        "batch_id": batch_id,
        "table_name": table,
        "domain": domain,
        "source_file": source_name,
        "source_sha256": digest,
        "source_size_bytes": spec.path.stat().st_size,
        "source_format": spec.effective_format,
        "reader": "unknown",
        "target_file": str(targets.data),
        "started_at": started,
        "fingerprint": fingerprint,
    }
    try:
        claimed = rt.host.source_reader(spec, rt.config)
    except PluginError as exc:
        # A plugin's bug, not a refusal: the ingestion started and failed,
        # so it is on record like any other failure.
        base["reader"] = exc.plugin or "unknown"
        raise claim_failed(rt, event, base, exc, clock) from exc.__cause__
    if claimed is None:
        what = (
            f"no reader for format {spec.effective_format!r}"
            if spec.effective_format
            else "the file has no suffix and no format was declared"
        )
        raise UnsupportedFormatError(
            f"{spec.path}: {what}; supported formats: {', '.join(rt.host.source_formats())}"
        )
    reader, reader_plugin = claimed
    base["reader"] = reader_plugin
    base["source_format"] = getattr(reader, "format", spec.effective_format)
    ctx = StagedContext(
        table=table,
        batch_id=batch_id,
        processed_at=started,
        source_file=source_name,
        ingested_at=started,
    )
    transition = Transition(rt, event, Layer.STAGED, interrupted_ingestion(base), draft, clock)
    read: ReadResult | None = None

    def write(pending: PendingFiles) -> StepOutcome:
        nonlocal read
        try:
            with blame(f"the reader of plugin {reader_plugin!r} (read)"):
                read = reader.read()
            request = StagedRequest(
                targets=targets,
                context=ctx,
                pending=pending,
                ledger=LedgerObligation(rows_in=read.records),
                read=read,
            )
            try:
                outcome = rt.executor.write_staged(request)
            except Exception as exc:
                _reraise_reader_error(read, exc, reader_plugin, rt.executor_label)
            if read.records is not None and outcome.rows_in != read.records:
                # Conservation: the rows written must be the records the
                # reader counted in the file, or nothing is published.
                raise ContractError(
                    f"{spec.path}: the reader counted {read.records} records, but "
                    f"{outcome.rows_out} were staged and {outcome.rows_quarantined} "
                    "quarantined; nothing was written"
                )
            return outcome
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def record(outcome: StepOutcome) -> IngestionRecord:
        assert read is not None
        return IngestionRecord(
            **base,
            row_count_in=outcome.rows_in,
            row_count_out=outcome.rows_out,
            rows_quarantined=outcome.rows_quarantined,
            header_mapping=read.header_mapping,
            reader_details=_jsonable(read.details),
            completed_at=utc_now(),
            status="partial" if outcome.rows_quarantined else "success",
            seconds=transition.seconds(),
        )

    def written() -> list[Path]:
        """The staged batch's files once staged: its parts (an executor writing
        ``files_per_version = "many"``), or its one file."""
        return draft.pending.parts_of(targets.data)

    def entry(outcome: StepOutcome) -> TableMetadata:
        return build_layer_entry(
            rt.config,
            layer=Layer.STAGED,
            table=table,
            domain=domain,
            # the entry describes the whole (append) version, in its order (so
            # that the profile adds the new files to the totals of the version
            # before); its columns and examples are the latest file's
            files=[
                *(rt.store.files(Layer.STAGED.value, table, previous) if previous else []),
                *written(),
            ],
            sample=written()[0],
            table_dir=rt.store.table_location(Layer.STAGED.value, table),
            declaration=declaration,
            upstream=[],
            lineage=staged_lineage(
                input_columns(written()[:1]), read.header_mapping if read else {}
            ),
            computed=None,
            decision=None,
            transform_script=None,
        )

    def batch(outcome: StepOutcome, made: LineageRecord) -> BatchEntry:
        return BatchEntry(
            batch_id=batch_id,
            file=targets.data.name,
            parts=[p.name for p in written()] if written() != [targets.data] else [],
            rows=outcome.rows_out,
            source_sha256=digest,
            source_file=source_name,
            ingested_at=started,
            record_id=record_id(made),
            fingerprint=fingerprint,
        )

    def failed(exc: BaseException, outcome: StepOutcome | None) -> IngestionRecord:
        return failed_ingestion(
            base, str(exc) or type(exc).__name__, utc_now(), transition.seconds()
        )

    try:
        done = transition.run(
            write=write,
            record=record,
            entry=entry,
            batch=batch,
            failed=failed,
            mode="append",
            previous=previous,
            quarantine=targets.quarantine,
            refusals=(SourceError, ContractError),
        )
    except (SourceError, ContractError) as exc:
        # logged at info: at the default level stderr holds the error line alone
        log.info("ingest.refused", table=table, source=source_name, error_type=type(exc).__name__)
        raise
    outcome = done.outcome
    log.info(
        "ingest.done",
        table=table,
        batch_id=batch_id,
        rows=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        seconds=done.record.seconds,
    )
    assert isinstance(done.record, IngestionRecord)
    return IngestResult(
        table=table,
        batch_id=batch_id,
        path=targets.data,
        rows=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        skipped=False,
        record=done.record,
        quarantine_path=targets.quarantine if outcome.rows_quarantined else None,
        reason=reason,
    )


def _reraise_reader_error(
    read: ReadResult, exc: Exception, reader_plugin: str, executor: str
) -> NoReturn:
    """Raise the error of ``write_staged``: the reader's own, when its stream
    raised one (an executor may report it as its own: DuckDB does), so that a
    ``SourceError`` found halfway through a file is a refusal, and a bug is
    blamed on the reader; else ``exc``, blamed on the executor."""
    error = read.stream_error
    if error is None or error is exc:
        who = f"the reader of plugin {reader_plugin!r} (its record stream)"
        with blame(who if error is exc else f"{executor} (write_staged)"):
            raise exc
    with blame(f"the reader of plugin {reader_plugin!r} (its record stream)"):
        raise error from None


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(dict(details), default=str))
    return plain
