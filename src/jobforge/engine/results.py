"""Typed results of engine calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobforge.pipeline.models import IngestionRecord, LineageRecord, TransitionRecord


@dataclass(frozen=True)
class IngestResult:
    """A source file in the staged layer (or the batch it was already in)."""

    table: str
    batch_id: str
    path: Path
    """The staged batch file."""
    rows: int
    rows_quarantined: int
    skipped: bool
    """True when the identical file had been ingested before and was not read again."""
    record: IngestionRecord | None
    """The ingestion record; ``None`` when skipped."""
    quarantine_path: Path | None = None


@dataclass(frozen=True)
class PromotionResult:
    """A table version published in bronze, silver or gold."""

    table: str
    layer: str
    batch_id: str
    path: Path
    record: TransitionRecord
    quarantine_path: Path | None = None
    duplicates_path: Path | None = None

    @property
    def rows(self) -> int:
        return self.record.row_count_out


@dataclass
class PipelineResult:
    """One source file taken through every layer."""

    table: str
    batch_id: str
    ingest: IngestResult
    bronze: PromotionResult
    silver: PromotionResult
    gold: list[PromotionResult] = field(default_factory=list)

    @property
    def records(self) -> list[LineageRecord]:
        found: list[LineageRecord] = [self.ingest.record] if self.ingest.record else []
        found += [self.bronze.record, self.silver.record]
        found += [g.record for g in self.gold]
        return found
