"""SQL over every layer and the catalog, read-only, in DuckDB.

A :class:`QueryEngine` holds one in-memory DuckDB connection. On open (and on
:meth:`QueryEngine.refresh`) it creates:

- a view per table and layer over the files of its current version
  (``gold.dim_noc``, ``silver.noc_structure``, ``staged."odd-name"``...);
- ``quarantine.<table>``: every quarantined row of the table, all layers and
  batches; ``duplicates.<table>``: every row silver dropped as a duplicate.
  Both hold the original values of the rows, so each row also carries the
  table's ``classification`` (the highest of its staged, bronze and silver
  entries): read them as you would read the table;
- the catalog as tables: ``catalog.tables``, ``catalog.columns``,
  ``catalog.column_lineage`` (one row per column and source column),
  ``catalog.lineage``, ``catalog.glossary``, ``catalog.schema_versions``
  (read through :class:`~jobforge.catalog.manager.CatalogManager`, so an
  invalid catalog file stops the engine with its path). ``catalog.columns``
  holds example values only where the catalog may keep them
  (:func:`~jobforge.catalog.governance.redaction_reason`), also for entries
  written before that rule.

Unqualified names are looked up in gold, then silver, bronze, staged, catalog.

A view reads only files inside its own layer folder (the quarantine folder for
``quarantine`` and ``duplicates``), resolved: a table whose pointer lists a
file elsewhere (``../../outside/x.parquet``, a planted link) is skipped with a
warning naming the file, and so is a folder whose name is not a table name.

Read-only, twice over: every query must pass :mod:`jobforge.query.guard`
(one SELECT), and the connection is a :class:`~jobforge.query.sandbox.Sandbox`:
the files are read through pyarrow from their literal paths, and DuckDB itself
can open no file at all, to read or to write, with its configuration locked.
Because that is fixed once locked, :meth:`refresh` replaces the connection
with a new one.

Bounds: every statement has a time limit (``timeout``, default
:data:`~jobforge.query.limits.DEFAULT_TIMEOUT_S` seconds, enforced with DuckDB's
``interrupt()``), the connection a memory limit (``memory_limit``, default
:data:`~jobforge.query.limits.DEFAULT_MEMORY_LIMIT`), and :meth:`QueryEngine.stream`
reads a result in Arrow record batches, so that its size never sets memory.

A connection is not meant to be shared between threads: use one engine per thread.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from jobforge import provenance as prov
from jobforge.catalog.derivation import SOURCE_LAYER, split_source
from jobforge.catalog.governance import redact
from jobforge.catalog.manager import CatalogManager, current_version
from jobforge.errors import ConfigError, InvalidNameError, PathEscapeError, QueryError
from jobforge.logging import get_logger
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import (
    IngestionRecord,
    LineageRecord,
    TableMetadata,
    highest_classification,
)
from jobforge.query.guard import one_line, quote_ident, quote_literal, read_only_statement
from jobforge.query.limits import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S, TimeLimit, check_timeout
from jobforge.query.sandbox import Sandbox
from jobforge.storage import versions
from jobforge.storage.datasets import arrow_dataset
from jobforge.storage.history import AsOf, version_as_of
from jobforge.storage.names import ensure_no_symlinks, validate_name
from jobforge.storage.roots import write_roots
from jobforge.storage.store import DUPLICATES

log = get_logger()

RelationKind = Literal["table", "quarantine", "duplicates", "catalog"]
QUARANTINE_SCHEMA = "quarantine"
DUPLICATES_SCHEMA = "duplicates"
CATALOG_SCHEMA = "catalog"
SCHEMAS: tuple[str, ...] = (
    *(layer.value for layer in Layer),
    QUARANTINE_SCHEMA,
    DUPLICATES_SCHEMA,
    CATALOG_SCHEMA,
)
SEARCH_PATH: tuple[str, ...] = ("gold", "silver", "bronze", "staged", CATALOG_SCHEMA)
STREAM_BATCH_ROWS = 65_536
"""Rows per Arrow record batch of :meth:`QueryEngine.stream` (default)."""
_TS = pl.Datetime("us", "UTC")
_STRINGS = pl.List(pl.String)


@dataclass(frozen=True)
class Relation:
    """A view or catalog table of the engine."""

    schema: str
    name: str
    kind: RelationKind
    files: tuple[str, ...] = ()
    """The parquet files a view reads (empty for catalog tables)."""
    classification: str | None = None
    """``quarantine`` and ``duplicates``: the table's classification, a column of
    every row (``None``: the table has no catalog entry)."""
    dataset: ds.Dataset | None = field(default=None, compare=False, repr=False)
    """The store's Arrow dataset the view reads (Delta: delta-rs'), checked to
    read exactly :attr:`files`; ``None``: the view reads the files."""

    @property
    def key(self) -> str:
        """``schema.name`` as written in the catalog (unquoted)."""
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        """``"schema"."name"``, quoted for SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


