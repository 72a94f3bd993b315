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
    """True when no new batch was made: the file's bytes, read the same way,
    equal the batch :attr:`batch_id` (see :attr:`reason`)."""
    record: IngestionRecord | None
    """The ingestion record; when skipped, the ``skipped`` record of a duplicate
    delivery seen for the first time, else ``None``."""
    quarantine_path: Path | None = None
    duplicate_of: str | None = None
    """When skipped as a duplicate delivery (the same bytes from another path):
    the batch it equals."""
    reason: str = ""
    """Why it was skipped (``up to date``, ``duplicate delivery: ...``)."""


@dataclass(frozen=True)
class IngestPlan:
    """What :meth:`~jobforge.engine.pipeline.PipelineEngine.ingest` would do with a file."""

    action: str
    """``ingest`` (a new batch), ``up to date`` or ``duplicate`` (the same bytes
    as an earlier batch from another path)."""
    reason: str
    batch_id: str | None
    """The batch the file already is (``None`` when it would be ingested)."""


@dataclass(frozen=True)
class PromotionResult:
    """A table version published in bronze, silver or gold."""

    table: str
    layer: str
    batch_id: str
    path: Path
    record: TransitionRecord
    """The record that published the version (when :attr:`up_to_date`: the
    earlier record that published it)."""
    quarantine_path: Path | None = None
    """The batch's quarantine file when rows were rejected; when the executor
    wrote it in parts this names the batch and is no file
    (:attr:`quarantine_files` are the files)."""
    duplicates_path: Path | None = None
    """As :attr:`quarantine_path`, for the rows dropped as duplicates."""
    up_to_date: bool = False
    """True when the step was not run: its current version was made from the
    same inputs and declaration (nothing was written)."""
    reason: str = ""
    parts: list[Path] = field(default_factory=list)
    """The batch's part files, in row order, when the executor wrote it in
    parts (then :attr:`path` names the batch and is no file)."""
    quarantine_files: list[Path] = field(default_factory=list)
    """The files of the rows this publication rejected, in source-row order (one,
    or its parts; none when no row was rejected), as its record lists them."""
    duplicates_files: list[Path] = field(default_factory=list)
    """As :attr:`quarantine_files`, for the rows dropped as duplicates."""

    @property
    def files(self) -> list[Path]:
        """The files holding the batch's rows, in row order."""
        return list(self.parts) if self.parts else [self.path]

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
