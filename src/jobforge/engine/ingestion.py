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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog

from jobforge.catalog.declarations import TableDeclaration
from jobforge.engine.entries import build_layer_entry
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StagedContext, StepTargets
from jobforge.engine.quarantine import quarantine_dir
from jobforge.engine.records import blame, claim_failed, fail, finish
from jobforge.engine.recovery import Publication, failed_ingestion, interrupted_ingestion
from jobforge.engine.results import IngestResult
from jobforge.engine.runtime import Runtime
from jobforge.errors import ContractError, PluginError, SourceError, UnsupportedFormatError
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import IngestionRecord, new_id, utc_now
from jobforge.sources.base import SourceSpec, sha256_of
from jobforge.storage import versions
from jobforge.storage.atomic import temporary_path_for
from jobforge.storage.pending import PendingFiles, remove_published
from jobforge.storage.versions import BatchEntry

log = structlog.get_logger("jobforge")


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
    <jobforge.engine.pipeline.PipelineEngine.ingest>`."""
    staged_dir = rt.layer_dir(Layer.STAGED)
    table_dir = versions.table_dir(staged_dir, table)
    previous = versions.read_current(staged_dir, table)
    digest = sha256_of(spec.path)
    if previous is not None:
        same = next((b for b in previous.batches if b.source_sha256 == digest), None)
        if same is not None and not force:
            log.info("ingest.skipped", table=table, batch_id=same.batch_id, sha256=digest)
            return IngestResult(
                table=table,
                batch_id=same.batch_id,
                path=table_dir / same.file,
                rows=same.rows,
                rows_quarantined=0,
                skipped=True,
                record=None,
            )
    with _scratch_folder(table_dir) as scratch:
        return _ingest_batch(
            rt,
            dataclasses.replace(spec, scratch=scratch),
            table,
            domain,
            declaration,
            digest,
            previous,
        )


@contextlib.contextmanager
def _scratch_folder(table_dir: Path) -> Iterator[Path]:
    """The reader's scratch folder (:attr:`SourceSpec.scratch`), beside the
    table's staged files under a temporary name: removed when the ingestion
    ends, and by the next run on the table after a crash."""
    scratch = temporary_path_for(table_dir / "reader")
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _ingest_batch(
    rt: Runtime,
    spec: SourceSpec,
    table: str,
    domain: str,
    declaration: TableDeclaration | None,
    digest: str,
    previous: versions.CurrentVersion | None,
) -> IngestResult:
    """Ingest ``spec`` as a new batch (it is not an already ingested file)."""
    staged_dir = rt.layer_dir(Layer.STAGED)
    table_dir = versions.table_dir(staged_dir, table)
    batch_id = new_id()
    started = utc_now()
    clock = time.perf_counter()
    event = TransitionEvent(table, "source", "staged", batch_id, rt.config, domain, rt.run_id)
    targets = StepTargets(
        data=table_dir / versions.batch_file_name(batch_id),
        quarantine=quarantine_dir(rt.config, table, Layer.STAGED)
        / versions.batch_file_name(batch_id),
    )
    source_name = spec.path.as_posix()
    base = {
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
    pending = PendingFiles()
    publication = Publication(rt.config, Layer.STAGED, interrupted_ingestion(base))
    try:
        rt.host.before_transition(event)
        try:
            with blame(f"the reader of plugin {reader_plugin!r} (read)"):
                read = reader.read()
            ctx = StagedContext(
                table=table,
                batch_id=batch_id,
                processed_at=started,
                source_file=source_name,
                ingested_at=started,
            )
            with blame(f"{rt.executor_label} (write_staged)"):
                outcome = rt.executor.write_staged(read, targets, ctx, pending)
            if read.records is not None and outcome.rows_in != read.records:
                # Conservation: the rows written must be the records the
                # reader counted in the file, or nothing is published.
                raise ContractError(
                    f"{spec.path}: the reader counted {read.records} records, but "
                    f"{outcome.rows_out} were staged and {outcome.rows_quarantined} "
                    "quarantined; nothing was written"
                )
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        status = "partial" if outcome.rows_quarantined else "success"
        record = IngestionRecord(
            **base,
            row_count_in=outcome.rows_in,
            row_count_out=outcome.rows_out,
            rows_quarantined=outcome.rows_quarantined,
            header_mapping=read.header_mapping,
            reader_details=_jsonable(read.details),
            completed_at=utc_now(),
            status=status,
            seconds=round(time.perf_counter() - clock, 6),
        )
        published = publication.commit_files(pending, record)
        try:
            entry = BatchEntry(
                batch_id=batch_id,
                file=targets.data.name,
                rows=outcome.rows_out,
                source_sha256=digest,
                source_file=source_name,
                ingested_at=started,
            )
            metadata = build_layer_entry(
                rt.config,
                layer=Layer.STAGED,
                table=table,
                domain=domain,
                # the entry describes the whole (append) version, newest batch
                # first so that its columns and examples are the latest file's
                files=[targets.data, *(previous.files(table_dir) if previous else [])],
                table_dir=table_dir,
                declaration=declaration,
                upstream=[],
                outcome=outcome,
                transform_script=None,
            )
            publication.before_switch(metadata)
            version = versions.publish(
                staged_dir,
                table,
                "staged",
                [entry],
                mode="append",
                updated_at=record.completed_at,
                record_id=record.ingestion_id,
                previous=previous,
            )
        except BaseException:
            remove_published(published)
            raise
    except (SourceError, ContractError) as exc:
        pending.abort()
        publication.done()
        # Bad input is refused before anything is written: no failed record
        # either, only the error (the CLI prints it on one line, so the
        # event is logged at info: at the default level stderr holds that
        # line alone).
        log.info("ingest.refused", table=table, source=source_name, error=str(exc))
        raise
    except Exception as exc:
        pending.abort()
        failed = failed_ingestion(
            base,
            str(exc) or type(exc).__name__,
            utc_now(),
            round(time.perf_counter() - clock, 6),
        )
        raise fail(rt, event, failed, exc, publication) from exc
    finish(rt, event, record, metadata, version, publication)
    if outcome.rows_quarantined:
        rt.host.rows_quarantined(event, outcome.rows_quarantined, targets.quarantine)
    log.info(
        "ingest.done",
        table=table,
        batch_id=batch_id,
        rows=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        seconds=record.seconds,
    )
    return IngestResult(
        table=table,
        batch_id=batch_id,
        path=targets.data,
        rows=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        skipped=False,
        record=record,
        quarantine_path=targets.quarantine if outcome.rows_quarantined else None,
    )


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(details), default=str))
