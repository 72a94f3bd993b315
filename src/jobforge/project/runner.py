"""Running a project: every declared table, sources first, then gold in dependency order."""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.glossary import GlossaryTerm, load_glossary, save_term
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.results import PromotionResult
from jobforge.engine.steps import GoldSpec, SilverSpec
from jobforge.errors import ConfigError, JobforgeError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import new_id
from jobforge.project.model import GoldTable, Project, SourceTable
from jobforge.sources.base import SourceSpec


@dataclass
class StepReport:
    """One table in one layer, as it happened."""

    table: str
    layer: str
    status: str
    """``success``, ``partial`` (rows quarantined), ``skipped`` (identical file
    already ingested) or ``failed``."""
    batch_id: str = ""
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RunReport:
    steps: list[StepReport] = field(default_factory=list)
    run_id: str = ""
    """The id every step of this run had (``TransitionEvent.run_id``)."""

    @property
    def failed(self) -> list[StepReport]:
        return [s for s in self.steps if s.status == "failed"]

    def as_dicts(self) -> list[dict[str, object]]:
        return [s.__dict__.copy() for s in self.steps]


Progress = Callable[[StepReport], None]


def project_config(
    project: Project, data_root: Path | None = None, *, plugins: Sequence[object] = ()
) -> PipelineConfig:
    """The pipeline config a project declares (``data_root`` overrides the file's;
    ``plugins`` are registered explicitly, after the installed ones). Plugin
    sections of the file (``[openlineage]``) become ``plugin_settings``."""
    declared = project.spec.plugins
    return PipelineConfig(
        data_root if data_root is not None else project.data_root,
        plugins=plugins,
        disable_plugins=declared.disable,
        load_plugins=declared.load,
        entry_points=declared.entry_points,
        plugin_settings=plugin_settings(project),
    )


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
    return settings


def declaration_for(table: SourceTable | GoldTable) -> TableDeclaration:
    meta = table.metadata
    return TableDeclaration(
        description=meta.description,
        business_purpose=meta.business_purpose,
        owner=meta.owner,
        steward=meta.steward,
        classification=meta.classification,
        retention_days=meta.retention_days,
        columns=table.columns,
    )


def gold_spec(name: str, table: GoldTable) -> GoldSpec:
    return GoldSpec(
        name=name, inputs=table.inputs, sql=table.sql, function=table.function, domain=table.domain
    )


def source_files(project: Project, name: str) -> list[Path]:
    """The files a source table's ``source`` (a path or glob) names, sorted."""
    pattern = project.spec.tables[name].source
    base = project.root
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    matches = sorted(Path(p) for p in glob.glob(full, recursive=True))
    if not matches:
        raise ConfigError(f"tables.{name}.source: {pattern!r} matches no file (in {base})")
    return matches


def _selected(project: Project, tables: Sequence[str] | None) -> list[str]:
    if not tables:
        return list(project.order)
    unknown = [t for t in tables if t not in project.order]
    if unknown:
        raise ConfigError(
            f"--table: unknown table(s) {', '.join(unknown)}; declared: {', '.join(project.order)}"
        )
    return [t for t in project.order if t in tables]


def write_glossary(project: Project, config: PipelineConfig) -> None:
    """Write the project's glossary terms into the catalog (related terms after)."""
    terms = project.spec.glossary
    existing = load_glossary(config)
    for term_id, entry in terms.items():
        term = GlossaryTerm(
            id=term_id, name=entry.name, definition=entry.definition, owner=entry.owner
        )
        if existing.get(term_id) != term:
            save_term(config, term)
    for term_id, entry in terms.items():
        if entry.related_terms:
            save_term(
                config,
                GlossaryTerm(
                    id=term_id,
                    name=entry.name,
                    definition=entry.definition,
                    owner=entry.owner,
                    related_terms=entry.related_terms,
                ),
            )


def _report(result: PromotionResult) -> StepReport:
    ledger = result.record.ledger
    return StepReport(
        table=result.table,
        layer=result.layer,
        status=result.record.status,
        batch_id=result.batch_id,
        rows_in=ledger.rows_in,
        rows_out=ledger.rows_out,
        rows_quarantined=ledger.rows_quarantined,
        rows_deduplicated=ledger.rows_deduplicated,
        seconds=result.record.seconds,
    )


