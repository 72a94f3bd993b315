"""Run records: one small summary per ``jobforge run``, kept by the catalog
store (the JSON store: ``catalog/runs/``).

A lineage record says what a transition published; a run record says what a
run did with every step it considered, including the steps that did not
publish anything: those that were up to date (and why), duplicate deliveries,
failures and the steps skipped because a table they are built from failed.
A run in which nothing changed writes this one file and nothing else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobforge.pipeline.config import PipelineConfig
from jobforge.timestamps import UtcDatetime


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


def read_run_records(config: PipelineConfig) -> list[RunRecord]:
    """Every run record, oldest first (validated)."""
    return config.catalog.runs()


def last_run(config: PipelineConfig) -> RunRecord | None:
    """The most recent run record, if any."""
    runs = read_run_records(config)
    return runs[-1] if runs else None
