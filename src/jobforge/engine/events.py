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
