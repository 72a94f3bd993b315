"""The JSON catalog store: every part of the catalog as reviewed JSON files.

- table entries: ``catalog/tables/<layer>/<table>.json`` (replaced atomically);
- schema histories: ``catalog/tables/<layer>/_history/<table>.json``;
- lineage: ``catalog/lineage/<table>/<started_at>-<kind>-<id>.json`` (one file
  per ingestion or transition; the time prefix keeps a listing in time order);
- the glossary: ``catalog/glossary/<id>.json``; run records: ``catalog/runs/``;
- the JSON Schemas of all of them: ``catalog/schemas/`` (:mod:`.schemas`).

Every file is written atomically (a temporary, then a rename); the shared
folders under their folder's lock (:mod:`.shared`). With an ``s3://`` data
root the files are objects in the bucket, written with conditional puts, and
read from a local copy (:mod:`.mirror`). Every file read is
validated: one that does not validate is a
:class:`~jobforge.errors.CatalogError` naming its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field, TypeAdapter, ValidationError

from jobforge.plugin import (
    CatalogError,
    CatalogPart,
    GlossaryTerm,
    IngestionRecord,
    Layer,
    LineageRecord,
    PipelineConfig,
    RunRecord,
    SchemaVersion,
    TableMetadata,
    TransitionRecord,
    atomic_write_text,
    catalog_lock,
    check_related,
    remove_stale_temporaries,
    remove_stale_temporaries_of,
    summarise,
    validate_name,
    visible_json_files,
)
from jobforge.plugin import record_id as id_of_record
from jobforge_catalog_json.mirror import CatalogMirror
from jobforge_catalog_json.paths import (
    lineage_file_for,
    run_file_for,
    runs_path,
    schema_history_file_for,
    table_file_for,
    term_file_for,
)
from jobforge_catalog_json.record_names import RecordNames
from jobforge_catalog_json.schemas import ensure_schemas
from jobforge_catalog_json.shared import remove_shared_temporaries, writing

_ENTRY = TypeAdapter(TableMetadata)
_HISTORY = TypeAdapter(list[SchemaVersion])
_TERM = TypeAdapter(GlossaryTerm)
_RUN = TypeAdapter(RunRecord)
_RECORD: TypeAdapter[LineageRecord] = TypeAdapter(
    Annotated[TransitionRecord | IngestionRecord, Field(discriminator="record_type")]
)


T = TypeVar("T")


def _json(text: str) -> str:
    return text + "\n"


def read_json_model(path: Path, adapter: TypeAdapter[T], what: str) -> T:
    """Read and validate ``path``; raise :class:`CatalogError` naming it if that fails."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: not a valid {what}: {summarise(exc)}") from None


def read_record(path: Path) -> LineageRecord:
    """One lineage record file; one that does not validate, or that sits in the
    folder of another table, is a :class:`CatalogError` naming it."""
    record = read_json_model(path, _RECORD, "lineage record")
    if record.table_name != path.parent.name:
        raise CatalogError(
            f"{path}: records table {record.table_name!r} but is filed under {path.parent.name!r}"
        )
    return record


