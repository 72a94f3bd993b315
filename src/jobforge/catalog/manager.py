"""The catalog as a data steward and an auditor use it.

:class:`CatalogManager` reads (and saves) the catalog of one
:class:`~jobforge.pipeline.config.PipelineConfig`, through its catalog store
(``config.catalog``; the bundled one keeps JSON files under ``catalog/``):

- table metadata, one entry per layer and table, listed by layer and domain,
  with the history of its schema versions;
- the business glossary;
- lineage: every record of a batch, the full upstream chain of a table down to
  its source files (with their sha256), and the tables a source file fed.

Everything read is validated; what does not validate raises
:class:`~jobforge.errors.CatalogError` naming where it is. Nothing here scans data:
the upstream chain is worked out from lineage records and ``_current.json``
pointers only.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobforge.catalog.column_tree import ColumnNode
from jobforge.catalog.entries import (
    SchemaVersion,
    load_entry,
    schema_history,
    write_entry_locked,
)
from jobforge.catalog.glossary import GlossaryTerm, check_reference, load_glossary, save_term
from jobforge.catalog.lineage import batch_id_of_file, read_records, record_id
from jobforge.catalog.store import CatalogStore
from jobforge.errors import CatalogError, ConfigError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import IngestionRecord, LineageRecord, TableMetadata, TransitionRecord
from jobforge.storage import versions
from jobforge.storage.digest import sha256_of
from jobforge.storage.locks import DEFAULT_TIMEOUT_S
from jobforge.storage.names import validate_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def unique_prefix(prefix: str, known: set[str], what: str) -> str:
    """The one id of ``known`` that starts with ``prefix``; none or several is a
    :class:`ConfigError` (exit 2) listing the candidates."""
    if prefix in known:
        return prefix
    matches = sorted(k for k in known if k.startswith(prefix)) if prefix else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no {what} id starts with {prefix!r}")
    shown = ", ".join(matches[:10]) + (f" ... ({len(matches)} in all)" if len(matches) > 10 else "")
    raise ConfigError(f"{what} id {prefix!r} is ambiguous: {shown}")


def split_key(key: str) -> tuple[Layer, str]:
    """``"gold.dim_noc"`` -> ``(Layer.GOLD, "dim_noc")``; anything else is a CatalogError."""
    layer, dot, table = key.partition(".")
    if not dot or layer not in {member.value for member in Layer}:
        raise CatalogError(
            f"{key!r}: expected <layer>.<table> with layer one of "
            f"{', '.join(member.value for member in Layer)}"
        )
    return Layer(layer), validate_name(table)


def current_version(
    config: PipelineConfig, layer: Layer | str, table: str
) -> versions.CurrentVersion | None:
    """The current version of ``layer.table`` (from the table store); an
    unreadable version is a CatalogError."""
    return config.store.current(Layer(layer).value, validate_name(table))


@dataclass(frozen=True)
class SourceFile:
    """A source file where a lineage chain starts: one ingestion into staged."""

    table: str
    """The table it was ingested into."""
    batch_id: str
    source_file: str
    """The path as it was given to ``ingest``."""
    sha256: str
    size_bytes: int
    ingested_at: datetime
    rows: int
    """Rows it put into staged (``row_count_out`` of the ingestion)."""
    ingestion_id: str


@dataclass(frozen=True)
class LineageNode:
    """One table version on an upstream chain: which of its batches are involved,
    the transitions that produced them and the tables they were built from."""

    key: str
    layer: str
    table: str
    batch_ids: tuple[str, ...]
    records: tuple[TransitionRecord, ...]
    """Empty for staged (its batches come from :attr:`UpstreamLineage.sources`)."""
    inputs: tuple[str, ...]
    """Upstream table keys (``"silver.noc_structure"``)."""


@dataclass(frozen=True)
class DuplicateDelivery:
    """A source file whose bytes equal a batch already ingested: not read again,
    on record as a ``skipped`` ingestion naming the batch it equals."""

    table: str
    source_file: str
    sha256: str
    delivered_at: datetime
    duplicate_of: str
    """The batch it equals."""
    ingestion_id: str


@dataclass(frozen=True)
class UpstreamLineage:
    """Everything the current version of a table was derived from."""

    key: str
    nodes: tuple[LineageNode, ...]
    """The table itself first, then its inputs, breadth first."""
    sources: tuple[SourceFile, ...]
    duplicates: tuple[DuplicateDelivery, ...] = ()
    """Files delivered again with the bytes of a batch on the chain."""

    @property
    def tables(self) -> list[str]:
        """Every table key on the chain, the table itself first."""
        return [node.key for node in self.nodes]

    def node(self, key: str) -> LineageNode:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)


@dataclass(frozen=True)
class DownstreamTable:
    """A table that rows of a source file reached."""

    key: str
    layer: str
    table: str
    batch_ids: tuple[str, ...]
    """Its batches (gold: build runs) derived from the source."""
    current: bool
    """Whether the table's current version still holds one of those batches."""


