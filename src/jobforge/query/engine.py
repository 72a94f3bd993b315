"""SQL over every layer and the catalog, read-only, in DuckDB.

A :class:`QueryEngine` holds one in-memory DuckDB connection. On open (and on
:meth:`QueryEngine.refresh`) it creates:

- a view per table and layer over the files of its current version
  (``gold.dim_noc``, ``silver.noc_structure``, ``staged."odd-name"``...);
- ``quarantine.<table>``: every quarantined row of the table, all layers and
  batches; ``duplicates.<table>``: every row silver dropped as a duplicate;
- the catalog as tables: ``catalog.tables``, ``catalog.columns``,
  ``catalog.lineage``, ``catalog.glossary``, ``catalog.schema_versions``
  (read through :class:`~jobforge.catalog.manager.CatalogManager`, so an
  invalid catalog file stops the engine with its path).

Unqualified names are looked up in gold, then silver, bronze, staged, catalog.

Read-only, twice over: every query must pass :mod:`jobforge.query.guard`
(one SELECT), and the connection is locked before the first query runs:
external access is disabled except for exactly the data files behind the
views (``allowed_paths``), there is no temporary directory, extensions are
neither installed nor loaded automatically, and the configuration is locked so
no query can undo any of it. Because the allow-list is fixed once locked,
:meth:`refresh` replaces the connection with a new one.

A connection is not meant to be shared between threads: use one engine per thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import duckdb
import polars as pl

from jobforge.catalog.manager import CatalogManager, current_version
from jobforge.engine import provenance as prov
from jobforge.engine.quarantine import DUPLICATES
from jobforge.errors import InvalidNameError, QueryError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import IngestionRecord, LineageRecord, TableMetadata
from jobforge.query.guard import one_line, quote_ident, quote_literal, read_only_statement
from jobforge.storage import versions
from jobforge.storage.names import validate_name

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

    @property
    def key(self) -> str:
        """``schema.name`` as written in the catalog (unquoted)."""
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        """``"schema"."name"``, quoted for SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


class QueryEngine:
    """Read-only SQL over the current version of every table, the quarantine
    and the catalog of one :class:`PipelineConfig`.

    ``memory_limit`` (e.g. ``"2GB"``) and ``threads`` are passed to DuckDB.
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.config = config
        self._settings: dict[str, Any] = {
            "temp_directory": "",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        }
        if memory_limit is not None:
            self._settings["memory_limit"] = memory_limit
        if threads is not None:
            self._settings["threads"] = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._relations: dict[str, Relation] = {}
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
        relations = self._discover()
        frames = _catalog_frames(CatalogManager(self.config))
        con = duckdb.connect(":memory:", config=self._settings)
        try:
            _build(con, relations, frames)
        except duckdb.Error as exc:
            con.close()
            raise QueryError(f"cannot open the query engine: {one_line(exc)}") from None
        except BaseException:
            con.close()
            raise
        previous, self._con = self._con, con
        self._relations = {r.key: r for r in relations}
        self._relations.update(
            {f"{CATALOG_SCHEMA}.{n}": Relation(CATALOG_SCHEMA, n, "catalog") for n in frames}
        )
        if previous is not None:
            previous.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def closed(self) -> bool:
        return self._con is None

    # -- queries -----------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[object] | Mapping[str, object] | None = None
    ) -> pl.DataFrame:
        """Run one read-only statement and return its result.

        ``params`` binds ``?``/``$1`` (a sequence) or ``$name`` (a mapping)
        placeholders. The result has exactly the columns the SQL selects.
        A statement that is not a SELECT, or SQL DuckDB refuses, is a
        :class:`QueryError` with DuckDB's message on one line.
        """
        statement = read_only_statement(sql)
        con = self._connection()
        try:
            return con.sql(statement, params=params).pl()
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None

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
        if self._con is None:
            raise QueryError("the query engine is closed")
        return self._con

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

    def _discover(self) -> list[Relation]:
        """The views to create: current versions, quarantine and duplicates files."""
        relations = []
        for layer in Layer:
            layer_dir = self.config.layer_path(layer)
            for table in versions.list_tables(layer_dir):
                current = current_version(self.config, layer, table)
                if current is None or not current.batches:
                    continue
                files = current.files(versions.table_dir(layer_dir, table))
                missing = [f for f in files if not f.is_file()]
                if missing:
                    raise QueryError(
                        f"{versions.table_dir(layer_dir, table) / versions.POINTER_NAME}: lists "
                        f"{missing[0].name}, which does not exist"
                    )
                relations.append(Relation(layer.value, table, "table", _paths(files)))
        root = self.config.quarantine_path()
        tables = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        for table_dir in tables:
            try:
                table = validate_name(table_dir.name)
            except InvalidNameError:
                continue  # not a folder jobforge wrote
            rejected: list[Path] = []
            duplicates: list[Path] = []
            for sub in sorted(p for p in table_dir.iterdir() if p.is_dir()):
                files = sorted(f for f in sub.glob("batch=*.parquet") if f.is_file())
                (duplicates if sub.name == DUPLICATES else rejected).extend(files)
            if rejected:
                relations.append(Relation(QUARANTINE_SCHEMA, table, "quarantine", _paths(rejected)))
            if duplicates:
                relations.append(
                    Relation(DUPLICATES_SCHEMA, table, "duplicates", _paths(duplicates))
                )
        return relations


def _paths(files: Sequence[Path]) -> tuple[str, ...]:
    return tuple(str(f.resolve()) for f in files)


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def _build(
    con: duckdb.DuckDBPyConnection, relations: Sequence[Relation], frames: dict[str, pl.DataFrame]
) -> None:
    """Create the schemas, views and catalog tables, then lock the connection."""
    con.execute("SET TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA {quote_ident(schema)}")
    for relation in relations:
        con.execute(
            f"CREATE VIEW {relation.sql_name} AS SELECT * FROM read_parquet("
            f"{_sql_list(relation.files)}, union_by_name = true, hive_partitioning = false)"
        )
    for name, frame in frames.items():
        con.register("jobforge_catalog_frame", frame)
        try:
            con.execute(
                f"CREATE TABLE {quote_ident(CATALOG_SCHEMA)}.{quote_ident(name)} AS "
                "SELECT * FROM jobforge_catalog_frame"
            )
        finally:
            con.unregister("jobforge_catalog_frame")
    allowed = sorted({f for relation in relations for f in relation.files})
    con.execute(f"SET search_path = {quote_literal(','.join(SEARCH_PATH))}")
    # Order matters: the allow-list can only be set while external access is on,
    # and nothing can be changed once the configuration is locked.
    con.execute(f"SET allowed_paths = {_sql_list(allowed)}")
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


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
    "source_columns": _STRINGS,
    "example_values": _STRINGS,
    "is_provenance": pl.Boolean(),
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


def _catalog_frames(catalog: CatalogManager) -> dict[str, pl.DataFrame]:
    """The catalog tables, from validated catalog files."""
    entries = catalog.list_tables()
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
        "lineage": pl.DataFrame([_lineage_row(r) for r in records], schema=_LINEAGE_SCHEMA),
        "glossary": pl.DataFrame([t.model_dump() for t in terms], schema=_GLOSSARY_SCHEMA),
        "schema_versions": pl.DataFrame(history, schema=_SCHEMA_VERSIONS_SCHEMA),
    }


def _table_row(entry: TableMetadata) -> dict[str, Any]:
    row = entry.model_dump(exclude={"columns"})
    row["key"] = entry.key
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
    return {name: data.get(name) for name in _LINEAGE_SCHEMA}
