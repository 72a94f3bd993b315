"""jobforge: auditable medallion data pipelines.

The public API for library users, importable from here::

    from jobforge import PipelineEngine, PipelineConfig, BronzeSchema, SilverSpec, Rule

Importing this package is cheap on purpose: it defines the version, and every
name below is imported the first time it is used (PEP 562), so ``import
jobforge`` (and ``jobforge --version``) loads neither polars, DuckDB, pyarrow
nor the plugin manager. Plugin authors import from :mod:`jobforge.plugin`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "2.0.0"

_PUBLIC: dict[str, str] = {
    # plugins mark their hook implementations with it
    "hookimpl": "jobforge.hooks.markers",
    # configuration and layers
    "Layer": "jobforge.pipeline.config",
    "PipelineConfig": "jobforge.pipeline.config",
    # the engine, its step declarations and results
    "PipelineEngine": "jobforge.engine.pipeline",
    "BronzeSchema": "jobforge.engine.steps",
    "CastSpec": "jobforge.engine.steps",
    "Rule": "jobforge.engine.steps",
    "SilverSpec": "jobforge.engine.steps",
    "GoldSpec": "jobforge.engine.steps",
    "TableDeclaration": "jobforge.catalog.declarations",
    "ColumnDeclaration": "jobforge.catalog.declarations",
    "DeclassifyDecision": "jobforge.catalog.declarations",
    "IngestResult": "jobforge.engine.results",
    "PromotionResult": "jobforge.engine.results",
    "PipelineResult": "jobforge.engine.results",
    # projects (jobforge.toml)
    "Project": "jobforge.project.model",
    "load_project": "jobforge.project.loader",
    "run_project": "jobforge.project.runner",
    "RunReport": "jobforge.project.runner",
    # reading what was built
    "QueryEngine": "jobforge.query.engine",
    "CatalogManager": "jobforge.catalog.manager",
    # the records
    "IngestionRecord": "jobforge.pipeline.models",
    "TransitionRecord": "jobforge.pipeline.models",
    "RowLedger": "jobforge.pipeline.models",
    "TableMetadata": "jobforge.pipeline.models",
    "ColumnMetadata": "jobforge.pipeline.models",
    # errors
    "JobforgeError": "jobforge.errors",
    "ConfigError": "jobforge.errors",
    "SourceError": "jobforge.errors",
    "ContractError": "jobforge.errors",
    "TransitionError": "jobforge.errors",
    "CatalogError": "jobforge.errors",
    "GovernanceError": "jobforge.errors",
    "QueryError": "jobforge.errors",
}
"""Public name -> the module that defines it."""

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'jobforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and editors see
    from jobforge.catalog.declarations import (
        ColumnDeclaration,
        DeclassifyDecision,
        TableDeclaration,
    )
    from jobforge.catalog.manager import CatalogManager
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.results import IngestResult, PipelineResult, PromotionResult
    from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, Rule, SilverSpec
    from jobforge.errors import (
        CatalogError,
        ConfigError,
        ContractError,
        GovernanceError,
        JobforgeError,
        QueryError,
        SourceError,
        TransitionError,
    )
    from jobforge.hooks.markers import hookimpl
    from jobforge.pipeline.config import Layer, PipelineConfig
    from jobforge.pipeline.models import (
        ColumnMetadata,
        IngestionRecord,
        RowLedger,
        TableMetadata,
        TransitionRecord,
    )
    from jobforge.project.loader import load_project
    from jobforge.project.model import Project
    from jobforge.project.runner import RunReport, run_project
    from jobforge.query.engine import QueryEngine
