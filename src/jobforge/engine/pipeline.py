"""The pipeline engine: a source file in, staged -> bronze -> silver -> gold out.

:class:`PipelineEngine` is the library's entry point. It validates names,
holds the table's lock (:mod:`.tables`) and hands the work to ingestion
(:mod:`.ingestion`) and promotions (:mod:`.promotion`): the executor writes
under temporary names, the row ledger must balance, files are published and
the "current" version is switched atomically, and a truthful lineage record
and catalog entry are written (:mod:`.records`). What differs between layers
is the step the executor runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from jobforge.catalog.declarations import TableDeclaration, check_declaration
from jobforge.catalog.derivation import StepLineage
from jobforge.engine.capabilities import gold_problems, silver_problems, store_problems
from jobforge.engine.column_lineage import (
    bronze_lineage,
    gold_lineage,
    input_columns,
    silver_lineage,
)
from jobforge.engine.executor import (
    BronzeRequest,
    Executor,
    GoldRequest,
    LedgerObligation,
    SilverRequest,
    StepContext,
    StepOutcome,
    StepTargets,
)
from jobforge.engine.fingerprint import (
    Fingerprint,
    bronze_parts,
    gold_parts,
    silver_parts,
    step_fingerprint,
)
from jobforge.engine.ingestion import ingest_source, same_batch, source_fingerprint, why_new
from jobforge.engine.lineage_memo import memo_file
from jobforge.engine.promotion import (
    GoldInputs,
    batch_files,
    decide,
    domain_of,
    gold_inputs,
    promote,
    resolve_batch,
)
from jobforge.engine.results import IngestPlan, IngestResult, PipelineResult, PromotionResult
from jobforge.engine.runtime import NeedsLock, Runtime
from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec, Transform
from jobforge.engine.tables import TableLocks
from jobforge.errors import ContractError, JobforgeError
from jobforge.hooks.host import PluginHost
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import InputRef, new_id
from jobforge.sources.base import SourceSpec, check_readable_file
from jobforge.storage import versions
from jobforge.storage.digest import sha256_of
from jobforge.storage.journal import journal_path
from jobforge.storage.locks import DEFAULT_TIMEOUT_S
from jobforge.storage.names import validate_name
from jobforge.storage.pending import PendingFiles
from jobforge.storage.roots import WrittenFolders
from jobforge.storage.versions import BatchEntry, WriteMode


class PipelineEngine:
    """Runs ingestion and promotions for one :class:`PipelineConfig`.

    ``mode``: ``replace`` (default; each promotion's batch becomes the table's
    current version) or ``append`` (it is added to the current version). The
    staged layer always keeps every batch.

    ``run_id``: the run the steps of this engine belong to (the project runner
    gives every ``jobforge run`` one); it reaches the lifecycle hooks as
    :attr:`TransitionEvent.run_id <jobforge.engine.events.TransitionEvent.run_id>`.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        plugins: Sequence[object] = (),
        *,
        mode: WriteMode = "replace",
        lock_timeout: float = DEFAULT_TIMEOUT_S,
        run_id: str | None = None,
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
                plugin_settings=config.plugin_settings,
                executor=config.executor,
            )
        self.mode: WriteMode = mode
        host = config.plugins
        executor, plugin = host.executor_with_plugin(config)
        identity = f"{getattr(executor, 'name', type(executor).__name__)} {host.identity(plugin)}"
        self._rt = Runtime(config, host, executor, lock_timeout, identity, run_id)
        self._locks = TableLocks(config, lock_timeout)
        self._active: str | None = None
        self._written: WrittenFolders | None = None
        config.check_write_paths()

    def _written_folders(self) -> WrittenFolders:
        """The folders a source may not lie in, resolved on the first ingestion
        of this engine (checked for links when it was made) and kept: a project
        run ingests many sources with one engine."""
        if self._written is None:
            self._written = WrittenFolders([*self.config.layout_paths(), self.config.locks_path()])
        return self._written

    def for_thread(self) -> PipelineEngine:
        """An engine of the same config, mode and run for another thread: its own
        executor, transition guard and table locks (which this engine keeps per
        engine, not per thread); the catalog's tidying and the layout are done
        once for both."""
        other = PipelineEngine(
            self.config, mode=self.mode, lock_timeout=self.lock_timeout, run_id=self.run_id
        )
        other._rt = self._rt.for_thread(other._rt.executor, other._rt.executor_identity)
        return other

    @property
    def config(self) -> PipelineConfig:
        return self._rt.config

    @property
    def host(self) -> PluginHost:
        """The plugins of :attr:`config`, through which every hook is called."""
        return self._rt.host

    @property
    def executor(self) -> Executor:
        """The execution engine the ``jobforge_executor`` hook chose."""
        return self._rt.executor

    @property
    def run_id(self) -> str | None:
        """The run the steps of this engine belong to (``None``: not given)."""
        return self._rt.run_id

    @property
    def lock_timeout(self) -> float:
        """How long a step waits for a table's lock, in seconds."""
        return self._rt.lock_timeout

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        if self._active is not None:
            raise JobforgeError(
                f"cannot start {what} while {self._active} is running "
                "(lifecycle hooks must not start transitions)"
            )
        self._active = what
        try:
            # Creating an engine writes nothing; its first step removes what
            # killed writers left in the shared parts of the catalog.
            self._rt.tidy_once()
            yield
        finally:
            self._active = None

    def tidy(self) -> None:
        """Remove what killed writers left in the shared parts of the catalog now
        (each engine does it before its first step, once)."""
        self._rt.tidy_once()

    @contextlib.contextmanager
    def lock(self, table_name: str) -> Iterator[None]:
        """Hold ``table_name``'s lock across several steps (an ingestion and its
        promotions), so that no other process runs on the table in between: a
        concurrent run would otherwise replace the bronze version whose batch the
        next step promotes. Re-entrant; the steps inside take it again for free."""
        with self._locks.hold(validate_name(table_name)):
            yield

    @contextlib.contextmanager
    def unlocked(self, table_name: str) -> Iterator[None]:
        """Run a table's steps without its lock, only to find that every one of
        them is up to date; the first that would run or write anything raises
        :class:`~jobforge.engine.runtime.NeedsLock`, and so does a table whose
        journal says a publication was interrupted (it needs recovery).

        Up to date means the source's bytes and every step's fingerprint equal
        what the current versions were published with. Version pointers are
        replaced atomically, so each is read whole; a concurrent run that
        changes the table makes a later step's fingerprint differ from the
        pointer it reads, and the caller then takes the lock. What a killed run
        left under temporary names is removed by the next run that takes the
        lock.
        """
        table = validate_name(table_name)
        if self._locks.held(table):
            yield
            return
        if os.path.lexists(journal_path(self.config.locks_path(), table)):
            raise NeedsLock()
        with self._locks.assume(table):
            self._rt.set_unlocked(True)
            try:
                yield
            finally:
                self._rt.set_unlocked(False)

    def current(self, layer: Layer | str, table: str) -> versions.CurrentVersion | None:
        """The current version of ``table`` in ``layer`` (``None`` if never published)."""
        return self._rt.current(Layer(layer), table)

    def _refuse_store(self, layer: Layer, table: str) -> None:
        """Refuse a step whose outputs the table store cannot keep (capability
        ``files_per_version``), before anything is read or written."""
        _refuse(store_problems(self.executor, self.config.store, f"{layer.value} {table!r}"))

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
        self._written_folders().check_outside(path)
        spec = SourceSpec(path=path, format=format, options=dict(options or {}))
        check_declaration(self.config, declaration, table, Layer.STAGED.value)
        self._refuse_store(Layer.STAGED, table)
        with self._guard(f"ingestion of {table!r}"), self._locks.hold(table):
            return ingest_source(self._rt, spec, table, domain, force, declaration)

    # -- promotions -----------------------------------------------------------------------
    def promote_to_bronze(
        self,
        table_name: str,
        schema: BronzeSchema | None = None,
        *,
        batch_id: str | None = None,
        domain: str = "",
        declaration: TableDeclaration | None = None,
        mode: WriteMode | None = None,
        force: bool = False,
    ) -> PromotionResult:
        """Rename, cast and standardise a staged batch (default: the latest).

        Unless ``force``, nothing is done when the bronze version already holds
        this batch made from the same staged file, declaration and executor
        (the result says ``up_to_date``)."""
        schema = schema or BronzeSchema()
        self._refuse_store(Layer.BRONZE, table_name)
        return self._promote_batch(
            table_name,
            Layer.STAGED,
            Layer.BRONZE,
            batch_id=batch_id,
            domain=domain,
            declaration=declaration,
            mode=mode,
            transform_script=None,
            write=lambda targets, ctx, pending, files, rows: self.executor.write_bronze(
                BronzeRequest(targets, ctx, pending, LedgerObligation(rows), files, schema)
            ),
            lineage=lambda file: bronze_lineage(table_name, input_columns([file]), schema),
            declared=bronze_parts(schema),
            force=force,
            bronze=schema,
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
        force: bool = False,
    ) -> PromotionResult:
        """De-duplicate, validate and transform a bronze batch (default: the latest).

        Unless ``force``, nothing is done when the silver version is up to date
        (see :meth:`promote_to_bronze`)."""
        spec = spec or SilverSpec()
        _refuse(silver_problems(self.executor, table_name, spec.transforms, bool(spec.rules)))
        self._refuse_store(Layer.SILVER, table_name)
        named = [t for t in spec.transforms if isinstance(t, str)]
        return self._promote_batch(
            table_name,
            Layer.BRONZE,
            Layer.SILVER,
            batch_id=batch_id,
            domain=domain,
            declaration=declaration,
            mode=mode,
            transform_script=", ".join(named) or None,
            write=lambda targets, ctx, pending, files, rows: self.executor.write_silver(
                SilverRequest(targets, ctx, pending, LedgerObligation(rows), files, spec)
            ),
            lineage=lambda file: silver_lineage(table_name, [file], spec),
            declared=silver_parts(spec),
            force=force,
        )

    def _promote_batch(
        self,
        table_name: str,
        source: Layer,
        target: Layer,
        *,
        batch_id: str | None,
        domain: str,
        declaration: TableDeclaration | None,
        mode: WriteMode | None,
        transform_script: str | None,
        write: Callable[[StepTargets, StepContext, PendingFiles, list[Path], int], StepOutcome],
        lineage: Callable[[Path], StepLineage],
        declared: Fingerprint,
        force: bool,
        bronze: BronzeSchema | None = None,
    ) -> PromotionResult:
        """Promote a batch of ``table_name`` from ``source`` to ``target`` with the
        executor's ``write`` step (``write_bronze`` or ``write_silver`` with the
        step's request, given the targets, context, pending files, input files and
        rows in); ``lineage`` works out the step's column lineage from the file read."""
        table = validate_name(table_name)
        _validate_ids(batch_id, domain)
        with self._guard(f"{target.value} promotion of {table!r}"), self._locks.hold(table):
            batch = resolve_batch(self._rt, source, table, batch_id)
            files = batch_files(self._rt.store, source.value, table, batch)
            key = f"{source.value}.{table}"
            refs = [
                InputRef(table=key, batch_id=batch.batch_id, file=str(f), record_id=batch.record_id)
                for f in files  # a batch kept in parts: one ref per part
            ]
            fingerprint = self._batch_fingerprint(key, batch, declared, declaration)
            return promote(
                self._rt,
                table=table,
                source=source,
                target=target,
                batch=batch,
                domain=domain_of(self._rt, source, table, domain),
                declaration=declaration,
                mode=mode or self.mode,
                upstream=[key],
                inputs=refs,
                transform_script=transform_script,
                step=lambda targets, ctx, pending: write(targets, ctx, pending, files, batch.rows),
                lineage=lambda: lineage(files[0]),
                fingerprint=fingerprint,
                force=force,
                bronze=bronze,
            )

    def promote_to_gold(
        self,
        spec: GoldSpec,
        *,
        declaration: TableDeclaration | None = None,
        force: bool = False,
    ) -> PromotionResult:
        """Build a gold table from the current versions of its input tables.

        An input is looked up in gold first (gold tables may build on gold),
        then in silver. Unless ``force``, nothing is done when the gold version
        was built from the same input versions, SQL (or function),
        declaration and executor.
        """
        table = spec.name
        _refuse(gold_problems(self.executor, table, spec.sql, spec.function))
        self._refuse_store(Layer.GOLD, table)
        declaration = declaration or (
            TableDeclaration(description=spec.description) if spec.description else None
        )
        with self._guard(f"gold build of {table!r}"), self._locks.hold(table):
            found = gold_inputs(self._rt, spec)
            inputs, rows_in = found.files, found.rows
            fingerprint = self._gold_fingerprint(found, spec, declaration)
            run_id = new_id()
            batch = BatchEntry(batch_id=run_id, file=versions.batch_file_name(run_id), rows=rows_in)

            def step(targets: StepTargets, ctx: StepContext, pending: PendingFiles) -> StepOutcome:
                outcome = self.executor.write_gold(
                    GoldRequest(targets, ctx, pending, LedgerObligation(rows_in), inputs, spec)
                )
                outcome.rows_in = rows_in
                return outcome

            return promote(
                self._rt,
                table=table,
                source=Layer.SILVER,
                target=Layer.GOLD,
                batch=batch,
                domain=spec.domain,
                declaration=declaration,
                mode="replace",
                upstream=found.upstream,
                inputs=found.refs,
                transform_script=spec.sql if spec.sql is not None else spec.transform_label,
                step=step,
                lineage=lambda: gold_lineage(
                    spec, inputs, found.upstream, declaration, memo_file(self._rt.config, table)
                ),
                fingerprint=fingerprint,
                force=force,
            )

    # -- fingerprints ----------------------------------------------------------------------
    def _batch_fingerprint(
        self,
        key: str,
        batch: BatchEntry,
        declared: Fingerprint,
        declaration: TableDeclaration | None,
    ) -> Fingerprint:
        """What promoting ``batch`` of the input ``key`` is made from."""
        return step_fingerprint(
            inputs={key: batch.record_id or [batch.batch_id, batch.file]},
            declared=declared,
            declaration=declaration,
            executor=self._rt.executor_identity,
        )

    def _gold_fingerprint(
        self, found: GoldInputs, spec: GoldSpec, declaration: TableDeclaration | None
    ) -> Fingerprint:
        """What a gold build is made from: its inputs' current versions and more."""
        return step_fingerprint(
            inputs={
                key: [r.record_id or r.file for r in found.refs if r.table == key]
                for key in found.upstream
            },
            declared=gold_parts(spec),
            declaration=declaration,
            executor=self._rt.executor_identity,
        )

    # -- planning: what a step would do, reading no data and writing nothing ---------------
    def plan_ingest(
        self,
        source: str | Path,
        table_name: str,
        *,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> IngestPlan:
        """Whether :meth:`ingest` would read ``source`` into a new batch, and why.

        Hashes the file (that is how a changed source is told); reads nothing
        else and writes nothing.
        """
        table = validate_name(table_name)
        path = Path(source)
        check_readable_file(path)
        spec = SourceSpec(path=path, format=format, options=dict(options or {}))
        previous = self.current(Layer.STAGED, table)
        fingerprint = source_fingerprint(self._rt, spec, sha256_of(path))
        same = same_batch(previous, fingerprint) if previous is not None else None
        if same is None:
            return IngestPlan("ingest", why_new(previous, spec, fingerprint), None)
        if same.source_file != spec.path.as_posix():
            return IngestPlan("duplicate", f"same bytes as batch {same.batch_id}", same.batch_id)
        return IngestPlan("up to date", "up to date", same.batch_id)

    def plan_promotion(
        self,
        layer: Layer | str,
        table_name: str,
        spec: BronzeSchema | SilverSpec,
        *,
        batch_id: str,
        declaration: TableDeclaration | None = None,
        mode: WriteMode | None = None,
    ) -> list[str]:
        """Why promoting ``batch_id`` of ``table_name`` into ``layer`` (bronze or
        silver) would run (``["up to date"]`` if it would not)."""
        target = Layer(layer)
        source = target.previous()
        if source is None or target is Layer.GOLD:
            raise ContractError(f"plan_promotion: {target.value} is not a batch promotion")
        table = validate_name(table_name)
        batch = resolve_batch(self._rt, source, table, batch_id)
        declared = bronze_parts(spec) if isinstance(spec, BronzeSchema) else silver_parts(spec)
        fingerprint = self._batch_fingerprint(
            f"{source.value}.{table}", batch, declared, declaration
        )
        _, why = decide(self.current(target, table), fingerprint, mode or self.mode, batch.batch_id)
        return why

    def plan_gold(
        self, spec: GoldSpec, *, declaration: TableDeclaration | None = None
    ) -> list[str]:
        """Why building ``spec`` would run (``["up to date"]`` if it would not)."""
        declaration = declaration or (
            TableDeclaration(description=spec.description) if spec.description else None
        )
        found = gold_inputs(self._rt, spec)
        fingerprint = self._gold_fingerprint(found, spec, declaration)
        _, why = decide(self.current(Layer.GOLD, spec.name), fingerprint, "replace", None)
        return why

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
        dedupe: Literal["none", "row"] | list[str] = "row",
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
        from jobforge.engine.sequence import run_source_steps

        with self.lock(table_name):  # no other run on the table between the steps
            steps = run_source_steps(
                self,
                table_name,
                [source],
                domain=domain,
                bronze_schema=bronze_schema,
                silver=silver,
                format=format,
                options=options,
                declaration=declaration,
                force_ingest=force,
            )
        gold = [self.promote_to_gold(spec) for spec in gold_transforms]
        (ingested,), (bronze,), (silver_result,) = steps.ingested, steps.bronze, steps.silver
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
                        table_name, bronze_schema, batch_id=batch.batch_id, mode=mode, force=True
                    )
                )
                results.append(
                    self.promote_to_silver(
                        table_name, silver, batch_id=batch.batch_id, mode=mode, force=True
                    )
                )
        return results


def _validate_ids(batch_id: str | None, domain: str) -> None:
    """Check the ids a caller passes before the table is locked or read."""
    if batch_id is not None:
        validate_name(batch_id, "batch id")
    if domain:
        validate_name(domain, "domain")


def _refuse(problems: list[str]) -> None:
    """Stop a step the executor cannot run, before anything is read or written."""
    if problems:
        raise ContractError("; ".join(problems))
