"""The catalog store contract: where the catalog of one data root is kept.

The core decides *what* the catalog holds (a table's entry, its schema
history, the lineage record of every ingestion and transition, the glossary,
the run records) and when each is written; a :class:`CatalogStore` decides
*how* it is kept and read back. Every read and write of the catalog by the
engine, :class:`~jobforge.catalog.manager.CatalogManager`, the query views, the
site and the CLI goes through the store of ``config.catalog``.

One store answers the ``jobforge_catalog_store`` hook (first result wins); the
bundled one keeps reviewed JSON files under ``catalog/`` (plugin
``catalog-json``). The fan-out ``jobforge_write_table_metadata`` and
``jobforge_write_lineage`` hooks are for exporters: they are called with every
entry and record just before the store saves it.

What a store must hold to (``tests/test_catalog_store.py`` runs the whole
engine on a store kept in a dict):

- what it returns validates (:class:`~jobforge.pipeline.models.TableMetadata`,
  :data:`~jobforge.pipeline.models.LineageRecord`...); something stored that
  does not is a :class:`~jobforge.errors.CatalogError` naming where it is,
  never skipped;
- saving the same entry, history, record, term or run again replaces it (a
  record is saved again when a run finishes what an interrupted one left);
- lists are in the order documented on each method;
- writes of one table's entry and history are made under the core's catalog
  lock of that table (:func:`~jobforge.storage.locks.catalog_lock`); the
  shared parts (glossary, runs) need the store's own exclusion between
  processes.

An unexpected exception a store raises reaches the user as a
:class:`~jobforge.errors.PluginError` naming the plugin that gave the store;
a :class:`~jobforge.errors.JobforgeError` it raises is passed on as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

    from jobforge.catalog.entries import SchemaVersion
    from jobforge.catalog.glossary import GlossaryTerm
    from jobforge.catalog.runs import RunRecord
    from jobforge.pipeline.models import LineageRecord, TableMetadata

CatalogPart = Literal["catalog", "entry", "history", "lineage", "chain", "glossary", "term", "runs"]
"""What :meth:`CatalogStore.location` is asked about."""


@runtime_checkable
class CatalogStore(Protocol):
    """Keeps the catalog of one data root (see the module docstring)."""

    name: str
    """How ``jobforge plugins`` and errors name the store."""

    def location(self, part: CatalogPart, layer: str | None = None, name: str | None = None) -> str:
        """Where the store keeps ``part``, as messages show it (a path, a URL):
        the entry or history of table ``name`` in ``layer``, the lineage of table
        ``name`` (or all of it), the glossary, the term ``name``, the runs."""
        ...

    # -- housekeeping ------------------------------------------------------------------
    def folders(self) -> list[Path]:
        """The local folders the store keeps its files in, created with the
        layer folders by :meth:`~jobforge.pipeline.config.PipelineConfig.ensure_layout`
        (``[]``: the store keeps nothing in local folders)."""
        ...

    def prepare(self, timeout: float) -> None:
        """Create what the store needs before its first write (idempotent). The
        engine calls it once, after its first publication: a data root that never
        received a table gets nothing. ``timeout``: seconds to wait for a lock."""
        ...

    def tidy(self) -> None:
        """Remove what writers killed mid-write left in the shared parts (glossary,
        runs...); skip, without waiting, what a live writer is writing. Called
        when an engine starts its first step."""
        ...

    def tidy_table(self, table: str, timeout: float) -> None:
        """Remove what a killed writer left of ``table``'s entries, histories and
        records. Called holding the table's lock, before its first step."""
        ...

    # -- table entries -------------------------------------------------------------------
    def entry(self, layer: str, table: str) -> TableMetadata | None:
        """The entry of ``layer.table`` (``None`` if it has none)."""
        ...

    def entries(self, layer: str) -> list[TableMetadata]:
        """Every entry of ``layer``, by table name."""
        ...

    def save_entry(self, metadata: TableMetadata) -> None:
        """Add or replace the entry of ``metadata.layer``/``metadata.table_name``.
        Called holding that table's catalog lock
        (:func:`jobforge.storage.locks.catalog_lock`), so the store may also
        remove what a killed writer of the same entry left."""
        ...

    def schema_history(self, layer: str, table: str) -> list[SchemaVersion]:
        """Every schema ``layer.table`` has had, oldest first (``[]`` if none)."""
        ...

    def save_schema_history(self, layer: str, table: str, history: list[SchemaVersion]) -> None:
        """Replace the schema history of ``layer.table`` (called holding the
        table's catalog lock, as :meth:`save_entry` is)."""
        ...

    # -- lineage records -----------------------------------------------------------------
    def records(self, table: str | None = None) -> list[LineageRecord]:
        """The records of ``table`` (or of every table), oldest first by
        ``started_at``; failed ones included."""
        ...

    def record(self, table: str, record_id: str) -> LineageRecord | None:
        """The record of ``table`` whose ingestion or transition id is ``record_id``."""
        ...

    def save_record(self, record: LineageRecord) -> None:
        """Keep a lineage record (a record is never changed, only saved again)."""
        ...

    def lineage_tables(self) -> list[str]:
        """The tables that have lineage records, sorted."""
        ...

    def record_bytes(self, table: str) -> list[tuple[str, bytes]]:
        """Every lineage record of ``table`` exactly as it is stored (its bytes,
        not parsed nor validated), each with the name messages give it (the JSON
        store: ``<table>/<file name>``), in any order. ``jobforge verify`` and the
        evidence pack hash these bytes, so that a record edited until it no
        longer validates is still named, not a crash; one that cannot be read at
        all is a :class:`~jobforge.errors.CatalogError` naming it."""
        ...

    def chain_head(self, table: str) -> str | None:
        """The chain head of ``table``'s records as it was saved (JSON text, see
        :mod:`jobforge.audit.chain`; ``None``: no record was chained yet). Kept
        as text so that ``jobforge verify`` sees exactly what was stored."""
        ...

    def save_chain_head(self, table: str, text: str) -> None:
        """Replace the chain head of ``table`` (called holding the table's lock,
        after its record was saved)."""
        ...

    # -- glossary and runs ---------------------------------------------------------------
    def glossary(self) -> dict[str, GlossaryTerm]:
        """Every glossary term by id."""
        ...

    def save_term(self, term: GlossaryTerm) -> None:
        """Add or replace a term. Its related terms must exist: check them with
        :func:`jobforge.catalog.glossary.check_related` against the terms as they
        are when it is written, with no other writer in between."""
        ...

    def runs(self) -> list[RunRecord]:
        """Every run record, oldest first."""
        ...

    def save_run(self, record: RunRecord) -> None:
        """Keep the record of one run."""
        ...
