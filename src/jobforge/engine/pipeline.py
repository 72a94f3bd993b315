"""The pipeline engine: a source file in, staged -> bronze -> silver -> gold out.

The engine owns the parts every layer shares: names are validated, the table is
locked, lifecycle hooks are called, the executor writes under temporary names,
the row ledger must balance, files are published and the "current" version is
switched atomically, and a truthful lineage record and catalog entry are
written. What differs between layers is the step the executor runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from jobforge.catalog.declarations import TableDeclaration, check_declaration
from jobforge.catalog.entries import (
    build_entry,
    load_entry,
    qualify_source_columns,
    write_entry,
)
from jobforge.catalog.schemas import ensure_schemas
from jobforge.catalog.shared import remove_shared_temporaries
from jobforge.engine.events import TransitionEvent
from jobforge.engine.executor import StagedContext, StepContext, StepOutcome, StepTargets
from jobforge.engine.ledger import ledger_for
from jobforge.engine.quarantine import AREAS, DUPLICATES, quarantine_dir
from jobforge.engine.recovery import (
    Publication,
    interrupted_ingestion,
    interrupted_transition,
    recover,
)
from jobforge.engine.results import IngestResult, PipelineResult, PromotionResult
from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec, Transform
from jobforge.errors import (
    ContractError,
    JobforgeError,
    PluginError,
    SourceError,
    TransitionError,
    UnsupportedFormatError,
)
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import (
    IngestionRecord,
    TableMetadata,
    TransitionRecord,
    new_id,
    utc_now,
)
from jobforge.sources.base import SourceSpec, check_readable_file, sha256_of
from jobforge.storage import versions
from jobforge.storage.atomic import remove_stale_temporaries, remove_stale_temporaries_of
from jobforge.storage.locks import DEFAULT_TIMEOUT_S, catalog_lock, table_lock
from jobforge.storage.names import ensure_no_symlinks, validate_name
from jobforge.storage.pending import PendingFiles
from jobforge.storage.versions import BatchEntry, WriteMode

log = structlog.get_logger("jobforge")


class PipelineEngine:
    """Runs ingestion and promotions for one :class:`PipelineConfig`.

    ``mode``: ``replace`` (default; each promotion's batch becomes the table's
    current version) or ``append`` (it is added to the current version). The
    staged layer always keeps every batch.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        plugins: Sequence[object] = (),
        *,
        mode: WriteMode = "replace",
        lock_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if config is None:
            config = PipelineConfig(plugins=plugins)
        elif plugins:
            config = PipelineConfig(
                config.data_root,
                plugins=[*config.explicit_plugins, *plugins],
                disable_plugins=config.disable_plugins,
                load_plugins=config.load_plugins,
                entry_points=config.entry_points,
            )
        self.config = config
        self.mode: WriteMode = mode
        self.lock_timeout = lock_timeout
        self._held: set[str] = set()
        self._active: str | None = None
        self.host = config.plugins
        self.executor = self.host.executor(config)
        kind = type(self.executor)
        self._executor_label = f"the executor {kind.__module__}.{kind.__qualname__}"
        roots = self._write_roots()
        for path in [*config.layout_paths(), config.locks_path()]:
            ensure_no_symlinks(roots, path)
        config.ensure_layout()
        remove_shared_temporaries(config)
        ensure_schemas(config, lock_timeout)

    # -- shared machinery ------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, table: str) -> Iterator[None]:
        if table in self._held:
            yield
            return
        self._check_no_symlinks(table)
        with table_lock(self.config.locks_path(), table, self.lock_timeout):
            self._held.add(table)
            try:
                self._remove_temporaries(table)
                recover(self.config, table, self._write_entry)
                yield
            finally:
                self._held.discard(table)

    def _write_roots(self) -> list[Path]:
        """Where writes may go: the data root, then layout folders a plugin put elsewhere."""
        return [self.config.data_root, *self.config.layout_paths()]

    def _check_no_symlinks(self, table: str) -> None:
        """Refuse to run on ``table`` if a symbolic link was planted where its
        files go (a link would send writes outside the data root)."""
        config = self.config
        tables = config.catalog_tables_path()
        paths = [
            *(config.layer_path(layer) / table for layer in Layer),
            config.quarantine_path() / table,
            *(quarantine_dir(config, table, area) for area in AREAS),
            config.catalog_lineage_path() / table,
            *(tables / layer.value / "_history" for layer in Layer),
        ]
        roots = self._write_roots()
        for path in paths:
            ensure_no_symlinks(roots, path)

    def _remove_temporaries(self, table: str) -> None:
        """Remove what an interrupted run on ``table`` left under temporary names."""
        config = self.config
        for layer in Layer:
            remove_stale_temporaries(config.layer_path(layer) / table)
        with catalog_lock(config.locks_path(), table, self.lock_timeout):
            for layer in Layer:
                entries = config.catalog_tables_path() / layer.value
                remove_stale_temporaries_of(entries, f"{table}.json")
                remove_stale_temporaries_of(entries / "_history", f"{table}.json")
        remove_stale_temporaries(config.quarantine_path() / table)
        remove_stale_temporaries(config.catalog_lineage_path() / table)
        for name in (f"{table}.journal", f"{table}.holder"):
            remove_stale_temporaries_of(config.locks_path(), name)

    def _write_entry(self, metadata: TableMetadata) -> None:
        """Write a catalog entry under the catalog locks of the table and of the
        upstream tables whose entries get it added to their ``downstream_tables``
        (a gold build on another process may add itself to this entry at any
        time: what it added since the entry was built is kept)."""
        names = {metadata.table_name} | {key.partition(".")[2] for key in metadata.upstream_tables}
        with contextlib.ExitStack() as stack:
            for name in sorted(names):
                stack.enter_context(catalog_lock(self.config.locks_path(), name, self.lock_timeout))
            existing = load_entry(self.config, metadata.layer, metadata.table_name)
            if existing is not None:
                added = [
                    d for d in existing.downstream_tables if d not in metadata.downstream_tables
                ]
                if added:
                    metadata = metadata.model_copy(
                        update={"downstream_tables": [*metadata.downstream_tables, *added]}
                    )
            write_entry(self.config, metadata)

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        if self._active is not None:
            raise JobforgeError(
                f"cannot start {what} while {self._active} is running "
                "(lifecycle hooks must not start transitions)"
            )
        self._active = what
        try:
            yield
        finally:
            self._active = None

    def _layer_dir(self, layer: Layer) -> Path:
        return self.config.layer_path(layer)

    @contextlib.contextmanager
    def lock(self, table_name: str) -> Iterator[None]:
        """Hold ``table_name``'s lock across several steps (an ingestion and its
        promotions), so that no other process runs on the table in between: a
        concurrent run would otherwise replace the bronze version whose batch the
        next step promotes. Re-entrant; the steps inside take it again for free."""
        with self._locked(validate_name(table_name)):
            yield

    def current(self, layer: Layer | str, table: str) -> versions.CurrentVersion | None:
        """The current version of ``table`` in ``layer`` (``None`` if never published)."""
        return versions.read_current(self._layer_dir(Layer(layer)), table)

    def _fail(
        self,
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
        notes = self._record_failure(event, record, exc, publication)
        message = str(exc) if isinstance(exc, JobforgeError) else f"{type(exc).__name__}: {exc}"
        message += "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
        error = TransitionError(
            f"{event.source_layer} -> {event.target_layer} of {event.table!r} failed: {message}"
            + "".join(f"; also: {note}" for note in notes)
        )
        error.exit_code = getattr(exc, "exit_code", 1)
        return error

    def _record_failure(
        self,
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
            self.host.write_lineage(record, self.config)
        except Exception as write_exc:
            notes.append(
                f"the failed record was not written ({write_exc}); "
                f"the next run on {event.table!r} writes it"
            )
        else:
            if publication is not None:
                publication.done()
        try:
            self.host.transition_failed(event, exc)
        except Exception as hook_exc:
            notes.append(str(hook_exc))
        log.error(
            "transition.failed",
            table=event.table,
            source_layer=event.source_layer,
            target_layer=event.target_layer,
            batch_id=event.batch_id,
            error=str(exc),
        )
        return notes

    def _claim_failed(
        self, event: TransitionEvent, base: dict[str, Any], exc: PluginError, clock: float
    ) -> PluginError:
        """Record an ingestion whose ``jobforge_source_reader`` hook raised, and
        return the error to raise: ``exc`` itself (it names the plugin and the
        hook), or, if recording failed too, the same message with what went wrong.

        Nothing was written yet; the failed record goes through the journal like
        any other, so that the next run on the table writes it if the lineage
        writer fails now.
        """
        failed = IngestionRecord(
            **base,
            row_count_in=0,
            row_count_out=0,
            completed_at=utc_now(),
            status="failed",
            errors=[str(exc)],
            seconds=round(time.perf_counter() - clock, 6),
        )
        publication = Publication(self.config, Layer.STAGED, failed)
        notes = self._record_failure(event, failed, exc, publication)
        if not notes:
            return exc
        return PluginError(
            str(exc) + "".join(f"; also: {note}" for note in notes), plugin=exc.plugin
        )

    # -- ingestion ----------------------------------------------------------------------
    def ingest(
        self,
        source: str | Path,
        table_name: str,
        domain: str = "",
        *,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        force: bool = False,
        declaration: TableDeclaration | None = None,
    ) -> IngestResult:
        """Read ``source`` into the staged layer as a new batch of ``table_name``.

        The identical file (same sha256) already ingested into the table is not
        read again: the result points at its batch with ``skipped=True``, unless
        ``force``.
        """
        table = validate_name(table_name)
        if domain:
            validate_name(domain, "domain")
        path = Path(source)
        check_readable_file(path)
        spec = SourceSpec(path=path, format=format, options=dict(options or {}))
        check_declaration(self.config, declaration, table)
        with self._guard(f"ingestion of {table!r}"), self._locked(table):
            return self._ingest(spec, table, domain, force, declaration)

    def _ingest(
        self,
        spec: SourceSpec,
        table: str,
        domain: str,
        force: bool,
        declaration: TableDeclaration | None,
    ) -> IngestResult:
        staged_dir = self._layer_dir(Layer.STAGED)
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
        batch_id = new_id()
        started = utc_now()
        clock = time.perf_counter()
        event = TransitionEvent(table, "source", "staged", batch_id, self.config, domain)
        targets = StepTargets(
            data=table_dir / versions.batch_file_name(batch_id),
            quarantine=quarantine_dir(self.config, table, Layer.STAGED)
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
            claimed = self.host.source_reader(spec, self.config)
        except PluginError as exc:
            # A plugin's bug, not a refusal: the ingestion started and failed,
            # so it is on record like any other failure.
            base["reader"] = exc.plugin or "unknown"
            raise self._claim_failed(event, base, exc, clock) from exc.__cause__
        if claimed is None:
            what = (
                f"no reader for format {spec.effective_format!r}"
                if spec.effective_format
                else "the file has no suffix and no format was declared"
            )
            raise UnsupportedFormatError(
                f"{spec.path}: {what}; supported formats: {', '.join(self.host.source_formats())}"
            )
        reader, reader_plugin = claimed
        base["reader"] = reader_plugin
        base["source_format"] = getattr(reader, "format", spec.effective_format)
        pending = PendingFiles()
        publication = Publication(self.config, Layer.STAGED, interrupted_ingestion(base))
        try:
            self.host.before_transition(event)
            try:
                with _blame(f"the reader of plugin {reader_plugin!r} (read)"):
                    read = reader.read()
                ctx = StagedContext(
                    table=table,
                    batch_id=batch_id,
                    processed_at=started,
                    source_file=source_name,
                    ingested_at=started,
                )
                with _blame(f"{self._executor_label} (write_staged)"):
                    outcome = self.executor.write_staged(read, targets, ctx, pending)
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
                metadata = self._build_entry(
                    Layer.STAGED,
                    table,
                    domain,
                    # the entry describes the whole (append) version, newest batch
                    # first so that its columns and examples are the latest file's
                    [targets.data, *(previous.files(table_dir) if previous else [])],
                    table_dir,
                    declaration,
                    [],
                    outcome,
                    None,
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
                _remove(published)
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
            failed = IngestionRecord(
                **base,
                row_count_in=0,
                row_count_out=0,
                completed_at=utc_now(),
                status="failed",
                errors=[str(exc) or type(exc).__name__],
                seconds=round(time.perf_counter() - clock, 6),
            )
            raise self._fail(event, failed, exc, publication) from exc
        self._finish(event, record, metadata, version, publication)
        if outcome.rows_quarantined:
            self.host.rows_quarantined(event, outcome.rows_quarantined, targets.quarantine)
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

    def _build_entry(
        self,
        layer: Layer,
        table: str,
        domain: str,
        files: list[Path],
        table_dir: Path,
        declaration: TableDeclaration | None,
        upstream: list[str],
        outcome: StepOutcome,
        transform_script: str | None,
    ) -> TableMetadata:
        return build_entry(
            self.config,
            layer=layer.value,
            table=table,
            domain=domain,
            files=files,
            table_dir=table_dir,
            now=utc_now(),
            declaration=declaration,
            upstream=upstream,
            source_columns=qualify_source_columns(outcome.source_columns, upstream, layer.value),
            transform_script=transform_script,
        )

    def _finish(
        self,
        event: TransitionEvent,
        record: TransitionRecord | IngestionRecord,
        metadata: TableMetadata,
        version: versions.CurrentVersion,
        publication: Publication,
    ) -> None:
        """After the version switch: lineage, catalog entry, after-hooks.

        The version is published at this point, so an error here does not undo
        it: the error says so. If the record or the entry could not be written,
        the journal stays and the next run on the table writes them.
        """
        published = (
            f"{event.source_layer} -> {event.target_layer} of {event.table!r} was published "
            f"(version {version.version}, record {version.record_id})"
        )
        try:
            self.host.write_lineage(record, self.config)
            self._write_entry(metadata)
        except Exception as exc:
            raise TransitionError(
                f"{published}, but its lineage record or catalog entry was not written: "
                f"{exc}; the next run on {event.table!r} writes them"
            ) from exc
        publication.done()
        try:
            self.host.after_transition(event, record)
        except Exception as exc:
            raise TransitionError(f"{published}, but then {exc}") from exc

    # -- promotions -----------------------------------------------------------------------
    def _resolve_batch(self, layer: Layer, table: str, batch_id: str | None) -> BatchEntry:
        current = self.current(layer, table)
        if current is None or not current.batches:
            raise ContractError(f"table {table!r} has no {layer.value} version to promote")
        if batch_id is None:
            return current.batches[-1]
        found = next((b for b in current.batches if b.batch_id == batch_id), None)
        if found is None:
            raise ContractError(
                f"batch {batch_id!r} is not in the {layer.value} version of {table!r}"
            )
        return found

    def _domain_of(self, layer: Layer, table: str, domain: str) -> str:
        if domain:
            return validate_name(domain, "domain")
        entry = load_entry(self.config, layer.value, table)
        return entry.domain if entry else ""

    def promote_to_bronze(
        self,
        table_name: str,
        schema: BronzeSchema | None = None,
        *,
        batch_id: str | None = None,
        domain: str = "",
        declaration: TableDeclaration | None = None,
        mode: WriteMode | None = None,
    ) -> PromotionResult:
        """Rename, cast and standardise a staged batch (default: the latest)."""
        table = validate_name(table_name)
        _validate_ids(batch_id, domain)
        schema = schema or BronzeSchema()
        with self._guard(f"bronze promotion of {table!r}"), self._locked(table):
            batch = self._resolve_batch(Layer.STAGED, table, batch_id)
            staged = versions.table_dir(self._layer_dir(Layer.STAGED), table) / batch.file
            return self._promote(
                table=table,
                source=Layer.STAGED,
                target=Layer.BRONZE,
                batch=batch,
                domain=self._domain_of(Layer.STAGED, table, domain),
                declaration=declaration,
                mode=mode or self.mode,
                upstream=[f"staged.{table}"],
                input_files=[staged],
                transform_script=None,
                step=lambda targets, ctx, pending: self.executor.write_bronze(
                    [staged], batch.rows, schema, targets, ctx, pending
                ),
                quarantine=True,
            )

    def promote_to_silver(
        self,
        table_name: str,
        spec: SilverSpec | None = None,
        *,
        batch_id: str | None = None,
        domain: str = "",
        declaration: TableDeclaration | None = None,
        mode: WriteMode | None = None,
    ) -> PromotionResult:
        """De-duplicate, validate and transform a bronze batch (default: the latest)."""
        table = validate_name(table_name)
        _validate_ids(batch_id, domain)
        spec = spec or SilverSpec()
        with self._guard(f"silver promotion of {table!r}"), self._locked(table):
            batch = self._resolve_batch(Layer.BRONZE, table, batch_id)
            bronze = versions.table_dir(self._layer_dir(Layer.BRONZE), table) / batch.file
            transforms = [t if isinstance(t, str) else None for t in spec.transforms]
            return self._promote(
                table=table,
                source=Layer.BRONZE,
                target=Layer.SILVER,
                batch=batch,
                domain=self._domain_of(Layer.BRONZE, table, domain),
                declaration=declaration,
                mode=mode or self.mode,
                upstream=[f"bronze.{table}"],
                input_files=[bronze],
                transform_script=", ".join(t for t in transforms if t) or None,
                step=lambda targets, ctx, pending: self.executor.write_silver(
                    [bronze], batch.rows, spec, targets, ctx, pending
                ),
                quarantine=True,
                duplicates=True,
            )

    def promote_to_gold(
        self,
        spec: GoldSpec,
        *,
        declaration: TableDeclaration | None = None,
    ) -> PromotionResult:
        """Build a gold table from the current versions of its input tables.

        An input is looked up in gold first (gold tables may build on gold),
        then in silver.
        """
        table = spec.name
        with self._guard(f"gold build of {table!r}"), self._locked(table):
            inputs: dict[str, list[Path]] = {}
            upstream: list[str] = []
            rows_in = 0
            for name in spec.inputs:
                for layer in (Layer.GOLD, Layer.SILVER):
                    if name == table and layer is Layer.GOLD:
                        continue
                    current = self.current(layer, name)
                    if current is not None:
                        break
                else:
                    raise ContractError(
                        f"gold {table}: input {name!r} has no silver or gold version"
                    )
                inputs[name] = current.files(versions.table_dir(self._layer_dir(layer), name))
                upstream.append(f"{layer.value}.{name}")
                rows_in += current.row_count
            run_id = new_id()
            batch = BatchEntry(batch_id=run_id, file=versions.batch_file_name(run_id), rows=rows_in)

            def step(targets: StepTargets, ctx: StepContext, pending: PendingFiles) -> StepOutcome:
                outcome = self.executor.write_gold(inputs, spec, targets, ctx, pending)
                outcome.rows_in = rows_in
                return outcome

            return self._promote(
                table=table,
                source=Layer.SILVER,
                target=Layer.GOLD,
                batch=batch,
                domain=spec.domain,
                declaration=declaration
                or (TableDeclaration(description=spec.description) if spec.description else None),
                mode="replace",
                upstream=upstream,
                input_files=[p for paths in inputs.values() for p in paths],
                transform_script=spec.sql if spec.sql is not None else spec.transform_label,
                step=step,
                quarantine=False,
                input_tables=upstream,
            )

    def _promote(
        self,
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
        step: Callable[[StepTargets, StepContext, PendingFiles], StepOutcome],
        quarantine: bool,
        duplicates: bool = False,
        input_tables: list[str] | None = None,
    ) -> PromotionResult:
        check_declaration(self.config, declaration, table)
        target_dir = self._layer_dir(target)
        table_dir = versions.table_dir(target_dir, table)
        previous = versions.read_current(target_dir, table)
        started = utc_now()
        clock = time.perf_counter()
        event = TransitionEvent(
            table, source.value, target.value, batch.batch_id, self.config, domain
        )
        rejected_dir = quarantine_dir(self.config, table, target)
        duplicates_dir = quarantine_dir(self.config, table, DUPLICATES)
        # A batch promoted again gets a fresh file name: a file a pointer lists is
        # never overwritten (see versions.new_batch_file_name).
        name = versions.new_batch_file_name(
            batch.batch_id,
            (previous.version + 1) if previous else 1,
            [table_dir, rejected_dir, duplicates_dir],
        )
        targets = StepTargets(
            data=table_dir / name,
            quarantine=rejected_dir / name if quarantine else None,
            duplicates=duplicates_dir / name if duplicates else None,
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
            "input_tables": input_tables or upstream,
        }
        outcome: StepOutcome | None = None
        publication = Publication(self.config, target, interrupted_transition(base, batch.rows))
        try:
            self.host.before_transition(event)
            ctx = StepContext(table=table, batch_id=batch.batch_id, processed_at=started)
            with _blame(f"{self._executor_label} (write_{target.value})"):
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
                metadata = self._build_entry(
                    target,
                    table,
                    domain,
                    [targets.data]
                    if mode == "replace"
                    else [*(previous.files(table_dir) if previous else []), targets.data],
                    table_dir,
                    declaration,
                    upstream,
                    outcome,
                    transform_script,
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
                _remove(published)  # fresh names: no pointer lists them
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
                ledger=_failed_ledger(outcome, target, batch.rows),
                seconds=round(time.perf_counter() - clock, 6),
            )
            raise self._fail(event, failed, exc, publication) from exc
        self._finish(event, record, metadata, version, publication)
        if ledger.rows_quarantined and targets.quarantine is not None:
            self.host.rows_quarantined(event, ledger.rows_quarantined, targets.quarantine)
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

    # -- whole runs ----------------------------------------------------------------------
    def run_full_pipeline(
        self,
        source: str | Path,
        table_name: str,
        domain: str = "",
        *,
        bronze_schema: BronzeSchema | None = None,
        silver: SilverSpec | None = None,
        silver_rules: Sequence[Rule] = (),
        silver_transforms: Sequence[Transform | str] = (),
        dedupe: str | list[str] = "row",
        gold_transforms: Sequence[GoldSpec] = (),
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        force: bool = False,
        declaration: TableDeclaration | None = None,
    ) -> PipelineResult:
        """Ingest ``source`` and promote its batch through bronze and silver, then
        build each gold table of ``gold_transforms`` in order."""
        if silver is None:
            silver = SilverSpec(
                dedupe=dedupe, rules=list(silver_rules), transforms=list(silver_transforms)
            )
        with self.lock(table_name):  # no other run on the table between the steps
            ingested = self.ingest(
                source,
                table_name,
                domain,
                format=format,
                options=options,
                force=force,
                declaration=declaration,
            )
            bronze = self.promote_to_bronze(
                table_name,
                bronze_schema,
                batch_id=ingested.batch_id,
                domain=domain,
                declaration=declaration,
            )
            silver_result = self.promote_to_silver(
                table_name,
                silver,
                batch_id=ingested.batch_id,
                domain=domain,
                declaration=declaration,
            )
        gold = [self.promote_to_gold(spec) for spec in gold_transforms]
        return PipelineResult(
            table=table_name,
            batch_id=ingested.batch_id,
            ingest=ingested,
            bronze=bronze,
            silver=silver_result,
            gold=gold,
        )

    def replay(
        self,
        table_name: str,
        bronze_schema: BronzeSchema | None = None,
        silver: SilverSpec | None = None,
    ) -> list[PromotionResult]:
        """Re-derive bronze and silver of a table from its staged batches.

        In ``replace`` mode the latest staged batch is promoted again; in
        ``append`` mode every staged batch is, oldest first, starting from an
        empty version.
        """
        with self.lock(table_name):  # the batches replayed are the ones read here
            staged = self.current(Layer.STAGED, table_name)
            if staged is None:
                raise ContractError(f"table {table_name!r} has no staged batches to replay")
            batches = staged.batches if self.mode == "append" else staged.batches[-1:]
            results = []
            for index, batch in enumerate(batches):
                mode: WriteMode = "replace" if index == 0 else "append"
                results.append(
                    self.promote_to_bronze(
                        table_name, bronze_schema, batch_id=batch.batch_id, mode=mode
                    )
                )
                results.append(
                    self.promote_to_silver(table_name, silver, batch_id=batch.batch_id, mode=mode)
                )
        return results


def _failed_ledger(outcome: StepOutcome | None, target: Layer, rows_in: int) -> Any:
    """The ledger of a failed transition: what the step reported, if it can be
    stated at all (the numbers that made it fail may not even form a ledger)."""
    if outcome is not None:
        with contextlib.suppress(ValueError):
            return ledger_for(outcome, target)
    return _empty_ledger(outcome.rows_in if outcome else rows_in)


def _empty_ledger(rows_in: int) -> Any:
    from jobforge.pipeline.models import RowLedger

    return RowLedger(rows_in=rows_in, rows_out=0)


@contextlib.contextmanager
def _blame(who: str) -> Iterator[None]:
    """Name the plugin code an unexpected exception came from (as a note, so the
    exception and the failed record's error stay the original's)."""
    try:
        yield
    except JobforgeError:
        raise
    except Exception as exc:
        exc.add_note(f"raised by {who}")
        raise


def _validate_ids(batch_id: str | None, domain: str) -> None:
    """Check the ids a caller passes before the table is locked or read."""
    if batch_id is not None:
        validate_name(batch_id, "batch id")
    if domain:
        validate_name(domain, "domain")


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(dict(details), default=str))