class _Index:
    """The lineage records of the catalog, indexed for the chain walks."""

    def __init__(self, records: list[LineageRecord]) -> None:
        self.records = records
        self.by_id: dict[str, LineageRecord] = {}
        self.ingestions: dict[tuple[str, str], IngestionRecord] = {}
        self.transitions: dict[tuple[str, str, str], TransitionRecord] = {}
        for record in records:  # oldest first: a later record of a batch wins
            if record.status in ("failed", "skipped"):
                continue
            self.by_id[record_id(record)] = record
            if isinstance(record, IngestionRecord):
                self.ingestions[(record.table_name, record.batch_id)] = record
            else:
                key = (record.target_layer, record.table_name, record.batch_id)
                self.transitions[key] = record

    def find(
        self, layer: Layer, table: str, batch: str, wanted: str | None
    ) -> LineageRecord | None:
        """The record that published ``batch`` of ``layer.table``: by its id when
        the pointer or the reading transition names it (exact, whatever ran
        since), else the latest successful record of that batch (files
        published before jobforge 2.1)."""
        if wanted is not None:
            found = self.by_id.get(wanted)
            if found is not None and found.table_name == table:
                return found
            return None
        if layer is Layer.STAGED:
            return self.ingestions.get((table, batch))
        return self.transitions.get((layer.value, table, batch))

    @staticmethod
    def inputs_of(record: TransitionRecord) -> list[tuple[str, str, str | None]]:
        """``(input table key, batch id, record id)`` of every batch the transition read."""
        if record.inputs:
            return [(ref.table, ref.batch_id, ref.record_id) for ref in record.inputs]
        found: list[tuple[str, str, str | None]] = []
        for key in record.input_tables:
            _, table = split_key(key)
            ids = {
                batch
                for file in record.source_files
                if Path(file).parent.name == table and (batch := batch_id_of_file(file))
            }
            if not ids and record.target_layer != "gold":
                ids = {record.batch_id}  # bronze and silver keep the ingestion batch id
            found += [(key, batch, None) for batch in sorted(ids)]
        return found


