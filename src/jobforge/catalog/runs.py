"""Run records: one small summary per ``jobforge run``, kept by the catalog
store (the JSON store: ``catalog/runs/``).

A lineage record says what a transition published; a run record says what a
run did with every step it considered, including the steps that did not
publish anything: those that were up to date (and why), duplicate deliveries,
failures and the steps skipped because a table they are built from failed.
A run in which nothing changed writes this one file and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobforge.pipeline.config import PipelineConfig
from jobforge.timestamps import UtcDatetime

if TYPE_CHECKING:
    from jobforge.project.model import Project
    from jobforge.project.runner import RunReport


class RunStep(BaseModel):
    """One step of a run, as it ended (see :data:`jobforge.project.runner.STEP_STATUSES`)."""

    model_config = ConfigDict(extra="forbid")

    table: str
    layer: str
    status: str
    reason: str = ""
    batch_id: str = ""
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    seconds: float = 0.0
    error: str | None = None
    source: str | None = None


class RunRecord(BaseModel):
    """What one run did."""

    model_config = ConfigDict(extra="forbid")

    record_type: Literal["run"] = "run"
    run_id: str
    project: str
    """The project file the run was declared in."""
    started_at: UtcDatetime
    completed_at: UtcDatetime
    status: Literal["success", "failed"]
    counts: dict[str, int] = Field(default_factory=dict)
    """Steps per status."""
    steps: list[RunStep] = Field(default_factory=list)


def write_run_record(config: PipelineConfig, project: Project, report: RunReport) -> Path | None:
    """Save the record of a run in the catalog store and return where the store
    keeps run records; a run that considered no step writes none."""
    if not report.steps:
        return None
    completed: datetime = report.completed_at or report.started_at
    record = RunRecord(
        run_id=report.run_id,
        project=str(project.path),
        started_at=report.started_at,
        completed_at=completed,
        status="success" if report.ok else "failed",
        counts={k: v for k, v in report.counts().items() if v},
        steps=[RunStep(**_step_fields(step)) for step in report.steps],
    )
    config.catalog.save_run(record)
    return Path(config.catalog.location("runs"))


def _step_fields(step: Any) -> dict[str, Any]:
    return {name: getattr(step, name) for name in RunStep.model_fields}


def read_run_records(config: PipelineConfig) -> list[RunRecord]:
    """Every run record, oldest first (validated)."""
    return config.catalog.runs()


def last_run(config: PipelineConfig) -> RunRecord | None:
    """The most recent run record, if any."""
    runs = read_run_records(config)
    return runs[-1] if runs else None
