"""The execution engine contract.

The engine (:class:`~jobforge.engine.pipeline.PipelineEngine`) decides *what*
happens: which files are read, where outputs go, the row ledger, lineage and
publishing. An :class:`Executor` decides *how*: it reads inputs, applies the
declarative step and writes parquet files to the temporary paths it is given.
polars is the bundled executor (plugin ``polars``); another engine plugs in
through the ``jobforge_executor`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from jobforge.storage.store import StepTargets

__all__ = [
    "DUPLICATE_COLUMNS",
    "QUARANTINE_COLUMNS",
    "Executor",
    "StagedContext",
    "StepContext",
    "StepOutcome",
    "StepTargets",
]

if TYPE_CHECKING:
    from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
    from jobforge.sources.base import ReadResult
    from jobforge.storage.pending import PendingFiles

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_ingested_at",
    "_batch_id",
    "_source_row",
    "layer",
    "table_name",
    "rule_id",
    "column",
    "message",
    "severity",
    "row",
    "quarantined_at",
)
"""Columns of every quarantine file; ``row`` holds the rejected row's original
values as a JSON object (or, for a record the reader could not split into
fields, the raw fields as a JSON array)."""

DUPLICATE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_ingested_at",
    "_batch_id",
    "_source_row",
    "table_name",
    "row",
    "duplicate_of",
    "deduplicated_at",
)
"""Columns of the file of rows dropped as duplicates in silver; ``duplicate_of``
is the ``_source_row`` of the row it equals, the one kept (same batch)."""


@dataclass
class StepContext:
    """What every step needs to stamp its rows."""

    table: str
    batch_id: str
    processed_at: datetime


@dataclass
class StagedContext(StepContext):
    source_file: str = ""
    ingested_at: datetime | None = None


@dataclass
class StepOutcome:
    """What an executor reports after writing a step. Counts come from the written
    files' parquet footers, never from a second scan. Column lineage is not the
    executor's to report: the engine works it out from the step's declarations
    (:mod:`jobforge.engine.column_lineage`)."""

    rows_in: int
    rows_out: int
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    rows_filtered: int = 0
    rows_warned: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)
    transforms_applied: list[str] = field(default_factory=list)


class Executor(Protocol):
    """Runs the layer steps. Every method writes only to ``pending`` temporaries."""

    name: str

    def write_staged(
        self, read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
    ) -> StepOutcome: ...

    def write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome: ...

    def write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome: ...

    def write_gold(
        self,
        inputs: dict[str, list[Path]],
        spec: GoldSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome: ...