class CatalogManager:
    """Save, load and list catalog entries; read the glossary and the lineage."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"CatalogManager({self.store.location('catalog')})"

    @property
    def store(self) -> CatalogStore:
        """The catalog store everything here reads and saves through."""
        return self.config.catalog

    # -- table metadata -----------------------------------------------------------------
    def save(self, metadata: TableMetadata) -> Path:
        """Validate and save an entry (exporters first, then the catalog store),
        record its schema version and add it to its upstream entries'
        ``downstream_tables``; return where the store keeps it. It is written
        under the catalog locks of the tables it names, as a run writes it.

        Its glossary references must exist.
        """
        metadata = TableMetadata.model_validate(metadata.model_dump())
        glossary = load_glossary(self.config)
        for column in metadata.columns:
            check_reference(
                self.config, column.glossary_term_id, f"{metadata.key}.{column.name}", glossary
            )
        write_entry_locked(self.config, metadata, DEFAULT_TIMEOUT_S)
        return Path(self.store.location("entry", metadata.layer, metadata.table_name))

    def load(self, layer: Layer | str, table: str) -> TableMetadata | None:
        """The entry of ``layer.table``, or ``None`` if it has none."""
        return load_entry(self.config, Layer(layer).value, table)

    def get(self, layer: Layer | str, table: str) -> TableMetadata:
        """The entry of ``layer.table``; a missing entry is a CatalogError."""
        entry = self.load(layer, table)
        if entry is None:
            raise CatalogError(
                f"no catalog entry for {Layer(layer).value}.{table} "
                f"(expected {self.store.location('entry', Layer(layer).value, table)})"
            )
        return entry

    def column_lineage(self, layer: Layer | str, table: str, column: str) -> ColumnNode:
        """The lineage of one column of ``layer.table`` through every layer down to
        the source files' header names (see :mod:`jobforge.catalog.column_tree`)."""
        from jobforge.catalog.column_tree import column_tree

        return column_tree(self, Layer(layer).value, table, column)

    def list_tables(
        self, *, layer: Layer | str | None = None, domain: str | None = None
    ) -> list[TableMetadata]:
        """Entries in layer order (staged first), then by table name; filtered by
        ``layer`` and ``domain`` when given (``domain=""`` means unassigned)."""
        layers = [Layer(layer)] if layer is not None else list(Layer)
        entries = []
        for member in layers:
            for entry in self.store.entries(member.value):
                if domain is None or entry.domain == domain:
                    entries.append(entry)
        return entries

    def domains(self) -> list[str]:
        """The domains of every entry, sorted (``""`` for unassigned)."""
        return sorted({entry.domain for entry in self.list_tables()})

    def schema_history(self, layer: Layer | str, table: str) -> list[SchemaVersion]:
        """Every schema version ``layer.table`` has had, oldest first."""
        return schema_history(self.config, Layer(layer).value, validate_name(table))

    # -- glossary -----------------------------------------------------------------------
    def glossary(self) -> dict[str, GlossaryTerm]:
        """Every glossary term by id."""
        return load_glossary(self.config)

    def term(self, term_id: str) -> GlossaryTerm:
        """One glossary term; an unknown id is a CatalogError."""
        terms = self.glossary()
        if term_id not in terms:
            raise CatalogError(
                f"glossary term {term_id!r} does not exist in {self.store.location('glossary')}"
            )
        return terms[term_id]

    def save_term(self, term: GlossaryTerm) -> Path:
        """Add or replace a glossary term (its related terms must exist); return
        where the store keeps it."""
        return save_term(self.config, term)

    # -- lineage ------------------------------------------------------------------------
    def lineage_records(self, table: str | None = None) -> list[LineageRecord]:
        """Every lineage record of ``table`` (or of all tables), oldest first."""
        return read_records(self.config, table)

    def batch_records(self, batch_id: str) -> list[LineageRecord]:
        """Everything that happened to a batch, oldest first: its ingestion, its
        bronze and silver transitions (failed ones too) and the gold builds that
        read its files."""
        found = []
        for record in read_records(self.config):
            if (
                record.batch_id == batch_id
                or (isinstance(record, IngestionRecord) and record.duplicate_of == batch_id)
                or (
                    isinstance(record, TransitionRecord)
                    and (
                        any(ref.batch_id == batch_id for ref in record.inputs)
                        or any(batch_id_of_file(f) == batch_id for f in record.source_files)
                    )
                )
            ):
                found.append(record)
        return found

    def resolve_batch_id(self, prefix: str) -> str:
        """The batch id that ``prefix`` starts (like git's short ids: the 8
        characters ``status`` and ``lineage`` show are enough when unique); an
        unknown or ambiguous prefix is a :class:`ConfigError` naming the candidates."""
        ids = {r.batch_id for r in read_records(self.config)}
        return unique_prefix(prefix, ids, "batch")

    def upstream(self, layer: Layer | str, table: str) -> UpstreamLineage:
        """The full upstream chain of the current version of ``layer.table``,
        down to the source files it was built from.

        Each step follows the transition that produced each involved batch: its
        ``input_tables`` and the batch files it read (``source_files``), so a gold
        table leads to exactly the silver batches it was built from, even if the
        silver table has changed since. A batch without a lineage record is a
        CatalogError (the chain must not have silent gaps).
        """
        start = Layer(layer)
        table = validate_name(table)
        current = current_version(self.config, start, table)
        if current is None:
            raise CatalogError(f"{start.value}.{table} has no current version")
        index = _Index(read_records(self.config))
        top = f"{start.value}.{table}"
        involved: dict[str, dict[str, LineageRecord]] = {}
        """Table key -> batch id -> the record that published it."""
        queue: deque[tuple[str, str, str | None]] = deque(
            (top, b.batch_id, b.record_id) for b in current.batches
        )
        seen: set[tuple[str, str, str | None]] = set()
        while queue:
            item = queue.popleft()
            if item in seen:
                continue
            seen.add(item)
            key, batch, wanted = item
            node_layer, node_table = split_key(key)
            record = index.find(node_layer, node_table, batch, wanted)
            if record is None:
                raise CatalogError(self._missing(node_layer, node_table, batch, wanted))
            involved.setdefault(key, {})[batch] = record
            if isinstance(record, TransitionRecord):
                queue.extend(index.inputs_of(record))
        nodes = []
        sources = []
        for key, batches in involved.items():
            node_layer, node_table = split_key(key)
            batch_ids = tuple(sorted(batches))
            if node_layer is Layer.STAGED:
                for batch in batch_ids:
                    ingestion = batches[batch]
                    assert isinstance(ingestion, IngestionRecord)
                    sources.append(_source_file(ingestion))
                nodes.append(LineageNode(key, node_layer.value, node_table, batch_ids, (), ()))
                continue
            records = tuple(r for b in batch_ids if isinstance(r := batches[b], TransitionRecord))
            inputs = tuple(dict.fromkeys(k for r in records for k in r.input_tables))
            nodes.append(LineageNode(key, node_layer.value, node_table, batch_ids, records, inputs))
        sources.sort(key=lambda s: (s.ingested_at, s.table, s.batch_id))
        staged = {(s.table, s.batch_id) for s in sources}
        duplicates = tuple(
            DuplicateDelivery(
                r.table_name,
                r.source_file,
                r.source_sha256,
                r.started_at,
                r.duplicate_of,
                r.ingestion_id,
            )
            for r in index.records
            if isinstance(r, IngestionRecord)
            and r.status == "skipped"
            and r.duplicate_of is not None
            and (r.table_name, r.duplicate_of) in staged
        )
        return UpstreamLineage(top, tuple(nodes), tuple(sources), duplicates)

    def downstream_of_source(self, source: str | Path) -> list[DownstreamTable]:
        """Every table that rows of ``source`` reached, in layer order.

        ``source`` is a path (matched as given, resolved, and by the sha256 of
        the file if it exists) or a sha256. A source the catalog never ingested
        is a CatalogError.
        """
        records = read_records(self.config)
        index = _Index(records)
        wanted = self._source_matcher(source)
        reached: set[tuple[str, str, str]] = {
            ("staged", r.table_name, r.batch_id) for r in index.ingestions.values() if wanted(r)
        }
        if not reached:
            raise CatalogError(
                f"{source}: no ingestion of this source in {self.store.location('lineage')}"
            )
        transitions = list(index.transitions.values())
        changed = True
        while changed:
            changed = False
            for record in transitions:
                produced = (record.target_layer, record.table_name, record.batch_id)
                if produced in reached:
                    continue
                for key, batch, _ in index.inputs_of(record):
                    in_layer, in_table = split_key(key)
                    if (in_layer.value, in_table, batch) in reached:
                        reached.add(produced)
                        changed = True
                        break
        grouped: dict[tuple[str, str], set[str]] = {}
        for layer, table, batch in reached:
            grouped.setdefault((layer, table), set()).add(batch)
        result = []
        for (layer, table), ids in sorted(
            grouped.items(), key=lambda item: (Layer(item[0][0]).position, item[0][1])
        ):
            current = current_version(self.config, layer, table)
            in_current = current is not None and any(b.batch_id in ids for b in current.batches)
            result.append(
                DownstreamTable(f"{layer}.{table}", layer, table, tuple(sorted(ids)), in_current)
            )
        return result

    # -- whole catalog --------------------------------------------------------------------
    def validate(self) -> int:
        """Read and validate the whole catalog (entries, their schema histories,
        glossary, lineage); raise a CatalogError naming the first invalid part.
        Returns how many parts were checked (with the JSON store: files)."""
        checked = 0
        for member in Layer:
            for entry in self.store.entries(member.value):
                checked += 1
                if self.store.schema_history(member.value, entry.table_name):
                    checked += 1
        checked += len(load_glossary(self.config))
        checked += len(read_records(self.config))
        return checked

    # -- helpers ----------------------------------------------------------------------------
    def _missing(self, layer: Layer, table: str, batch: str, wanted: str | None) -> str:
        kind = "ingestion record" if layer is Layer.STAGED else "lineage record"
        named = f" (record {wanted})" if wanted else ""
        return (
            f"{layer.value}.{table}: no {kind} for batch {batch}{named} in "
            f"{self.store.location('lineage', name=table)}"
        )

    @staticmethod
    def _source_matcher(source: str | Path) -> _SourceMatcher:
        text = str(source)
        digests: set[str] = set()
        paths: set[str] = set()
        if _SHA256.match(text):
            digests.add(text)
        else:
            path = Path(text)
            paths.update({path.as_posix(), path.resolve().as_posix()})
            if path.is_file():
                digests.add(sha256_of(path))
        return _SourceMatcher(paths, digests)


def _source_file(record: IngestionRecord) -> SourceFile:
    return SourceFile(
        table=record.table_name,
        batch_id=record.batch_id,
        source_file=record.source_file,
        sha256=record.source_sha256,
        size_bytes=record.source_size_bytes,
        ingested_at=record.started_at,
        rows=record.row_count_out,
        ingestion_id=record.ingestion_id,
    )


@dataclass(frozen=True)
class _SourceMatcher:
    paths: set[str]
    digests: set[str]

    def __call__(self, record: IngestionRecord) -> bool:
        if record.source_sha256 in self.digests:
            return True
        given = Path(record.source_file)
        return given.as_posix() in self.paths or given.resolve().as_posix() in self.paths
