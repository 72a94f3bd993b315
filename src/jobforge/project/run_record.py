"""The run record of a ``jobforge run``, made from its report: the project
writes it (the catalog keeps :class:`~jobforge.catalog.runs.RunRecord`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.catalog.runs import RunRecord, RunStep
from jobforge.pipeline.config import PipelineConfig

if TYPE_CHECKING:
    from jobforge.project.model import Project
    from jobforge.project.runner import RunReport


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