class QueryStream:
    """The result of one query, read as Arrow record batches.

    Iterate over it for :class:`pyarrow.RecordBatch` es (each at most the
    batch size asked for); :attr:`schema` is known before the first batch.
    The query's time limit runs until the last batch is read or the stream is
    closed; close it (or use it as a context manager) before the next query on
    the same engine. Errors, the time limit included, are :class:`QueryError`.
    """

    def __init__(self, reader: pa.RecordBatchReader, limit: TimeLimit) -> None:
        self._reader: pa.RecordBatchReader | None = reader
        self._limit = limit
        self.schema: pa.Schema = reader.schema
        self.rows = 0
        """Rows read so far."""

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while self._reader is not None:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self.close()
                return
            except (duckdb.Error, pa.ArrowException, OSError) as exc:
                message = self._limit.message() if self._limit.fired else one_line(exc)
                self.close()
                raise QueryError(message) from None
            self.rows += batch.num_rows
            yield batch

    def close(self) -> None:
        """Stop reading (idempotent): the statement ends, the connection is free."""
        reader, self._reader = self._reader, None
        try:
            if reader is not None:
                reader.close()
        finally:
            self._limit.stop()

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class QueryEngine:
    """Read-only SQL over the current version of every table, the quarantine
    and the catalog of one :class:`PipelineConfig`.

    ``timeout``: seconds a statement may run (and its result be read) before it
    is stopped with a :class:`QueryError`; ``None`` or ``0``: no limit.
    ``memory_limit`` (DuckDB's syntax, e.g. ``"2GB"``; ``None``: DuckDB's own
    default, 80 % of the machine's memory) and ``threads`` are passed to DuckDB.
    ``as_of`` (a version number or an instant, :mod:`jobforge.storage.history`)
    reads each layer's tables as they were then (a store that keeps history:
    Delta); the quarantine and catalog views stay current. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        as_of: AsOf | None = None,
    ) -> None:
        self.config = config
        self.as_of = as_of
        self.timeout = check_timeout(timeout)
        self._settings: dict[str, Any] = {}
        if memory_limit is not None:
            self._settings["memory_limit"] = memory_limit
        if threads is not None:
            self._settings["threads"] = threads
        self._sandbox: Sandbox | None = None
        self._relations: dict[str, Relation] = {}
        self.warnings: list[str] = []
        """What the last :meth:`refresh` skipped, and why (each also logged)."""
        self.refresh()

    def __repr__(self) -> str:
        return f"QueryEngine(data_root={str(self.config.data_root)!r})"

    def __enter__(self) -> QueryEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- lifecycle -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the current versions, quarantine and catalog.

        Builds a new locked connection first and swaps it in only when it is
        complete, so a failure leaves the previous one working.
        """
        relations, warnings = self._discover()
        catalog = CatalogManager(self.config)
        entries = catalog.list_tables()
        frames = _catalog_frames(catalog, entries)
        relations = _classified(relations, entries)
        try:
            sandbox = Sandbox(self._settings)
        except duckdb.Error as exc:
            settings = ", ".join(f"{k}={v!r}" for k, v in self._settings.items())
            raise ConfigError(
                f"invalid query engine settings ({settings}): {one_line(exc)}"
            ) from None
        try:
            _build(sandbox, relations, frames)
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            sandbox.close()
            raise QueryError(f"cannot open the query engine: {one_line(exc)}") from None
        except BaseException:
            sandbox.close()
            raise
        previous, self._sandbox = self._sandbox, sandbox
        self._relations = {r.key: r for r in relations}
        self._relations.update(
            {f"{CATALOG_SCHEMA}.{n}": Relation(CATALOG_SCHEMA, n, "catalog") for n in frames}
        )
        self.warnings = warnings
        for warning in warnings:
            log.warning("query.skipped", reason=warning)
        if previous is not None:
            previous.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    @property
    def closed(self) -> bool:
        return self._sandbox is None

    # -- queries -----------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[object] | Mapping[str, object] | None = None
    ) -> pl.DataFrame:
        """Run one read-only statement and return its result.

        ``params`` binds ``?``/``$1`` (a sequence) or ``$name`` (a mapping)
        placeholders. The result has exactly the columns the SQL selects.
        A statement that is not a SELECT, SQL DuckDB refuses, or a statement
        still running after the time limit is a :class:`QueryError` with one line.
        The whole result is held in memory: use :meth:`stream` for large ones.
        """
        statement = read_only_statement(sql)
        con = self._connection()
        limit = TimeLimit(con, self.timeout)
        with limit:
            try:
                frame: pl.DataFrame = con.sql(statement, params=params).pl()
                return frame
            except (duckdb.Error, pa.ArrowException, OSError) as exc:
                raise QueryError(limit.message() if limit.fired else one_line(exc)) from None

    def stream(
        self,
        sql: str,
        params: Sequence[object] | Mapping[str, object] | None = None,
        *,
        batch_rows: int = STREAM_BATCH_ROWS,
    ) -> QueryStream:
        """Run one read-only statement and read its result in Arrow record
        batches of at most ``batch_rows`` rows (memory does not grow with the
        result's size, except for what the query itself must hold, such as a
        sort). The same guard, time limit and errors as :meth:`query`.
        """
        statement = read_only_statement(sql)
        con = self._connection()
        limit = TimeLimit(con, self.timeout).start()
        try:
            reader = con.sql(statement, params=params).to_arrow_reader(batch_rows)
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            limit.stop()
            raise QueryError(limit.message() if limit.fired else one_line(exc)) from None
        except BaseException:
            limit.stop()
            raise
        return QueryStream(reader, limit)

    def query_with_provenance(
        self,
        table: str,
        *,
        layer: Layer | str = Layer.GOLD,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Rows of ``layer.table`` with their provenance columns.

        ``columns``: the data columns wanted (default: all); the table's
        provenance columns (``_source_file``, ``_batch_id``, ``_source_row``,
        ``_lineage``...) are always added after them. ``where`` and
        ``order_by`` are SQL fragments; the whole statement still passes the
        read-only guard.
        """
        relation = self._relation(Layer(layer).value, table)
        available = self.columns(relation.key)
        if columns is None:
            wanted = [c for c in available if not prov.is_provenance(c)]
        else:
            wanted = list(dict.fromkeys(columns))
            unknown = [c for c in wanted if c not in available]
            if unknown:
                raise QueryError(
                    f"{relation.key} has no column(s) {', '.join(map(repr, unknown))}; "
                    f"columns: {', '.join(map(repr, available))}"
                )
        wanted += [c for c in available if prov.is_provenance(c) and c not in wanted]
        sql = f"SELECT {', '.join(quote_ident(c) for c in wanted)} FROM {relation.sql_name}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.query(sql)

    def get_lineage(self, table: str, layer: Layer | str = Layer.GOLD) -> pl.DataFrame:
        """Where the rows of ``layer.table`` come from, by source file and batch.

        One row per input table and ingestion batch: ``input_table``,
        ``source_file``, ``source_sha256``, ``batch_id``, ``ingested_at``,
        ``rows`` (rows of this table derived from the batch), ``source_rows``
        (distinct source records used), ``first_source_row``/``last_source_row``,
        and ``first_ingested_at``/``last_ingested_at`` of the source file over
        the batches listed. Gold rows are traced through ``_lineage``; other
        layers through ``_batch_id`` and ``_source_row``.
        """
        relation = self._relation(Layer(layer).value, table)
        available = self.columns(relation.key)
        if prov.LINEAGE in available:
            keys = (
                f"SELECT row_number() OVER () AS row_id, "
                f"unnest({quote_ident(prov.LINEAGE)}) AS lineage_key FROM {relation.sql_name}"
            )
            pattern = quote_literal(r"^(.*):([^:]*):([^:]*)$")
            parts = (
                f"SELECT row_id, regexp_extract(lineage_key, {pattern}, 1) AS input_table, "
                f"regexp_extract(lineage_key, {pattern}, 2) AS batch_id, "
                f"TRY_CAST(regexp_extract(lineage_key, {pattern}, 3) AS BIGINT) AS source_row "
                f"FROM keys"
            )
        elif prov.BATCH_ID in available and prov.SOURCE_ROW in available:
            keys = "SELECT 1"
            parts = (
                f"SELECT row_number() OVER () AS row_id, {quote_literal(relation.name)} "
                f"AS input_table, {quote_ident(prov.BATCH_ID)} AS batch_id, "
                f"{quote_ident(prov.SOURCE_ROW)} AS source_row FROM {relation.sql_name}"
            )
        else:
            raise QueryError(f"{relation.key} has no provenance columns to trace")
        sql = f"""
            WITH keys AS ({keys}),
            parts AS ({parts}),
            batches AS (
                SELECT input_table, batch_id, count(DISTINCT row_id) AS rows,
                       count(DISTINCT source_row) AS source_rows,
                       min(source_row) AS first_source_row, max(source_row) AS last_source_row
                FROM parts GROUP BY input_table, batch_id
            ),
            ingestions AS (
                SELECT table_name, batch_id, source_file, source_sha256, started_at
                FROM catalog.lineage
                WHERE record_type = 'ingestion' AND status <> 'failed'
            )
            SELECT b.input_table, i.source_file, i.source_sha256, b.batch_id,
                   i.started_at AS ingested_at, b.rows, b.source_rows,
                   b.first_source_row, b.last_source_row,
                   min(i.started_at) OVER (PARTITION BY i.source_file) AS first_ingested_at,
                   max(i.started_at) OVER (PARTITION BY i.source_file) AS last_ingested_at
            FROM batches b
            LEFT JOIN ingestions i ON i.batch_id = b.batch_id AND i.table_name = b.input_table
            ORDER BY i.source_file, ingested_at, b.input_table, b.batch_id
        """
        return self.query(sql)

    # -- what there is -------------------------------------------------------------------------
    def relations(self, schema: str | None = None) -> list[Relation]:
        """Every view and catalog table (of ``schema`` if given), sorted."""
        found = [r for r in self._relations.values() if schema is None or r.schema == schema]
        order = {name: i for i, name in enumerate(SCHEMAS)}
        return sorted(found, key=lambda r: (order.get(r.schema, len(order)), r.name))

    def columns(self, relation: str) -> list[str]:
        """The column names of ``schema.name`` (e.g. ``"gold.dim_noc"``), in order."""
        found = self._relations.get(relation)
        if found is None:
            raise QueryError(self._unknown(relation))
        con = self._connection()
        try:
            return [row[0] for row in con.execute(f"DESCRIBE {found.sql_name}").fetchall()]
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None

    # -- internals -------------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._sandbox is None:
            raise QueryError("the query engine is closed")
        return self._sandbox.con

    def _relation(self, schema: str, table: str) -> Relation:
        key = f"{schema}.{validate_name(table)}"
        found = self._relations.get(key)
        if found is None:
            raise QueryError(self._unknown(key))
        return found

    def _unknown(self, key: str) -> str:
        schema = key.partition(".")[0]
        known = [r.key for r in self.relations(schema)]
        listing = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        return f"no table {key}" + (f"; {schema} has: {listing}" if known else "")

    def _folder(self, folder: Path, warnings: list[str]) -> Path | None:
        """``folder`` resolved, or None (with a warning) if a link leads to it
        from inside the data root (the engine refuses such a layout too)."""
        try:
            ensure_no_symlinks(write_roots(self.config), folder)
        except PathEscapeError:
            warnings.append(f"{folder}: skipped: a symbolic link leads to it inside the data root")
            return None
        return Path(os.path.realpath(folder))

    def _discover(self) -> tuple[list[Relation], list[str]]:
        """The views to create (current versions, quarantine and duplicates
        files) and what was skipped."""
        relations: list[Relation] = []
        warnings: list[str] = []
        for layer in Layer:
            layer_dir = self.config.layer_path(layer)
            if not layer_dir.is_dir():
                continue
            root = self._folder(layer_dir, warnings)
            if root is None:
                continue
            for table in self.config.store.tables(layer.value):
                files, version = self._version_files(layer, layer_dir, root, table, warnings)
                if files and version is not None:
                    relation = self._with_dataset(
                        Relation(layer.value, table, "table", files), version, warnings
                    )
                    if relation is not None:
                        relations.append(relation)
        relations += self._quarantine_relations(warnings)
        return relations, warnings

    def _quarantine_relations(self, warnings: list[str]) -> list[Relation]:
        """``quarantine.<t>`` and ``duplicates.<t>``: every batch file of the
        table's quarantine folders (a file resolving elsewhere is skipped)."""
        quarantine = self.config.quarantine_path()
        root = self._folder(quarantine, warnings) if quarantine.is_dir() else None
        if root is None:
            return []
        relations = []
        for table_dir in sorted(p for p in quarantine.iterdir() if p.is_dir()):
            try:
                table = validate_name(table_dir.name)
            except InvalidNameError:
                warnings.append(f"{table_dir}: skipped: {table_dir.name!r} is not a table name")
                continue
            rejected: list[str] = []
            duplicates: list[str] = []
            for sub in sorted(p for p in table_dir.iterdir() if p.is_dir()):
                kind = DUPLICATES_SCHEMA if sub.name == DUPLICATES else QUARANTINE_SCHEMA
                for file in sorted(f for f in sub.glob("batch=*.parquet") if f.is_file()):
                    resolved = _inside(file, root)
                    if resolved is None:
                        warnings.append(_outside(f"{kind}.{table}", file, root))
                    else:
                        (duplicates if kind == DUPLICATES_SCHEMA else rejected).append(resolved)
            if rejected:
                relations.append(Relation(QUARANTINE_SCHEMA, table, "quarantine", tuple(rejected)))
            if duplicates:
                relations.append(
                    Relation(DUPLICATES_SCHEMA, table, "duplicates", tuple(duplicates))
                )
        return relations

    def _with_dataset(
        self, relation: Relation, version: versions.CurrentVersion, warnings: list[str]
    ) -> Relation | None:
        """``relation`` reading the store's Arrow dataset of ``version`` if the store
        gives one; ``None`` (with a warning) if that dataset would read other files
        than the version's, checked ones (a Delta log edited to list a file elsewhere)."""
        found = arrow_dataset(self.config.store, relation.schema, relation.name, version)
        if found is None:
            return relation
        dataset, files = found
        reads = sorted(os.path.realpath(f) for f in files)
        if reads != sorted(relation.files):
            stray = sorted(set(reads) - set(relation.files)) or sorted(
                set(relation.files) - set(reads)
            )
            warnings.append(
                f"{relation.key}: skipped: the store's dataset of version {version.version} "
                f"reads other files than the version lists ({stray[0]})"
            )
            return None
        return dataclasses.replace(relation, dataset=dataset)

    def _version_files(
        self, layer: Layer, layer_dir: Path, root: Path, table: str, warnings: list[str]
    ) -> tuple[tuple[str, ...], versions.CurrentVersion | None]:
        """The resolved files of ``layer.table``'s current version (or the one
        ``as_of`` names) and that version; no files (with a warning) if the
        table is skipped."""
        folder = layer_dir / table
        try:
            validate_name(table)
        except InvalidNameError:
            warnings.append(f"{folder}: skipped: {table!r} is not a table name")
            return (), None
        if self.as_of is None:
            current = current_version(self.config, layer, table)
        else:
            current = version_as_of(self.config.store, layer.value, table, self.as_of)
        if current is None or not current.batches:
            return (), None
        pointer = folder / versions.POINTER_NAME
        resolved = []
        files = self.config.store.files(layer.value, table, current)
        for file in files:
            inside = _inside(file, root)
            if inside is None:
                warnings.append(_outside(f"{layer.value}.{table}", file, root, pointer))
                return (), None
            resolved.append(inside)
        missing = [f for f in files if not f.is_file()]
        if missing and self.as_of is not None:
            warnings.append(
                f"{layer.value}.{table}: skipped: its version {current.version} is no longer "
                f"readable ({missing[0].name} was removed by jobforge maintain; "
                "jobforge history lists the versions kept)"
            )
            return (), None
        if missing:
            raise QueryError(f"{pointer}: lists {missing[0].name}, which does not exist")
        return tuple(resolved), current


def _inside(file: Path, root: Path) -> str | None:
    """``file`` resolved (links followed), if that is inside ``root``."""
    resolved = Path(os.path.realpath(file))
    return str(resolved) if resolved.is_relative_to(root) else None


def _outside(what: str, file: Path, root: Path, pointer: Path | None = None) -> str:
    listed = f"{pointer} lists {file}" if pointer else f"the file {file}"
    return (
        f"{what}: skipped: {listed}, which is {os.path.realpath(file)}, outside its folder {root}"
    )


def _build(
    sandbox: Sandbox, relations: Sequence[Relation], frames: dict[str, pl.DataFrame]
) -> None:
    """Create the schemas, views and catalog tables, then lock the connection."""
    con = sandbox.con
    con.execute("SET TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA {quote_ident(schema)}")
    for relation in relations:
        files = [Path(f) for f in relation.files]
        if relation.dataset is not None:
            source = sandbox.dataset(relation.dataset, files)
        else:
            source = sandbox.parquet(files)
        extra = ""
        if relation.kind in ("quarantine", "duplicates"):
            label = quote_literal(relation.classification) if relation.classification else "NULL"
            extra = f", CAST({label} AS VARCHAR) AS classification"
        con.execute(f"CREATE VIEW {relation.sql_name} AS SELECT *{extra} FROM {source}")
    for name, frame in frames.items():
        con.register("jobforge_catalog_frame", frame)
        try:
            con.execute(
                f"CREATE TABLE {quote_ident(CATALOG_SCHEMA)}.{quote_ident(name)} AS "
                "SELECT * FROM jobforge_catalog_frame"
            )
        finally:
            con.unregister("jobforge_catalog_frame")
    con.execute(f"SET search_path = {quote_literal(','.join(SEARCH_PATH))}")
    sandbox.lock()


def _classified(relations: list[Relation], entries: Sequence[TableMetadata]) -> list[Relation]:
    """Quarantine and duplicates views with the classification of their table."""
    labels: dict[str, list[str]] = {}
    for entry in entries:
        if entry.layer != Layer.GOLD.value:
            labels.setdefault(entry.table_name, []).append(entry.classification)
    return [
        dataclasses.replace(r, classification=highest_classification(labels.get(r.name, [])))
        if r.kind in ("quarantine", "duplicates")
        else r
        for r in relations
    ]


# -- the catalog as tables ------------------------------------------------------------------------
_TABLES_SCHEMA: dict[str, pl.DataType] = {
    "layer": pl.String(),
    "table_name": pl.String(),
    "key": pl.String(),
    "domain": pl.String(),
    "description": pl.String(),
    "business_purpose": pl.String(),
    "data_owner": pl.String(),
    "data_steward": pl.String(),
    "classification": pl.String(),
    "classification_origin": pl.String(),
    "classification_sources": _STRINGS,
    "declassified_from": pl.String(),
    "declassify_reason": pl.String(),
    "declassify_approved_by": pl.String(),
    "min_group_size": pl.Int64(),
    "smallest_group": pl.Int64(),
    "retention_days": pl.Int64(),
    "row_count": pl.Int64(),
    "column_count": pl.Int64(),
    "file_size_bytes": pl.Int64(),
    "schema_version": pl.String(),
    "created_at": _TS,
    "updated_at": _TS,
    "upstream_tables": _STRINGS,
    "downstream_tables": _STRINGS,
    "transform_script": pl.String(),
    "file_path": pl.String(),
}
_COLUMNS_SCHEMA: dict[str, pl.DataType] = {
    "layer": pl.String(),
    "table_name": pl.String(),
    "position": pl.Int64(),
    "name": pl.String(),
    "data_type": pl.String(),
    "nullable": pl.Boolean(),
    "description": pl.String(),
    "glossary_term_id": pl.String(),
    "pii_classification": pl.String(),
    "pii_origin": pl.String(),
    "pii_sources": _STRINGS,
    "source_columns": _STRINGS,
    "lineage_kind": pl.String(),
    "lineage_expression": pl.String(),
    "example_values": _STRINGS,
    "is_provenance": pl.Boolean(),
}
_COLUMN_LINEAGE_SCHEMA: dict[str, pl.DataType] = {
    "target_layer": pl.String(),
    "target_table": pl.String(),
    "target_column": pl.String(),
    "position": pl.Int64(),
    "source_layer": pl.String(),
    "source_table": pl.String(),
    "source_column": pl.String(),
    "kind": pl.String(),
    "expression": pl.String(),
}
_LINEAGE_SCHEMA: dict[str, pl.DataType] = {
    "record_type": pl.String(),
    "record_id": pl.String(),
    "batch_id": pl.String(),
    "table_name": pl.String(),
    "domain": pl.String(),
    "source_layer": pl.String(),
    "target_layer": pl.String(),
    "status": pl.String(),
    "started_at": _TS,
    "completed_at": _TS,
    "seconds": pl.Float64(),
    "row_count_in": pl.Int64(),
    "row_count_out": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "rows_deduplicated": pl.Int64(),
    "rows_filtered": pl.Int64(),
    "rows_generated": pl.Int64(),
    "rows_warned": pl.Int64(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "source_size_bytes": pl.Int64(),
    "source_format": pl.String(),
    "reader": pl.String(),
    "input_tables": _STRINGS,
    "source_files": _STRINGS,
    "target_file": pl.String(),
    "quarantine_file": pl.String(),
    "transforms_applied": _STRINGS,
    "rule_counts": pl.String(),
    "errors": _STRINGS,
    "min_group_size": pl.Int64(),
    "smallest_group": pl.Int64(),
}
_GLOSSARY_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "name": pl.String(),
    "definition": pl.String(),
    "owner": pl.String(),
    "related_terms": _STRINGS,
}
_SCHEMA_VERSIONS_SCHEMA: dict[str, pl.DataType] = {
    "layer": pl.String(),
    "table_name": pl.String(),
    "schema_version": pl.String(),
    "first_seen": _TS,
    "columns": pl.List(pl.Struct({"name": pl.String(), "data_type": pl.String()})),
}


def _catalog_frames(
    catalog: CatalogManager, entries: Sequence[TableMetadata]
) -> dict[str, pl.DataFrame]:
    """The catalog tables, from validated catalog files (``entries``: every table entry)."""
    entries = [redact(e) for e in entries]
    records = catalog.lineage_records()
    terms = catalog.glossary().values()
    history = [
        {
            "layer": entry.layer,
            "table_name": entry.table_name,
            "schema_version": version.schema_version,
            "first_seen": version.first_seen,
            "columns": [{"name": n, "data_type": t} for n, t in version.columns],
        }
        for entry in entries
        for version in catalog.schema_history(entry.layer, entry.table_name)
    ]
    return {
        "tables": pl.DataFrame([_table_row(e) for e in entries], schema=_TABLES_SCHEMA),
        "columns": pl.DataFrame(
            [row for e in entries for row in _column_rows(e)], schema=_COLUMNS_SCHEMA
        ),
        "column_lineage": pl.DataFrame(
            [row for e in entries for row in _column_lineage_rows(e)],
            schema=_COLUMN_LINEAGE_SCHEMA,
        ),
        "lineage": pl.DataFrame([_lineage_row(r) for r in records], schema=_LINEAGE_SCHEMA),
        "glossary": pl.DataFrame([t.model_dump() for t in terms], schema=_GLOSSARY_SCHEMA),
        "schema_versions": pl.DataFrame(history, schema=_SCHEMA_VERSIONS_SCHEMA),
    }


def _table_row(entry: TableMetadata) -> dict[str, Any]:
    row = entry.model_dump(exclude={"columns", "declassification"})
    row["key"] = entry.key
    decision = entry.declassification
    if decision is not None:
        row.update(
            declassified_from=decision.computed,
            declassify_reason=decision.reason,
            declassify_approved_by=decision.approved_by,
            min_group_size=decision.min_group_size,
            smallest_group=decision.smallest_group,
        )
    return {name: row.get(name) for name in _TABLES_SCHEMA}


def _column_rows(entry: TableMetadata) -> list[dict[str, Any]]:
    return [
        {
            "layer": entry.layer,
            "table_name": entry.table_name,
            "position": position,
            **column.model_dump(),
            "is_provenance": prov.is_provenance(column.name),
        }
        for position, column in enumerate(entry.columns, start=1)
    ]


def _column_lineage_rows(entry: TableMetadata) -> list[dict[str, Any]]:
    """One row per column of ``entry`` and source column it is computed from (a
    column with no source: one row, its source fields null)."""
    rows = []
    for position, column in enumerate(entry.columns, start=1):
        target = {
            "target_layer": entry.layer,
            "target_table": entry.table_name,
            "target_column": column.name,
            "position": position,
            "kind": column.lineage_kind,
            "expression": column.lineage_expression,
        }
        if not column.source_columns:
            rows.append(
                {**target, "source_layer": None, "source_table": None, "source_column": None}
            )
        for source in column.source_columns:
            parts = split_source(source)
            if parts is None:  # a staged column: the source file's header name
                found = {
                    "source_layer": SOURCE_LAYER,
                    "source_table": None,
                    "source_column": source,
                }
            else:
                layer, table, name = parts
                found = {"source_layer": layer, "source_table": table, "source_column": name}
            rows.append({**target, **found})
    return rows


def _lineage_row(record: LineageRecord) -> dict[str, Any]:
    data = record.model_dump()
    if isinstance(record, IngestionRecord):
        data.update(
            record_id=record.ingestion_id,
            source_layer="source",
            input_tables=[],
            source_files=[record.source_file],
        )
    else:
        ledger = record.ledger
        data.update(
            record_id=record.transition_id,
            rows_quarantined=ledger.rows_quarantined,
            rows_deduplicated=ledger.rows_deduplicated,
            rows_filtered=ledger.rows_filtered,
            rows_generated=ledger.rows_generated,
            rows_warned=ledger.rows_warned,
            rule_counts=json.dumps(record.rule_counts, sort_keys=True),
        )
        if record.declassification is not None:
            data.update(
                min_group_size=record.declassification.min_group_size,
                smallest_group=record.declassification.smallest_group,
            )
    return {name: data.get(name) for name in _LINEAGE_SCHEMA}
