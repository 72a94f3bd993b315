"""The hook specifications: the contract between jobforge and its plugins.

Every hook name starts with ``jobforge_``. Pluggy passes arguments by name, so
an implementation may accept only the arguments it uses (``def
jobforge_write_lineage(log): ...`` is fine). Arguments that may be added in
later releases get a default in the spec, so old implementations keep working.

Call order: pluggy calls the most recently registered implementation first.
jobforge registers bundled plugins, then installed entry points (sorted by
name), then plugins passed explicitly, so explicit > installed > bundled; the
bundled defaults are also marked ``trylast``. ``jobforge plugins --hook NAME``
shows the order.

Each hook is documented in ``docs/plugins.md`` with its exact signature; a
meta-test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.hooks.markers import hookspec

if TYPE_CHECKING:
    from jobforge.catalog.profile import TableProfile
    from jobforge.catalog.store import CatalogStore
    from jobforge.engine.events import TransitionEvent
    from jobforge.engine.executor import Executor
    from jobforge.pipeline.config import Layer, PipelineConfig
    from jobforge.pipeline.models import ColumnMetadata, LineageRecord, TableMetadata
    from jobforge.sources.base import SourceReader, SourceSpec
    from jobforge.storage.store import TableStore


# -- layout ------------------------------------------------------------------
@hookspec(firstresult=True)
def jobforge_resolve_layer_path(config: PipelineConfig, layer: Layer) -> Path | None:
    """Return the directory that holds ``layer``'s tables, or ``None`` to pass.

    First non-``None`` result wins. Bundled default (``dama``, trylast):
    ``config.data_root / layer.value``.
    """


@hookspec(firstresult=True)
def jobforge_resolve_quarantine_path(config: PipelineConfig) -> Path | None:
    """Return the directory of rejected rows, or ``None`` to pass.

    First non-``None`` result wins. Bundled default (``dama``, trylast):
    ``config.data_root / "quarantine"``.
    """


@hookspec(firstresult=True)
def jobforge_resolve_catalog_path(config: PipelineConfig) -> Path | None:
    """Return the catalog directory (``tables/``, ``lineage/``, ``glossary/``,
    ``schemas/`` live below it), or ``None`` to pass.

    First non-``None`` result wins. Bundled default (``dama``, trylast):
    ``config.data_root / "catalog"``.
    """


# -- sources -----------------------------------------------------------------
@hookspec(firstresult=True)
def jobforge_source_reader(source: SourceSpec, config: PipelineConfig) -> SourceReader | None:
    """Claim a source file: return a :class:`~jobforge.sources.base.SourceReader`
    that scans it lazily, or ``None`` if this plugin does not read it.

    ``source`` holds the path, the declared ``format`` (or ``None`` to decide
    by suffix) and the reader options. First claim wins. Bundled readers
    (``readers``, trylast): csv, tsv, xlsx, json, ndjson/jsonl, parquet.
    """


@hookspec
def jobforge_source_formats() -> list[str]:  # type: ignore[empty-body]
    """Return the format names this plugin can read.

    All results are concatenated; the list is shown when no reader claims a
    file ("supported formats: ...").
    """


# -- execution -----------------------------------------------------------------
@hookspec(firstresult=True)
def jobforge_executor(config: PipelineConfig) -> Executor | None:
    """Return the execution engine that runs the layer steps, or ``None``.

    Answer with your executor when ``config.executor`` is its name (``[engine]
    executor``), ``None`` otherwise; the engine refuses an executor of another
    name. First result wins. Bundled (trylast): ``polars`` (the polars
    streaming executor) and ``duckdb``. The contract:
    :mod:`jobforge.engine.executor`.
    """


# -- storage -----------------------------------------------------------------
@hookspec(firstresult=True)
def jobforge_table_store(config: PipelineConfig) -> TableStore | None:
    """Return the table store that keeps the versions of every table of
    ``config`` (see :class:`jobforge.storage.store.TableStore`), or ``None`` to
    pass.

    First result wins. Bundled default (``parquet-store``, trylast): parquet
    files and an atomically switched ``_current.json`` pointer per table.

    .. versionadded:: 2.1
    """


@hookspec(firstresult=True)
def jobforge_catalog_store(config: PipelineConfig) -> CatalogStore | None:
    """Return the catalog store that keeps the catalog of ``config`` (see
    :class:`jobforge.catalog.store.CatalogStore`), or ``None`` to pass.

    ``config``: the pipeline configuration the store serves (its data root,
    its catalog folder as the layout plugins resolve it, its plugin settings).

    Everything the engine, ``CatalogManager``, the query views and the CLI read
    or write of the catalog (table entries, schema histories, lineage records,
    the glossary, run records) goes through this store; an exception it raises
    is reported naming the plugin. First result wins. Bundled default
    (``catalog-json``, trylast): reviewed JSON files under ``catalog/``.

    .. versionadded:: 2.1
    """


# -- metadata enrichment -----------------------------------------------------
@hookspec
def jobforge_enrich_table_metadata(
    metadata: TableMetadata,
    profile: TableProfile,
    config: PipelineConfig,
) -> Mapping[str, Any] | None:
    """Return field updates for a table's metadata, or ``None``.

    Called for every table entry the engine writes, after the technical
    metadata and the table's declaration are filled in. Every plugin
    contributes; the updates are merged in call order (a later plugin sees the
    earlier updates and wins on the same field) and the model is validated
    again: an invalid value is reported naming the plugin and the field.
    ``profile`` holds schema, counts and a few sample values, never the data.
    Bundled default (``catalog-json``, trylast): fills an empty description
    with a generated one.
    """


@hookspec
def jobforge_enrich_column_metadata(
    column: ColumnMetadata,
    table: TableMetadata,
    profile: TableProfile,
    config: PipelineConfig,
) -> Mapping[str, Any] | None:
    """Return field updates for one column's metadata, or ``None``.

    Merged like :func:`jobforge_enrich_table_metadata`. Bundled default
    (``catalog-json``, trylast): describes provenance columns and sets their
    PII class to ``none`` when nothing else did.
    """


# -- catalog writers -----------------------------------------------------------
@hookspec
def jobforge_write_table_metadata(metadata: TableMetadata, config: PipelineConfig) -> None:
    """Export a table's metadata. Every writer runs (fan-out), just before
    the catalog store (``jobforge_catalog_store``) saves the entry; the first
    error stops the rest and the store.

    For exporters (another catalog, a search index): what jobforge reads back
    comes from the catalog store. No bundled plugin implements it.
    """


@hookspec
def jobforge_write_lineage(log: LineageRecord, config: PipelineConfig) -> None:
    """Persist a lineage record: ``log`` is a
    :class:`~jobforge.pipeline.models.TransitionRecord` (a layer transition: the
    ``LayerTransitionLog`` fields plus table, row ledger and quarantine file) or
    an :class:`~jobforge.pipeline.models.IngestionRecord`; failed ones too.
    Every writer runs (fan-out), in call order, just before the catalog store
    (``jobforge_catalog_store``) saves the record; the first error stops the
    rest and the store (the next run on the table writes the record again).

    For exporters: what jobforge reads back comes from the catalog store. No
    bundled plugin implements it (``openlineage`` emits from
    ``jobforge_after_transition``).
    """


# -- lifecycle -----------------------------------------------------------------
@hookspec
def jobforge_before_transition(event: TransitionEvent) -> None:
    """Called before a table moves into a layer (ingestion included).

    Observers only: a hook must not start another transition. Raising stops
    the step, which is then recorded as failed.
    """


@hookspec
def jobforge_after_transition(event: TransitionEvent, record: LineageRecord) -> None:
    """Called after a transition was published, with its lineage record."""


@hookspec
def jobforge_transition_failed(event: TransitionEvent, error: BaseException) -> None:
    """Called when a transition failed, after its failed record was written."""


@hookspec
def jobforge_rows_quarantined(
    event: TransitionEvent, count: int, path: Path, files: list[Path]
) -> None:
    """Called when a transition sent ``count`` rows to quarantine.

    ``files`` are the parquet files holding them, in order: one file, or its
    parts when the executor wrote them in parts (the spark executor), in which
    case ``path`` (the batch's quarantine name, kept for implementations written
    before ``files``) is no file. An implementation takes only the arguments it
    names, so one that does not name ``files`` is called as before.
    """
