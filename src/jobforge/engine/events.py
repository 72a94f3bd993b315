"""What lifecycle hooks receive about a transition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobforge.pipeline.config import PipelineConfig


@dataclass(frozen=True)
class TransitionEvent:
    """One step of one table: ``source_layer`` is ``"source"`` for ingestion."""

    table: str
    source_layer: str
    target_layer: str
    batch_id: str
    config: PipelineConfig
    domain: str = ""
    run_id: str | None = None
    """The run this step is a part of: every step of one ``jobforge run`` (one
    :func:`~jobforge.project.runner.run_project` call) has the same id; ``None``
    for a step started outside a project run without one
    (``PipelineEngine(run_id=...)``)."""