class JsonCatalogStore:
    """The catalog of ``config`` as JSON files (see the module docstring)."""

    name = "catalog-json"

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        root = config.object_root
        self._mirror = CatalogMirror(config, root) if root is not None else None
        self._record_names = RecordNames()

    def __repr__(self) -> str:
        return f"JsonCatalogStore({self.config.catalog_path()})"

    def _ready(self) -> None:
        """The local files are the catalog's (pulled from the bucket once, for an s3 root)."""
        if self._mirror is not None:
            self._mirror.pull()

    def _write(self, path: Path, text: str) -> None:
        """Write one catalog file whole (to the bucket first, for an s3 root)."""
        if self._mirror is not None:
            self._mirror.push(path, text)
        else:
            atomic_write_text(path, text)

    def location(self, part: CatalogPart, layer: str | None = None, name: str | None = None) -> str:
        config = self.config
        if part == "entry" and layer is not None and name is not None:
            return str(table_file_for(config, layer, name))
        if part == "history" and layer is not None and name is not None:
            return str(schema_history_file_for(config, layer, name))
        if part == "lineage":
            root = config.catalog_lineage_path()
            return str(root / validate_name(name) if name is not None else root)
        if part == "chain":
            root = config.catalog_path() / "chain"
            return str(root / f"{validate_name(name)}.json" if name is not None else root)
        if part == "term" and name is not None:
            return str(term_file_for(config, name))
        if part in ("glossary", "term"):
            return str(config.catalog_glossary_path())
        if part == "runs":
            return str(runs_path(config))
        if part in ("entry", "history"):
            return str(config.catalog_tables_path())
        return str(config.catalog_path())

    # -- housekeeping ------------------------------------------------------------------
    def folders(self) -> list[Path]:
        config = self.config
        return [
            config.catalog_tables_path(),
            config.catalog_lineage_path(),
            config.catalog_glossary_path(),
            config.catalog_schemas_path(),
        ]

    def prepare(self, timeout: float) -> None:
        for path in self.folders():
            path.mkdir(parents=True, exist_ok=True)
        self._ready()
        ensure_schemas(self.config, timeout, write=self._write)

    def tidy(self) -> None:
        remove_shared_temporaries(self.config)

    def tidy_table(self, table: str, timeout: float) -> None:
        config = self.config
        with catalog_lock(config.locks_path(), table, timeout):
            for layer in Layer:
                entries = config.catalog_tables_path() / layer.value
                remove_stale_temporaries_of(entries, f"{table}.json")
                remove_stale_temporaries_of(entries / "_history", f"{table}.json")
        remove_stale_temporaries(config.catalog_lineage_path() / table)
        # the chain head, written under the table's lock (held by the caller)
        remove_stale_temporaries_of(Path(self.location("chain")), f"{table}.json")

    # -- table entries -------------------------------------------------------------------
    def entry(self, layer: str, table: str) -> TableMetadata | None:
        self._ready()
        path = table_file_for(self.config, layer, table)
        if not path.exists():
            return None
        entry = read_json_model(path, _ENTRY, "table metadata entry")
        if (entry.layer, entry.table_name) != (layer, table):
            raise CatalogError(
                f"{path}: describes {entry.layer}.{entry.table_name}, expected {layer}.{table}"
            )
        return entry

    def entries(self, layer: str) -> list[TableMetadata]:
        self._ready()
        directory = self.config.catalog_tables_path() / Layer(layer).value
        found = []
        for path in visible_json_files(directory):
            entry = self.entry(layer, path.stem)
            if entry is not None:
                found.append(entry)
        return found

    def save_entry(self, metadata: TableMetadata) -> None:
        path = table_file_for(self.config, metadata.layer, metadata.table_name)
        self._write(path, _json(metadata.model_dump_json(indent=2)))
        # Saved under the entry's catalog lock: what a killed writer of this entry
        # left goes now (a gold build writes its upstream tables' entries, and the
        # run after a kill may find those tables up to date and never tidy them).
        remove_stale_temporaries_of(path.parent, path.name)

    def schema_history(self, layer: str, table: str) -> list[SchemaVersion]:
        self._ready()
        path = schema_history_file_for(self.config, layer, table)
        if not path.exists():
            return []
        return read_json_model(path, _HISTORY, "schema history")

    def save_schema_history(self, layer: str, table: str, history: list[SchemaVersion]) -> None:
        path = schema_history_file_for(self.config, layer, table)
        self._write(path, _json(_HISTORY.dump_json(history, indent=2).decode()))
        remove_stale_temporaries_of(path.parent, path.name)  # as in save_entry

    # -- lineage records -----------------------------------------------------------------
    def records(self, table: str | None = None) -> list[LineageRecord]:
        self._ready()
        tables = [validate_name(table)] if table is not None else self.lineage_tables()
        found: list[tuple[str, str, LineageRecord]] = []
        for name in tables:
            for path in visible_json_files(self.config.catalog_lineage_path() / name):
                record = read_record(path)
                found.append((record.started_at.isoformat(), path.name, record))
        found.sort(key=lambda item: (item[0], item[1]))
        return [record for _, _, record in found]

    def record(self, table: str, record_id: str) -> LineageRecord | None:
        """Record files end in ``-<id>.json``: only the names of the table's
        folder are searched (as last listed, :mod:`.record_names`), one file is
        read."""
        self._ready()
        wanted = validate_name(record_id, "record id")
        folder = self.config.catalog_lineage_path() / validate_name(table)
        for path in self._record_names.paths(folder, f"-{wanted}.json"):
            record = read_record(path)
            if id_of_record(record) == wanted:
                return record
        return None

    def save_record(self, record: LineageRecord) -> None:
        path = lineage_file_for(self.config, record)
        self._write(path, _json(record.model_dump_json(indent=2)))
        self._record_names.saved(path)

    def lineage_tables(self) -> list[str]:
        self._ready()
        root = self.config.catalog_lineage_path()
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def record_bytes(self, table: str) -> list[tuple[str, bytes]]:
        folder = self.config.catalog_lineage_path() / validate_name(table)
        found = []
        for path in visible_json_files(folder):
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CatalogError(
                    f"{path}: cannot read lineage record ({exc.strerror or exc})"
                ) from None
            found.append((f"{folder.name}/{path.name}", data))
        return found

    # -- glossary and runs ---------------------------------------------------------------
    def glossary(self) -> dict[str, GlossaryTerm]:
        """A file whose id differs from its file name is an error naming it."""
        self._ready()
        terms: dict[str, GlossaryTerm] = {}
        for path in visible_json_files(self.config.catalog_glossary_path()):
            term = read_json_model(path, _TERM, "glossary term")
            if term.id != path.stem:
                raise CatalogError(f"{path}: holds term {term.id!r}, expected {path.stem!r}")
            terms[term.id] = term
        return terms

    def save_term(self, term: GlossaryTerm) -> None:
        """Under the glossary folder's lock: the check and the write see the same terms."""
        path = term_file_for(self.config, term.id)
        with writing(self.config, "glossary"):
            check_related(term, self.glossary())
            self._write(path, _json(term.model_dump_json(indent=2)))

    def runs(self) -> list[RunRecord]:
        self._ready()
        return [
            read_json_model(path, _RUN, "run record")
            for path in visible_json_files(runs_path(self.config))
        ]

    def chain_head(self, table: str) -> str | None:
        self._ready()
        path = Path(self.location("chain", name=table))
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def save_chain_head(self, table: str, text: str) -> None:
        self._write(Path(self.location("chain", name=table)), text)

    def save_run(self, record: RunRecord) -> None:
        """Under the runs folder's lock, like every shared catalog folder: what a
        killed writer left there is removed by the next write or engine start."""
        path = run_file_for(self.config, record)
        with writing(self.config, "runs"):
            self._write(path, _json(record.model_dump_json(indent=2)))