def run_project(
    project: Project,
    *,
    config: PipelineConfig | None = None,
    tables: Sequence[str] | None = None,
    to: Layer = Layer.GOLD,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> RunReport:
    """Run the selected tables up to layer ``to``; stop at the first failure.

    ``full_refresh`` re-ingests source files even when identical files were
    ingested before.
    """
    config = config or project_config(project)
    report = RunReport(run_id=new_id())
    engine = PipelineEngine(
        config,
        mode=project.spec.project.mode,
        lock_timeout=project.spec.project.lock_timeout_s,
        run_id=report.run_id,
    )
    write_glossary(project, config)

    def emit(step: StepReport) -> None:
        report.steps.append(step)
        if progress is not None:
            progress(step)

    for name in _selected(project, tables):
        try:
            if project.is_gold(name):
                if to is not Layer.GOLD:
                    continue
                gold = project.spec.gold[name]
                emit(
                    _report(
                        engine.promote_to_gold(
                            gold_spec(name, gold), declaration=declaration_for(gold)
                        )
                    )
                )
                continue
            with engine.lock(name):  # ingestion and promotions of a table as one run
                _run_source_table(engine, project, name, to, full_refresh, emit)
        except JobforgeError as exc:
            emit(StepReport(table=name, layer="-", status="failed", error=str(exc)))
            raise
    return report


def _run_source_table(
    engine: PipelineEngine,
    project: Project,
    name: str,
    to: Layer,
    full_refresh: bool,
    emit: Progress,
) -> None:
    table = project.spec.tables[name]
    declaration = declaration_for(table)
    silver = SilverSpec(
        dedupe=table.silver.dedupe, rules=table.silver.rules, transforms=table.silver.transforms
    )
    files = source_files(project, name)
    for index, path in enumerate(files):
        mode = "replace" if index == 0 else "append"
        ingested = engine.ingest(
            path,
            name,
            table.domain,
            format=table.format,
            options=table.reader,
            force=full_refresh,
            declaration=declaration,
        )
        emit(
            StepReport(
                table=name,
                layer="staged",
                status="skipped" if ingested.skipped else ingested.record.status,
                batch_id=ingested.batch_id,
                rows_in=ingested.rows + ingested.rows_quarantined,
                rows_out=ingested.rows,
                rows_quarantined=ingested.rows_quarantined,
                seconds=ingested.record.seconds if ingested.record else 0.0,
            )
        )
        if to is Layer.STAGED:
            continue
        effective_mode = mode if len(files) > 1 else engine.mode
        emit(
            _report(
                engine.promote_to_bronze(
                    name,
                    table.bronze,
                    batch_id=ingested.batch_id,
                    domain=table.domain,
                    declaration=declaration,
                    mode=effective_mode,
                )
            )
        )
        if to is Layer.BRONZE:
            continue
        emit(
            _report(
                engine.promote_to_silver(
                    name,
                    silver,
                    batch_id=ingested.batch_id,
                    domain=table.domain,
                    declaration=declaration,
                    mode=effective_mode,
                )
            )
        )


@dataclass
class PlannedStep:
    table: str
    layer: str
    what: str


def plan_project(
    project: Project,
    *,
    config: PipelineConfig | None = None,
    tables: Sequence[str] | None = None,
    to: Layer = Layer.GOLD,
) -> tuple[list[PlannedStep], dict[str, list[str]]]:
    """What ``run`` would do, without reading data or writing anything.

    Returns the steps and, for each hook, the plugins that answer it in call order.
    """
    config = config or project_config(project)
    host = config.plugins
    steps: list[PlannedStep] = []
    for name in _selected(project, tables):
        if project.is_gold(name):
            if to is Layer.GOLD:
                gold = project.spec.gold[name]
                body = "sql" if gold.sql is not None else f"function {gold.function}"
                steps.append(PlannedStep(name, "gold", f"{body} over {', '.join(gold.inputs)}"))
            continue
        table = project.spec.tables[name]
        for path in source_files(project, name):
            claimed = host.source_reader(SourceSpec(path, table.format, table.reader), config)
            reader = f"{claimed[1]} ({getattr(claimed[0], 'format', '?')})" if claimed else "NONE"
            steps.append(PlannedStep(name, "staged", f"ingest {path} with reader {reader}"))
        bronze = table.bronze
        steps.append(
            PlannedStep(
                name,
                "bronze",
                f"rename {len(bronze.rename)}, cast {len(bronze.cast)}, "
                f"required {len(bronze.required)}, new columns: {bronze.on_new_column}",
            )
        )
        if to in (Layer.SILVER, Layer.GOLD):
            silver = table.silver
            dedupe = silver.dedupe if isinstance(silver.dedupe, str) else ", ".join(silver.dedupe)
            steps.append(
                PlannedStep(
                    name,
                    "silver",
                    f"dedupe {dedupe}; rules {', '.join(r.id for r in silver.rules) or 'none'}; "
                    f"transforms {', '.join(silver.transforms) or 'none'}",
                )
            )
        if to is Layer.STAGED:
            steps = [s for s in steps if not (s.table == name and s.layer == "bronze")]
    hooks = {hook: host.implementations(hook) for hook in host.hook_names()}
    return steps, hooks
