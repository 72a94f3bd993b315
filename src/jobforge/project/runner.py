"""Running a project: every declared table, sources first, then gold in dependency order.

A table that fails does not stop the run: the tables built from it are skipped
(saying why), every other table runs, and the report ends with what ran, what
was up to date, what failed and what was skipped. ``fail_fast`` stops at the
first failure instead. Steps whose inputs and declarations have not changed
are not run again (see :mod:`jobforge.engine.fingerprint`); each run leaves one
small run record in the catalog (:mod:`jobforge.catalog.runs`).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.glossary import GlossaryTerm, load_glossary, save_term
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
from jobforge.errors import ConfigError, JobforgeError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import new_id, utc_now
from jobforge.project.model import GoldTable, Project, SourceTable
from jobforge.storage.names import unknown_table
from jobforge.storage.objects import ObjectRoot, is_object_url
from jobforge.storage.roots import (
    SourcePlaces,
    WrittenFolders,
    check_apart,
    check_data_root,
)

if TYPE_CHECKING:  # the engine is imported where a step runs: a run with nothing to do needs none
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.results import IngestResult, PromotionResult
    from jobforge.storage.reads import Reads


def __getattr__(name: str) -> object:
    if name == "promotion_modes":  # its former home
        from jobforge.engine.sequence import promotion_modes

        return promotion_modes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


UNCHANGED = frozenset({"up to date", "duplicate"})
"""The statuses of a step that writes nothing: ``up to date``, and ``duplicate``
once its delivery is recorded (a first sighting writes a ``skipped`` record,
which needs the table's lock: the check without it then hands the table over).
A run of such steps only may be answered by the up-to-date index."""

STEP_STATUSES: tuple[str, ...] = (
    "success",
    "partial",
    "up to date",
    "duplicate",
    "failed",
    "skipped",
)
"""What a step of a run can end as: ``success``, ``partial`` (rows quarantined),
``up to date`` (nothing changed: not run), ``duplicate`` (a source file whose
bytes equal an earlier batch's), ``failed``, ``skipped`` (not run because a
table it is built from failed)."""


@dataclass
class StepReport:
    """One table in one layer, as it happened."""

    table: str
    layer: str
    status: str
    """One of :data:`STEP_STATUSES`."""
    batch_id: str = ""
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    seconds: float = 0.0
    error: str | None = None
    reason: str = ""
    """Why the step ran, or why it did not."""
    source: str | None = None
    """Staged steps: the source file."""


@dataclass
class RunReport:
    run_id: str = field(default_factory=new_id)
    """The id every step of this run had (``TransitionEvent.run_id``)."""
    started_at: datetime = field(default_factory=utc_now)
    completed_at: datetime | None = None
    steps: list[StepReport] = field(default_factory=list)

    @property
    def failed(self) -> list[StepReport]:
        return [s for s in self.steps if s.status == "failed"]

    @property
    def skipped(self) -> list[StepReport]:
        """Steps not run because a table they are built from failed."""
        return [s for s in self.steps if s.status == "skipped"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        """How many steps ended in each status (every status, zero included)."""
        return {status: sum(s.status == status for s in self.steps) for status in STEP_STATUSES}

    def as_dicts(self) -> list[dict[str, object]]:
        return [asdict(s) for s in self.steps]


Progress = Callable[[StepReport], None]


def project_config(
    project: Project,
    data_root: Path | None = None,
    *,
    plugins: Sequence[object] = (),
    origin: str = "data root",
) -> PipelineConfig:
    """The pipeline config a project declares (``data_root`` overrides the file's;
    ``plugins`` are registered explicitly, after the installed ones). Plugin
    sections of the file (``[openlineage]``) become ``plugin_settings``.

    The data root is checked, and checked against the project
    (:func:`check_project_folder`), before the config exists; ``origin`` names
    an overriding ``data_root`` in the message (``--data-root``).
    """
    declared = project.spec.plugins
    storage = project.spec.storage
    value = project.spec.project.data_root
    root: Path | str
    if data_root is None and is_object_url(value):
        try:
            parsed = ObjectRoot.parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{project.path}: project.{exc}") from None
        if storage.format != "delta":
            raise ConfigError(
                f"{project.path}: project.data_root {parsed.url!r}: object storage needs "
                f'[storage] format = "delta" (the {storage.format} store keeps local folders only)'
            )
        root = value
        where = f"{project.path}: storage.state_dir"
        bucket_path = Path(".jobforge", parsed.bucket, *parsed.prefix.split("/"))
        state = check_data_root(storage.state_dir or bucket_path, where, base=project.root)
        check_project_folder(project, state, f"{where} {str(state)!r}")
    elif data_root is None:
        where = f"{project.path}: project.data_root"
        root = state = check_data_root(value, where, base=project.root)
        check_project_folder(project, root, f"{where} {value!r}")
    else:
        check_data_root(data_root, origin)
        check_project_folder(project, data_root, f"{origin} {str(data_root)!r}")
        root = state = data_root
    if (storage.options is not None or storage.state_dir is not None) and isinstance(root, Path):
        key = "options" if storage.options is not None else "state_dir"
        raise ConfigError(
            f"{project.path}: storage.{key}: only for an s3:// data_root "
            f"(the data root {str(root)!r} is a local folder)"
        )
    return PipelineConfig(
        root,
        plugins=plugins,
        disable_plugins=declared.disable,
        load_plugins=declared.load,
        entry_points=declared.entry_points,
        plugin_settings=plugin_settings(project),
        executor=project.spec.engine.executor,
        signing_key=audit_key_path(project, project.spec.audit.signing_key),
        storage_format=storage.format,
        storage_options=storage.options.given() if storage.options is not None else None,
        state_dir=state if isinstance(root, str) else None,
    )


def audit_key_path(project: Project, value: str | None) -> Path | None:
    """A key file of ``[audit]``, relative to the project file's folder."""
    return None if value is None else project.root / value


def source_patterns(project: Project) -> list[tuple[str, str]]:
    """``(key, pattern)`` of every source table, as :func:`check_apart` takes them."""
    return [(f"tables.{name}.source", table.source) for name, table in project.spec.tables.items()]


def check_project_folder(project: Project, folder: Path, where: str) -> None:
    """Refuse ``folder`` as the project's data root (or one of its layout
    folders): the project folder or a parent of it, a folder holding sources,
    or one inside a folder sources are read from."""
    check_apart(folder, where, project.root, source_patterns(project))


def check_project_run(project: Project, config: PipelineConfig, tables: Sequence[str]) -> None:
    """Before a run creates anything: :func:`check_project_folder` on every
    folder the layout plugins chose (they may put a layer anywhere), and no
    file a selected source table names may lie in one of them (through a
    link, say)."""
    folders = [*config.layout_paths(), config.locks_path()]
    places = SourcePlaces(project.root, source_patterns(project))
    for path in folders:
        places.check_apart(path, f"layout folder {str(path)!r}")
    files: list[Path] = []
    for name in tables:
        if project.is_gold(name):
            continue
        try:
            files += source_files(project, name)
        except ConfigError:
            continue  # matches no file: the run says so when it reaches the table
    # at once: a folder many sources share is resolved once, not once per table
    WrittenFolders(folders).check_all_outside(files)


def plugin_settings(project: Project) -> dict[str, dict[str, object]]:
    """The settings the project file gives plugins, by plugin name: relative
    paths resolved against the project's folder, defaults filled in."""
    settings: dict[str, dict[str, object]] = {}
    lineage = project.spec.openlineage
    if lineage is not None:
        values = lineage.model_dump()
        if lineage.path is not None:
            values["path"] = str(project.root / lineage.path)
        values["namespace"] = lineage.namespace or project.spec.project.name
        settings["openlineage"] = values
    spark = project.spec.engine.spark
    if spark is not None:
        settings["spark"] = spark.model_dump()
    return settings


def declaration_for(table: SourceTable | GoldTable) -> TableDeclaration:
    return TableDeclaration.of(table.metadata, table.columns, table.audit.control_totals)


def gold_spec(name: str, table: GoldTable) -> GoldSpec:
    """The engine's spec of gold table ``name``: the section's :class:`GoldStep`
    fields."""
    return GoldSpec(name=name, **table.step_fields())


def silver_spec(table: SourceTable) -> SilverSpec:
    """The table's ``silver`` section: it is the engine's spec."""
    return table.silver


def source_files(project: Project, name: str) -> list[Path]:
    """The files a source table's ``source`` (a path or glob) names, sorted."""
    pattern = project.spec.tables[name].source
    base = project.root
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    matches = sorted(Path(p) for p in glob.glob(full, recursive=True))
    if not matches:
        raise ConfigError(f"tables.{name}.source: {pattern!r} matches no file (in {base})")
    return matches


def selected_tables(project: Project, tables: Sequence[str] | None) -> list[str]:
    """The tables to run, in run order (all of them when ``tables`` is empty)."""
    if not tables:
        return list(project.order)
    for name in tables:
        if name not in project.order:
            raise unknown_table(name, project.order, "--table: ")
    return [t for t in project.order if t in tables]


def write_glossary(project: Project, config: PipelineConfig) -> None:
    """Write the project's glossary terms into the catalog (related terms after);
    a term that is already there unchanged is not written again."""
    terms = project.spec.glossary
    existing = load_glossary(config)
    for term_id, entry in terms.items():
        term = GlossaryTerm(
            id=term_id, name=entry.name, definition=entry.definition, owner=entry.owner
        )
        known = existing.get(term_id)
        if known is None or known.model_copy(update={"related_terms": []}) != term:
            save_term(config, term)
    for term_id, entry in terms.items():
        full = GlossaryTerm(
            id=term_id,
            name=entry.name,
            definition=entry.definition,
            owner=entry.owner,
            related_terms=entry.related_terms,
        )
        if entry.related_terms and existing.get(term_id) != full:
            save_term(config, full)


def _promoted(result: PromotionResult) -> StepReport:
    ledger = result.record.ledger
    return StepReport(
        table=result.table,
        layer=result.layer,
        status="up to date" if result.up_to_date else result.record.status,
        batch_id=result.batch_id,
        rows_in=ledger.rows_in,
        rows_out=ledger.rows_out,
        rows_quarantined=ledger.rows_quarantined,
        rows_deduplicated=ledger.rows_deduplicated,
        seconds=0.0 if result.up_to_date else result.record.seconds,
        reason=result.reason,
    )


def _ingested(result: IngestResult, path: Path) -> StepReport:
    if result.skipped:
        status = "duplicate" if result.duplicate_of else "up to date"
    else:
        status = result.record.status if result.record else "success"
    return StepReport(
        table=result.table,
        layer="staged",
        status=status,
        batch_id=result.batch_id,
        rows_in=result.rows + result.rows_quarantined,
        rows_out=result.rows,
        rows_quarantined=result.rows_quarantined,
        seconds=result.record.seconds if result.record and not result.skipped else 0.0,
        reason=result.reason,
        source=str(path),
    )


def table_inputs(project: Project, name: str) -> list[str]:
    """The project tables ``name`` is built from (gold inputs; none for a source)."""
    return list(project.spec.gold[name].inputs) if project.is_gold(name) else []


def run_project(
    project: Project,
    *,
    config: PipelineConfig | None = None,
    tables: Sequence[str] | None = None,
    to: Layer = Layer.GOLD,
    full_refresh: bool = False,
    progress: Progress | None = None,
    fail_fast: bool = False,
    on_error: Callable[[JobforgeError], None] | None = None,
    jobs: int | None = None,
) -> RunReport:
    """Run the selected tables up to layer ``to``.

    A table that fails is reported and the tables built from it are skipped;
    every other table runs (``fail_fast``: the first failure is raised
    instead). ``full_refresh`` re-ingests every source file and re-runs every
    step, changed or not. ``on_error`` is called with each failure (the CLI
    prints its traceback with ``--debug``). The run record is written at the
    end, also when a step failed.

    ``jobs`` (else ``[engine] jobs``, else :func:`default_jobs`): how many
    tables run at once; a gold table starts when its inputs are done. The
    report lists the steps table by table in run order whatever the
    scheduling (with more than one job, ``progress`` learns a table's steps
    when it and every table before it are done).
    """
    from jobforge.project import uptodate
    from jobforge.project.run_record import write_run_record

    config = config or project_config(project)
    selected = selected_tables(project, tables)
    workers = run_jobs(project, jobs)
    check_project_run(project, config, selected)
    report = RunReport()

    def emit(step: StepReport) -> None:
        report.steps.append(step)
        if progress is not None:
            progress(step)

    whole = selected == list(project.order) and to is Layer.GOLD and not full_refresh
    key = uptodate.index_key(project, config) if whole else None
    answered: dict[str, tuple[list[dict[str, Any]], Reads]] = {}
    if key is not None:
        write_glossary(project, config)
        inputs = {name: table_inputs(project, name) for name in selected}
        answered = uptodate.answered(config, key, selected, inputs) or {}
        if len(answered) == len(selected):  # every table up to date, as the full check found
            config.check_write_paths()  # what making an engine checks
            config.catalog.tidy()  # what an engine's first step does
            for name in selected:
                for fields in answered[name][0]:
                    emit(StepReport(**fields))
            report.completed_at = utc_now()
            write_run_record(config, project, report)
            return report

    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.project.checks import check_project

    engine = PipelineEngine(
        config,
        mode=project.spec.project.mode,
        lock_timeout=project.spec.project.lock_timeout_s,
        run_id=report.run_id,
    )
    new_engine = engine.for_thread
    check_project(project, config, engine.executor, remember=True)
    if key is None:
        write_glossary(project, config)
    else:
        engine.tidy()  # before the checks whose reads are kept (it lists the run records)
    order = [n for n in selected if to is Layer.GOLD or not project.is_gold(n)]
    reads: dict[str, Reads] | None = {} if key is not None else None
    """What each table's up-to-date check read (to keep the index)."""

    def run_one(table_engine: PipelineEngine, name: str, out: Progress) -> JobforgeError | None:
        if name in answered:  # up to date, as the full check found it before (the index)
            steps, seen = answered[name]
            for fields in steps:
                out(StepReport(**fields))
            if reads is not None:
                reads[name] = seen
            return None
        return _run_table(table_engine, project, name, to, full_refresh, out, reads)

    engines = [engine]
    try:
        if workers == 1 or len(order) < 2:
            _run_in_order(order, project, lambda n: run_one(engine, n, emit), emit, on_error,
                          fail_fast)  # fmt: skip
        else:
            _run_parallel(order, project, workers, new_engine, engines, run_one, emit, on_error,
                          fail_fast)  # fmt: skip
        if reads is not None:  # the run ended (no fail_fast raise, no interrupt)
            _keep_index(engine, project, config, key, order, reads, report)
            reads = None
    finally:
        if reads is not None:
            uptodate.forget(config)
        for each in engines:
            close = getattr(each.executor, "close", None)
            if close is not None:  # an executor holding a session (spark) ends it with the run
                close()
        report.completed_at = utc_now()
        write_run_record(config, project, report)
    return report


def _keep_index(
    engine: PipelineEngine,
    project: Project,
    config: PipelineConfig,
    key: str | None,
    order: list[str],
    reads: dict[str, Reads],
    report: RunReport,
) -> None:
    """After a run in which no step failed or was skipped, keep the up-to-date
    index (:mod:`jobforge.project.uptodate`): for each table whose steps were all
    up to date, from this run's check of it (or the index's answer); for every
    other, from the full check run once more (what the next run with nothing
    changed would do)."""
    from jobforge.project import uptodate

    statuses = {s.status for s in report.steps}
    if not report.steps or statuses & {"failed", "skipped"}:
        uptodate.forget(config)
        return
    by_table: dict[str, list[StepReport]] = {name: [] for name in order}
    for step in report.steps:
        by_table[step.table].append(step)
    steps: list[dict[str, Any]] = []
    for name in order:
        if name in reads and all(s.status in UNCHANGED for s in by_table[name]):
            steps += [asdict(s) for s in by_table[name]]
            continue
        found: list[StepReport] = []
        if not _up_to_date(engine, project, name, Layer.GOLD, found.append, reads, again=True):
            uptodate.forget(config)
            return
        steps += [asdict(s) for s in found]
    uptodate.keep(config, key, order, [reads[n] for n in order], steps)


def default_jobs() -> int:
    """The cores this process may use, at most one per GiB of available memory
    (``MemAvailable`` of ``/proc/meminfo`` where there is one), at least 1."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    cores = min(cores, int(line.split()[1]) // (1024 * 1024))
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(1, cores)


def run_jobs(project: Project, jobs: int | None = None) -> int:
    """How many tables a run of ``project`` runs at once: ``jobs``, else the
    project's ``[engine] jobs``, else :func:`default_jobs`. The spark executor
    runs one table at a time (its session is the process's, and Spark runs a
    step's work in parallel itself)."""
    where = "--jobs" if jobs is not None else f"{project.path}: engine.jobs"
    chosen = jobs if jobs is not None else project.spec.engine.jobs
    if chosen is not None and chosen < 1:
        raise ConfigError(f"{where}: expected a whole number of at least 1, got {chosen}")
    if project.spec.engine.executor == "spark":
        if chosen is not None and chosen > 1:
            raise ConfigError(
                f"{where}: the spark executor runs one table at a time (got {chosen}; "
                "Spark runs each step's work in parallel)"
            )
        return 1
    return chosen if chosen is not None else default_jobs()


def _blocked_step(project: Project, name: str, not_built: dict[str, str]) -> StepReport | None:
    """The ``skipped`` step of table ``name`` if a table it is built from failed
    or was skipped (``not_built`` then learns ``name`` too), else ``None``."""
    blocked = [i for i in table_inputs(project, name) if i in not_built]
    if not blocked:
        return None
    cause = "; ".join(not_built[i] for i in blocked)
    not_built[name] = cause
    return StepReport(
        table=name,
        layer=_layer_of(project, name),
        status="skipped",
        reason=f"not run because {cause}",
    )


def _run_in_order(
    order: list[str],
    project: Project,
    run_one: Callable[[str], JobforgeError | None],
    emit: Progress,
    on_error: Callable[[JobforgeError], None] | None,
    fail_fast: bool,
) -> None:
    """One table after the other (``jobs = 1``), each step reported as it ends."""
    not_built: dict[str, str] = {}
    """Tables that failed or were skipped -> how their dependents name the cause."""
    for name in order:
        skipped = _blocked_step(project, name, not_built)
        if skipped is not None:
            emit(skipped)
            continue
        error = run_one(name)
        if error is not None:
            not_built[name] = f"{_layer_of(project, name)}.{name} failed"
            if on_error is not None:
                on_error(error)
            if fail_fast:
                raise error


def _run_parallel(
    order: list[str],
    project: Project,
    workers: int,
    new_engine: Callable[[], PipelineEngine],
    engines: list[PipelineEngine],
    run_one: Callable[[PipelineEngine, str, Progress], JobforgeError | None],
    emit: Progress,
    on_error: Callable[[JobforgeError], None] | None,
    fail_fast: bool,
) -> None:
    """Up to ``workers`` tables at once on threads (polars, DuckDB, the parquet
    writer and ``fsync`` release the GIL), a table once every table of this run
    it is built from is done.

    Each thread has an engine of its own (``PipelineEngine.for_thread``: an
    engine keeps which table it is locked for and which transition runs; the
    catalog's tidying and the layout are done once for all); they share the
    config, its plugins
    and its stores, which are built for concurrent runs on different tables
    (each table's file lock, the catalog and folder locks, atomic writes), as
    two processes running two tables are. Each table's steps are kept apart and
    reported in run order; ``fail_fast`` starts no table after a failure, lets
    the running ones end, reports what ran and raises the first failure (in run
    order).
    """
    import threading
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    local = threading.local()
    engines_lock = threading.Lock()

    def job(name: str) -> tuple[list[StepReport], JobforgeError | None]:
        table_engine: PipelineEngine | None = getattr(local, "engine", None)
        if table_engine is None:
            table_engine = local.engine = new_engine()
            with engines_lock:
                engines.append(table_engine)
        steps: list[StepReport] = []
        return steps, run_one(table_engine, name, steps.append)

    done: dict[str, tuple[list[StepReport], JobforgeError | None]] = {}
    not_built: dict[str, str] = {}
    waiting = list(order)
    in_run = set(order)
    running: dict[Future[tuple[list[StepReport], JobforgeError | None]], str] = {}
    reported = 0
    stop = False

    def report_ready(*, all_done: bool = False) -> None:
        nonlocal reported
        while reported < len(order):
            name = order[reported]
            if name not in done:
                if not all_done:
                    return
                reported += 1  # not started (fail_fast): nothing to report
                continue
            steps, error = done[name]
            for step in steps:
                emit(step)
            if error is not None and on_error is not None:
                on_error(error)
            reported += 1

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobforge-table") as pool:
        while (waiting and not stop) or running:
            for name in list(waiting):
                if stop or len(running) >= workers:
                    break
                if any(i in in_run and i not in done for i in table_inputs(project, name)):
                    continue  # an input still runs: later tables may start first
                waiting.remove(name)
                skipped = _blocked_step(project, name, not_built)
                if skipped is not None:
                    done[name] = ([skipped], None)
                    continue
                running[pool.submit(job, name)] = name
            report_ready()
            if not running:
                # only a table that can start empties the pool: inputs come first in run order
                assert (
                    stop
                    or not waiting
                    or not any(
                        i in in_run and i not in done for i in table_inputs(project, waiting[0])
                    )
                ), waiting
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                done[name] = future.result()
                if done[name][1] is not None:
                    not_built[name] = f"{_layer_of(project, name)}.{name} failed"
                    stop = stop or fail_fast
    report_ready(all_done=True)
    if stop:
        first = next(done[n][1] for n in order if n in done and done[n][1] is not None)
        assert first is not None
        raise first


def _run_table(
    engine: PipelineEngine,
    project: Project,
    name: str,
    to: Layer,
    full_refresh: bool,
    emit: Progress,
    reads: dict[str, Reads] | None = None,
) -> JobforgeError | None:
    """Run table ``name``'s steps (reported through ``emit``, a failure as a
    ``failed`` step); the failure, if one. ``reads`` learns what the table's
    up-to-date check read."""
    attempt = [_layer_of(project, name) if project.is_gold(name) else "staged"]
    if not full_refresh and _up_to_date(engine, project, name, to, emit, reads):
        return None
    try:
        if project.is_gold(name):
            _run_gold_table(engine, project, name, full_refresh, emit)
        else:
            with engine.lock(name):  # ingestion and promotions of a table as one run
                _run_source_table(engine, project, name, to, full_refresh, emit, attempt)
    except JobforgeError as exc:
        emit(StepReport(table=name, layer=attempt[0], status="failed", error=str(exc)))
        return exc
    return None


def _up_to_date(
    engine: PipelineEngine,
    project: Project,
    name: str,
    to: Layer,
    emit: Progress,
    reads: dict[str, Reads] | None = None,
    again: bool = False,
) -> bool:
    """Report every step of table ``name`` as up to date (or as a duplicate
    delivery already recorded: :data:`UNCHANGED`), if each is, without
    taking the table's lock (a run in which nothing changed then costs the
    sources' hashes and the pointers' reads, not a lock per table); ``False``
    (nothing reported) when a step must run, a journal is left for the table,
    or anything fails: the caller then runs the table under its lock.
    ``reads`` (if given) learns what the check read, under the table's name;
    ``again``: the check is run once more after this run's steps (a source hashed
    earlier in this process and unchanged since is not read again)."""
    from jobforge.engine.runtime import NeedsLock
    from jobforge.storage.reads import Reads, recording

    found: list[StepReport] = []
    seen = Reads(reuse_digests=again)
    try:
        with recording(seen if reads is not None else None), engine.unlocked(name):
            if project.is_gold(name):
                _run_gold_table(engine, project, name, False, found.append)
            else:
                _run_source_table(engine, project, name, to, False, found.append, ["staged"])
    except (NeedsLock, JobforgeError):
        return False
    if reads is not None:
        reads[name] = seen
    if any(step.status not in UNCHANGED for step in found):
        return False  # not expected (every other outcome writes), but never reported
    for step in found:
        emit(step)
    return True


def _run_gold_table(
    engine: PipelineEngine, project: Project, name: str, full_refresh: bool, emit: Progress
) -> None:
    gold = project.spec.gold[name]
    emit(
        _promoted(
            engine.promote_to_gold(
                gold_spec(name, gold), declaration=declaration_for(gold), force=full_refresh
            )
        )
    )


def _layer_of(project: Project, name: str) -> str:
    return "gold" if project.is_gold(name) else "silver"


def _run_source_table(
    engine: PipelineEngine,
    project: Project,
    name: str,
    to: Layer,
    full_refresh: bool,
    emit: Progress,
    attempt: list[str],
) -> None:
    """Ingest every file of a source table and promote its batches; ``attempt``
    holds the layer of the step running (for the report of a failure)."""
    from jobforge.engine.results import IngestResult
    from jobforge.engine.sequence import run_source_steps

    table = project.spec.tables[name]

    def starting(layer: Layer) -> None:
        attempt[0] = layer.value

    def done(result: IngestResult | PromotionResult, path: str | Path | None) -> None:
        if isinstance(result, IngestResult):
            assert path is not None  # an ingestion is reported with its file
            emit(_ingested(result, Path(path)))
        else:
            emit(_promoted(result))

    run_source_steps(
        engine,
        name,
        source_files(project, name),
        domain=table.domain,
        bronze_schema=table.bronze,
        silver=silver_spec(table),
        format=table.format,
        options=table.reader,
        declaration=declaration_for(table),
        force_ingest=full_refresh,
        force_promotions=full_refresh,
        to=to,
        starting=starting,
        done=done,
    )


@dataclass
class PlannedStep:
    """A step of a run as ``run --dry-run`` sees it."""

    table: str
    layer: str
    what: str
    """What the step does (the reader, the renames and rules, the SQL's inputs)."""
    action: str = "run"
    """``run``, ``up to date``, ``duplicate`` or ``skip``."""
    reason: str = ""
    executor: str = ""
    """The name of the executor that runs the step (``[engine] executor``)."""


def plan_project(
    project: Project,
    *,
    config: PipelineConfig | None = None,
    tables: Sequence[str] | None = None,
    to: Layer = Layer.GOLD,
    full_refresh: bool = False,
) -> tuple[list[PlannedStep], dict[str, list[str]]]:
    """What ``run`` would do and why, reading no data and writing nothing (the
    source files are hashed: that is how a changed source is told).

    Returns the steps and, for each hook, the plugins that answer it in call order.
    """
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.project.checks import check_project

    config = config or project_config(project)
    selected = selected_tables(project, tables)
    check_project_run(project, config, selected)
    host = config.plugins
    engine = PipelineEngine(config, mode=project.spec.project.mode)
    check_project(project, config, engine.executor)
    steps: list[PlannedStep] = []
    changing: dict[str, str] = {}
    """``layer.table`` that would get a new version -> why."""
    for name in selected:
        if project.is_gold(name):
            if to is Layer.GOLD:
                steps.append(_plan_gold(engine, project, name, changing, full_refresh))
            continue
        steps += _plan_source_table(engine, project, name, to, changing, full_refresh)
    for step in steps:
        step.executor = engine.executor.name
    hooks = {hook: host.implementations(hook) for hook in host.hook_names()}
    return steps, hooks


def _plan_gold(
    engine: PipelineEngine,
    project: Project,
    name: str,
    changing: dict[str, str],
    full_refresh: bool,
) -> PlannedStep:
    gold = project.spec.gold[name]
    body = "sql" if gold.sql is not None else f"function {gold.function}"
    step = PlannedStep(name, "gold", f"{body} over {', '.join(gold.inputs)}")
    upstream = [
        key for key in changing if key.partition(".")[2] in gold.inputs and key != f"gold.{name}"
    ]
    if full_refresh:
        step.reason = "full refresh"
    elif upstream:
        step.reason = "; ".join(f"upstream {key} changes" for key in upstream)
    else:
        try:
            why = engine.plan_gold(gold_spec(name, gold), declaration=declaration_for(gold))
        except JobforgeError as exc:
            why = [f"cannot be planned: {exc}"]
        step.reason = "; ".join(why)
        if why == ["up to date"]:
            step.action = "up to date"
            return step
    changing[f"gold.{name}"] = step.reason
    return step


def _plan_source_table(
    engine: PipelineEngine,
    project: Project,
    name: str,
    to: Layer,
    changing: dict[str, str],
    full_refresh: bool,
) -> list[PlannedStep]:
    from jobforge.engine.sequence import promotion_modes
    from jobforge.sources.base import SourceSpec

    table = project.spec.tables[name]
    declaration = declaration_for(table)
    steps: list[PlannedStep] = []
    batches: list[str | None] = []
    for path in source_files(project, name):
        claimed = engine.host.source_reader(
            SourceSpec(path, table.format, table.reader), engine.config
        )
        reader = f"{claimed[1]} ({getattr(claimed[0], 'format', '?')})" if claimed else "NONE"
        step = PlannedStep(name, "staged", f"ingest {path} with reader {reader}")
        plan = engine.plan_ingest(path, name, format=table.format, options=table.reader)
        if full_refresh:
            step.reason = "full refresh"
            batches.append(None)
        elif plan.action == "ingest":
            step.reason = plan.reason
            batches.append(None)
        else:
            step.action, step.reason = plan.action, plan.reason
            if plan.batch_id not in batches:
                batches.append(plan.batch_id)
        if step.action == "run":
            changing[f"staged.{name}"] = step.reason
        steps.append(step)
    if to is Layer.STAGED:
        return steps
    bronze = table.bronze
    dedupe = table.silver.dedupe
    specs: dict[Layer, tuple[BronzeSchema | SilverSpec, str]] = {
        Layer.BRONZE: (
            bronze,
            f"rename {len(bronze.rename)}, cast {len(bronze.cast)}, "
            f"required {len(bronze.required)}, new columns: {bronze.on_new_column}",
        ),
        Layer.SILVER: (
            silver_spec(table),
            f"dedupe {dedupe if isinstance(dedupe, str) else ', '.join(dedupe)}; "
            f"rules {', '.join(r.id for r in table.silver.rules) or 'none'}; "
            f"transforms {', '.join(table.silver.transforms) or 'none'}",
        ),
    }
    for layer in (Layer.BRONZE, Layer.SILVER):
        spec, what = specs[layer]
        previous = layer.previous()
        assert previous is not None  # bronze and silver have one
        upstream = f"{previous.value}.{name}"
        step = PlannedStep(name, layer.value, what)
        if full_refresh:
            step.reason = "full refresh"
        elif upstream in changing:
            step.reason = f"upstream {upstream} changes"
        else:
            known = [b for b in batches if b is not None]
            modes = promotion_modes(engine.current(layer, name), known, engine.mode)
            why: list[str] = []
            for batch, mode in zip(known, modes, strict=True):
                found = engine.plan_promotion(
                    layer, name, spec, batch_id=batch, declaration=declaration, mode=mode
                )
                why += [w for w in found if w != "up to date" and w not in why]
            if not why:
                step.action, step.reason = "up to date", "up to date"
            else:
                step.reason = "; ".join(why)
        if step.action == "run":
            changing[f"{layer.value}.{name}"] = step.reason
        steps.append(step)
        if layer is to:
            break
    return steps
