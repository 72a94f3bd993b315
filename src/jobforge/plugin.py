"""Everything a plugin author needs, importable from one place::

    from jobforge.plugin import SOURCE_ROW, ReadResult, SourceError, hookimpl

A plugin (bundled or third-party) imports from :mod:`jobforge` and from here,
never from a deeper module: those may move between releases, these names stay.
Like :mod:`jobforge`, importing this module is cheap: each name is imported the
first time it is used (PEP 562). The hooks themselves are documented in
``docs/plugins.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC: dict[str, str] = {
    # the marker of hook implementations
    "hookimpl": "jobforge.hooks.markers",
    # configuration, layers and the records hooks receive
    "PipelineConfig": "jobforge.pipeline.config",
    "Layer": "jobforge.pipeline.config",
    "TableMetadata": "jobforge.pipeline.models",
    "ColumnMetadata": "jobforge.pipeline.models",
    "LineageRecord": "jobforge.pipeline.models",
    "IngestionRecord": "jobforge.pipeline.models",
    "TransitionRecord": "jobforge.pipeline.models",
    "utc_now": "jobforge.pipeline.models",
    "TransitionEvent": "jobforge.engine.events",
    # the source reader contract (hook jobforge_source_reader)
    "SourceReader": "jobforge.sources.base",
    "SourceSpec": "jobforge.sources.base",
    "SourceHeader": "jobforge.sources.base",
    "ReadResult": "jobforge.sources.base",
    "RecordStream": "jobforge.sources.base",
    "NativePlan": "jobforge.sources.base",
    "BOM": "jobforge.sources.headers",
    "normalise_headers": "jobforge.sources.headers",
    "refuse_reserved": "jobforge.sources.headers",
    # the executor contract (hook jobforge_executor)
    "Executor": "jobforge.engine.executor",
    "StepContext": "jobforge.engine.executor",
    "StagedContext": "jobforge.engine.executor",
    "StepOutcome": "jobforge.engine.executor",
    "Capabilities": "jobforge.engine.executor",
    "LedgerObligation": "jobforge.engine.executor",
    "StagedRequest": "jobforge.engine.executor",
    "BronzeRequest": "jobforge.engine.executor",
    "SilverRequest": "jobforge.engine.executor",
    "GoldRequest": "jobforge.engine.executor",
    "transform": "jobforge.engine.executor",
    "transform_kind": "jobforge.engine.executor",
    "QUARANTINE_COLUMNS": "jobforge.engine.executor",
    "DUPLICATE_COLUMNS": "jobforge.engine.executor",
    # the values of the rows set apart, column by column (each executor renders them)
    "quarantine_values": "jobforge.engine.set_apart",
    "duplicate_values": "jobforge.engine.set_apart",
    "Carried": "jobforge.engine.set_apart",
    "Constant": "jobforge.engine.set_apart",
    "StepValue": "jobforge.engine.set_apart",
    "SetApartValue": "jobforge.engine.set_apart",
    # the rules of silver Python transforms, and the running of "arrow" ones
    "ARROW": "jobforge.engine.transform_rules",
    "ArrowTransforms": "jobforge.engine.transform_rules",
    "filtered_rows": "jobforge.engine.transform_rules",
    "require_provenance": "jobforge.engine.transform_rules",
    "split_transforms": "jobforge.engine.transform_rules",
    "PendingFiles": "jobforge.storage.pending",
    "HashingFile": "jobforge.storage.hashing",
    # bronze casts as DuckDB SQL (the duckdb executor; staged -> bronze control totals)
    "cast_terms": "jobforge.engine.cast_sql",
    # the step specs an executor carries out (the same ones `import jobforge` gives)
    "BronzeSchema": "jobforge.engine.steps",
    "CastSpec": "jobforge.engine.steps",
    "Rule": "jobforge.engine.steps",
    "SilverSpec": "jobforge.engine.steps",
    "GoldSpec": "jobforge.engine.steps",
    "transform_name": "jobforge.engine.steps",
    # executor helpers: the bronze plan every executor follows, so that they cast alike
    "bronze_columns": "jobforge.engine.bronze_plan",
    "typed_casts": "jobforge.engine.bronze_plan",
    "cast_message_type": "jobforge.engine.bronze_plan",
    "ZONED_TIME": "jobforge.engine.bronze_plan",
    # executor helpers: the gold SQL sandbox (DuckDB) and what its results must hold
    "run_gold_sql": "jobforge.engine.gold_sql",
    "describe_gold": "jobforge.engine.gold_sql",
    "require_lineage": "jobforge.engine.gold_sql",
    "utc_type": "jobforge.engine.gold_sql",
    "first_line": "jobforge.engine.gold_sql",
    "SQL_TYPES": "jobforge.engine.gold_sql",
    "WRITE": "jobforge.engine.gold_sql",
    "STAGED_WRITE": "jobforge.engine.gold_sql",
    # executor helpers: quoting and checking SQL text
    "quote_ident": "jobforge.query.guard",
    "quote_literal": "jobforge.query.guard",
    "select_statement": "jobforge.query.guard",
    # the catalog store contract (hook jobforge_catalog_store)
    "CatalogStore": "jobforge.catalog.store",
    "CatalogPart": "jobforge.catalog.store",
    "SchemaVersion": "jobforge.catalog.entries",
    "GlossaryTerm": "jobforge.catalog.glossary",
    "check_related": "jobforge.catalog.glossary",
    "RunRecord": "jobforge.catalog.runs",
    "record_id": "jobforge.catalog.lineage",
    # catalog store helpers: the JSON schemas of the records, reading JSON folders, locks
    "json_schemas": "jobforge.pipeline.models",
    "visible_json_files": "jobforge.catalog.jsonfile",
    "catalog_lock": "jobforge.storage.locks",
    "folder_lock": "jobforge.storage.locks",
    "DEFAULT_TIMEOUT_S": "jobforge.storage.locks",
    # the table store contract (hook jobforge_table_store)
    "TableStore": "jobforge.storage.store",
    "Draft": "jobforge.storage.store",
    "StepTargets": "jobforge.storage.store",
    "AREAS_SET_APART": "jobforge.storage.store",
    "BatchEntry": "jobforge.storage.versions",
    "CurrentVersion": "jobforge.storage.versions",
    "WriteMode": "jobforge.storage.versions",
    "MaintainedStore": "jobforge.storage.maintenance",
    "LocalTableFolders": "jobforge.engine.local_tables",
    "READABLE": "jobforge.storage.maintenance",
    "COMPACTED_PREFIX": "jobforge.storage.maintenance",
    "DEFAULT_COMPACT_TARGET_BYTES": "jobforge.storage.maintenance",
    "CompactedFile": "jobforge.storage.maintenance",
    # helpers for stores and writers that keep files on a local disk
    "atomic_write_text": "jobforge.storage.atomic",
    "remove_stale_temporaries": "jobforge.storage.atomic",
    "remove_stale_temporaries_of": "jobforge.storage.atomic",
    "temporary_path_for": "jobforge.storage.atomic",
    "remove_published": "jobforge.storage.pending",
    "validate_name": "jobforge.storage.names",
    # object storage (an s3:// data root): its settings and its files
    "ObjectRoot": "jobforge.storage.objects",
    "ObjectFiles": "jobforge.storage.objects",
    "LocalFiles": "jobforge.storage.objects",
    "S3Files": "jobforge.storage.objects",
    "ObjectStoreError": "jobforge.storage.objects",
    "PreconditionFailed": "jobforge.storage.objects",
    # the provenance columns every row carries (see docs/provenance.md)
    "SOURCE_FILE": "jobforge.provenance",
    "INGESTED_AT": "jobforge.provenance",
    "BATCH_ID": "jobforge.provenance",
    "LAYER": "jobforge.provenance",
    "SOURCE_ROW": "jobforge.provenance",
    "PROCESSED_AT": "jobforge.provenance",
    "LINEAGE": "jobforge.provenance",
    "PROVENANCE_DESCRIPTIONS": "jobforge.provenance",
    "ALL_COLUMNS": "jobforge.provenance",
    "LAYER_COLUMNS": "jobforge.provenance",
    "is_provenance": "jobforge.provenance",
    "data_columns": "jobforge.provenance",
    # reading the catalog
    "CatalogManager": "jobforge.catalog.manager",
    "current_version": "jobforge.catalog.manager",
    "split_key": "jobforge.catalog.manager",
    "batch_id_of_file": "jobforge.catalog.lineage",
    # project file sections that plugins read
    "OpenLineageSection": "jobforge.project.model",
    "SparkSection": "jobforge.project.model",
    # errors and messages
    "JobforgeError": "jobforge.errors",
    "ConfigError": "jobforge.errors",
    "SourceError": "jobforge.errors",
    "CatalogError": "jobforge.errors",
    "PluginError": "jobforge.errors",
    "ContractError": "jobforge.errors",
    "QueryError": "jobforge.errors",
    "LockTimeoutError": "jobforge.errors",
    "one_line": "jobforge.hooks.manager",
    "summarise": "jobforge.catalog.jsonfile",
    "get_logger": "jobforge.logging",
}
"""Public name -> the module that defines it."""

_MODULES: dict[str, str] = {
    # every polars / pyarrow file call goes through it (no path is a pattern)
    "literal": "jobforge.storage.literal",
    # the local version pointer format (``_current.json``) of the parquet store
    "versions": "jobforge.storage.versions",
}
"""Public module name -> the module it is."""

__all__ = [*_PUBLIC, *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value: Any = importlib.import_module(_MODULES[name])
    elif name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    else:
        raise AttributeError(f"module 'jobforge.plugin' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and editors see
    from jobforge.catalog.entries import SchemaVersion
    from jobforge.catalog.glossary import GlossaryTerm, check_related
    from jobforge.catalog.jsonfile import summarise, visible_json_files
    from jobforge.catalog.lineage import batch_id_of_file, record_id
    from jobforge.catalog.manager import CatalogManager, current_version, split_key
    from jobforge.catalog.runs import RunRecord
    from jobforge.catalog.store import CatalogPart, CatalogStore
    from jobforge.engine.bronze_plan import (
        ZONED_TIME,
        bronze_columns,
        cast_message_type,
        typed_casts,
    )
    from jobforge.engine.cast_sql import cast_terms
    from jobforge.engine.events import TransitionEvent
    from jobforge.engine.executor import (
        DUPLICATE_COLUMNS,
        QUARANTINE_COLUMNS,
        BronzeRequest,
        Capabilities,
        Executor,
        GoldRequest,
        LedgerObligation,
        SilverRequest,
        StagedContext,
        StagedRequest,
        StepContext,
        StepOutcome,
        transform,
        transform_kind,
    )
    from jobforge.engine.gold_sql import (
        SQL_TYPES,
        STAGED_WRITE,
        WRITE,
        describe_gold,
        first_line,
        require_lineage,
        run_gold_sql,
        utc_type,
    )
    from jobforge.engine.local_tables import LocalTableFolders
    from jobforge.engine.set_apart import (
        Carried,
        Constant,
        SetApartValue,
        StepValue,
        duplicate_values,
        quarantine_values,
    )
    from jobforge.engine.steps import (
        BronzeSchema,
        CastSpec,
        GoldSpec,
        Rule,
        SilverSpec,
        transform_name,
    )
    from jobforge.engine.transform_rules import (
        ARROW,
        ArrowTransforms,
        filtered_rows,
        require_provenance,
        split_transforms,
    )
    from jobforge.errors import (
        CatalogError,
        ConfigError,
        ContractError,
        JobforgeError,
        LockTimeoutError,
        PluginError,
        QueryError,
        SourceError,
    )
    from jobforge.hooks.manager import one_line
    from jobforge.hooks.markers import hookimpl
    from jobforge.logging import get_logger
    from jobforge.pipeline.config import Layer, PipelineConfig
    from jobforge.pipeline.models import (
        ColumnMetadata,
        IngestionRecord,
        LineageRecord,
        TableMetadata,
        TransitionRecord,
        json_schemas,
        utc_now,
    )
    from jobforge.project.model import OpenLineageSection, SparkSection
    from jobforge.provenance import (
        ALL_COLUMNS,
        BATCH_ID,
        INGESTED_AT,
        LAYER,
        LAYER_COLUMNS,
        LINEAGE,
        PROCESSED_AT,
        PROVENANCE_DESCRIPTIONS,
        SOURCE_FILE,
        SOURCE_ROW,
        data_columns,
        is_provenance,
    )
    from jobforge.query.guard import quote_ident, quote_literal, select_statement
    from jobforge.sources.base import (
        NativePlan,
        ReadResult,
        RecordStream,
        SourceHeader,
        SourceReader,
        SourceSpec,
    )
    from jobforge.sources.headers import BOM, normalise_headers, refuse_reserved
    from jobforge.storage import literal, versions
    from jobforge.storage.atomic import (
        atomic_write_text,
        remove_stale_temporaries,
        remove_stale_temporaries_of,
        temporary_path_for,
    )
    from jobforge.storage.hashing import HashingFile
    from jobforge.storage.locks import DEFAULT_TIMEOUT_S, catalog_lock, folder_lock
    from jobforge.storage.maintenance import (
        COMPACTED_PREFIX,
        DEFAULT_COMPACT_TARGET_BYTES,
        READABLE,
        CompactedFile,
        MaintainedStore,
    )
    from jobforge.storage.names import validate_name
    from jobforge.storage.objects import (
        LocalFiles,
        ObjectFiles,
        ObjectRoot,
        ObjectStoreError,
        PreconditionFailed,
        S3Files,
    )
    from jobforge.storage.pending import PendingFiles, remove_published
    from jobforge.storage.store import AREAS_SET_APART, Draft, StepTargets, TableStore
    from jobforge.storage.versions import BatchEntry, CurrentVersion, WriteMode
