"""The steps of a source table, in order: each file into staged, then its batches
through bronze, then through silver.

:meth:`~jobforge.engine.pipeline.PipelineEngine.run_full_pipeline` (one file)
and :func:`~jobforge.project.runner.run_project` (every file a table's
``source`` matches) both run this sequence; the caller holds the table's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.pipeline.config import Layer

if TYPE_CHECKING:
    from jobforge.catalog.declarations import TableDeclaration
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.results import IngestResult, PromotionResult
    from jobforge.engine.steps import BronzeSchema, SilverSpec
    from jobforge.storage.versions import CurrentVersion, WriteMode


def promotion_modes(
    current: CurrentVersion | None, batches: Sequence[str], mode: WriteMode
) -> list[WriteMode]:
    """How to promote ``batches`` (in order) so that the version ends as exactly
    them, re-using what the current version holds.

    One batch: the engine's mode. Several (a glob of files): if the current
    version holds a prefix of them, every batch is appended (those already
    there and unchanged are up to date, a changed one takes its own place);
    otherwise the first replaces the version and the others are appended.
    """
    if len(batches) == 1:
        return [mode]
    held = [b.batch_id for b in current.batches] if current else []
    if len(held) <= len(batches) and held == list(batches[: len(held)]):
        return ["append"] * len(batches)
    appended: list[WriteMode] = ["append"] * (len(batches) - 1)
    return ["replace", *appended]


@dataclass
class SourceSteps:
    """What the steps of one source table gave, in the order they ran."""

    ingested: list[IngestResult] = field(default_factory=list)
    bronze: list[PromotionResult] = field(default_factory=list)
    silver: list[PromotionResult] = field(default_factory=list)


def run_source_steps(
    engine: PipelineEngine,
    table: str,
    sources: Sequence[str | Path],
    *,
    domain: str,
    bronze_schema: BronzeSchema | None,
    silver: SilverSpec,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    declaration: TableDeclaration | None = None,
    force_ingest: bool = False,
    force_promotions: bool = False,
    to: Layer = Layer.SILVER,
    starting: Callable[[Layer], None] | None = None,
    done: Callable[[IngestResult | PromotionResult, str | Path | None], None] | None = None,
) -> SourceSteps:
    """Ingest every file of ``sources`` and promote the batches up to layer ``to``.

    A file whose bytes equal a batch's is that batch (a duplicate delivery is
    promoted once). ``starting`` is told the layer of the steps about to run,
    ``done`` gets each result as it comes (with the file, for an ingestion).
    """
    steps = SourceSteps()
    batches: list[str] = []
    if starting is not None:
        starting(Layer.STAGED)
    for source in sources:
        ingested = engine.ingest(
            source,
            table,
            domain,
            format=format,
            options=options,
            force=force_ingest,
            declaration=declaration,
        )
        steps.ingested.append(ingested)
        if done is not None:
            done(ingested, source)
        if ingested.batch_id not in batches:
            batches.append(ingested.batch_id)
    if to is Layer.STAGED:
        return steps
    for layer in (Layer.BRONZE, Layer.SILVER):
        if starting is not None:
            starting(layer)
        modes = promotion_modes(engine.current(layer, table), batches, engine.mode)
        for batch, mode in zip(batches, modes, strict=True):
            if layer is Layer.BRONZE:
                result = engine.promote_to_bronze(
                    table,
                    bronze_schema,
                    batch_id=batch,
                    domain=domain,
                    declaration=declaration,
                    mode=mode,
                    force=force_promotions,
                )
                steps.bronze.append(result)
            else:
                result = engine.promote_to_silver(
                    table,
                    silver,
                    batch_id=batch,
                    domain=domain,
                    declaration=declaration,
                    mode=mode,
                    force=force_promotions,
                )
                steps.silver.append(result)
            if done is not None:
                done(result, None)
        if layer is to:
            break
    return steps
