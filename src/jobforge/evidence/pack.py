"""An evidence pack: a self-contained zip for selected gold rows that an
auditor can check without jobforge.

It holds the selected rows (``gold_rows.json``), the raw bytes of the source
records they come from (``sources/``, with each file's name and sha256), every
lineage record on the way and the current catalog entries (``lineage/``,
``catalog/``), the declarations the records were made with (``evidence.json``),
``reproduce.py`` (DuckDB only) that re-derives the rows from the source
records, and ``SHA256SUMS`` of every member.

The declarations come from the project file and are written only when each
one's digest equals the fingerprint part of the record it claims to have made
(``bronze:rename``, ``rule:<id>``, ``sql``...): a declaration edited since the
table was built is an error, never a pack that says something untrue.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jobforge import provenance as prov
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.fingerprint import Fingerprint, bronze_parts, gold_parts, silver_parts
from jobforge.errors import ConfigError, SourceError
from jobforge.evidence.chains import chain_members
from jobforge.evidence.source_records import CsvRecords, csv_records
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import IngestionRecord, TransitionRecord
from jobforge.project.model import Project
from jobforge.project.runner import audit_key_path, gold_spec
from jobforge.query.engine import QueryEngine

FORMAT = "jobforge-evidence/1"
REPRODUCIBLE_CASTS = ("string", "int", "float", "bool")
"""Cast types ``reproduce.py`` applies (others: the pack is refused, not half made)."""
PUBLIC_KEY = "public_key.pem"
"""The pack's copy of ``[audit] public_key`` (``reproduce.py`` checks signatures with it)."""


@dataclass(frozen=True)
class PackSummary:
    """What a pack holds, for the command's report."""

    path: Path
    rows: int
    source_records: int
    lineage_records: int
    members: int


def build_pack(
    project: Project,
    config: PipelineConfig,
    table: str,
    where: str,
    out: Path,
    copies: Sequence[Path] = (),
) -> PackSummary:
    """Write the evidence pack of the rows of ``gold.table`` where ``where`` holds to ``out``.

    Each batch's source file is read where it was ingested from; one replaced
    since (an append table fed the same file name each time) is looked for, by
    its recorded sha256, in the folders ``copies`` (kept copies of the deliveries)."""
    if not project.is_gold(table):
        raise ConfigError(f"evidence: {table} is not a gold table of the project")
    if not out.parent.is_dir():
        raise ConfigError(f"evidence: -o {out}: folder {out.parent} does not exist")
    with QueryEngine(config) as engine:
        selected = engine.query_with_provenance(table, layer="gold", where=where).to_dicts()
        if not selected:
            raise ConfigError(f"evidence: no row of gold.{table} where {where}")
        keys = {prov.parse_lineage_key(k) for row in selected for k in row.get(prov.LINEAGE) or []}
        chain = CatalogManager(config).upstream("gold", table)
        records = _chain_records(config, chain)
        duplicates = _duplicates(engine, records, keys)
        staged_rows = _staged_rows(engine, keys | set(duplicates))
    data_columns = prov.data_columns(list(selected[0]))
    gold_rows = {
        "columns": data_columns,
        "rows": [
            {"values": _plain({c: row[c] for c in data_columns}), "lineage": row[prov.LINEAGE]}
            for row in selected
        ],
    }
    members: dict[str, bytes] = {}
    sources = []
    source_records = 0
    ingestions = [r for r in records if isinstance(r, IngestionRecord)]
    # the project's table order, then oldest first: tables that ran at once
    # (``[engine] jobs``) list their sources as a run one at a time does
    rank = {name: i for i, name in enumerate(project.order)}
    ingestions.sort(key=lambda r: rank.get(r.table_name, len(rank)))  # stable
    for ingestion in ingestions:
        wanted = sorted(
            row for t, batch, row in keys | set(duplicates) if batch == ingestion.batch_id
        )
        if not wanted:
            continue
        found, data = _source_records(ingestion, wanted, staged_rows, copies)
        name = Path(ingestion.source_file).name
        # a folder per batch: batches fed from files of the same name stay apart,
        # and each file keeps its own name
        path = f"sources/{ingestion.table_name}/{ingestion.batch_id}/{name}"
        whole = len(found.records) == found.count
        # every record of the file is wanted: the pack holds the file itself, so
        # that its sha256 can be checked against the ingestion record
        members[path] = (
            data if whole else found.header + b"".join(_line(r.raw) for r in found.records)
        )
        details = ingestion.reader_details or {}
        sources.append(
            {
                "table": ingestion.table_name,
                "batch_id": ingestion.batch_id,
                "source_file": ingestion.source_file,
                "file_name": name,
                "sha256": ingestion.source_sha256,
                "size_bytes": ingestion.source_size_bytes,
                "ingested_at": ingestion.started_at.isoformat(),
                "records_file": path,
                "whole_file": whole,
                "file_records": found.count,
                "encoding": details.get("encoding", "utf-8"),
                "delimiter": details.get("delimiter", ","),
                "quote": details.get("quote", '"'),
                "records": [
                    {
                        "source_row": r.source_row,
                        "first_line": r.first_line,
                        "last_line": r.last_line,
                        "sha256": r.sha256,
                        "duplicate_of": duplicates.get(
                            (ingestion.table_name, ingestion.batch_id, r.source_row)
                        ),
                    }
                    for r in found.records
                ],
            }
        )
        source_records += len(found.records)
    manifest = {
        "format": FORMAT,
        "table": table,
        "where": where,
        "created_at": datetime.now(UTC).isoformat(),
        "gold_rows": "gold_rows.json",
        "sources": sources,
        **_declarations(project, records),
        "lineage_records": [],
        "catalog_entries": [],
    }
    chains = chain_members(config, {r.table_name for r in records})
    members.update(chains.members)
    manifest["chains"] = chains.tables
    for record in records:
        path = chains.path_of(record.table_name, _record_id(record))
        manifest["lineage_records"].append(path)
    key = _public_key(project)
    if key is not None:
        members[PUBLIC_KEY] = key
        manifest["public_key"] = PUBLIC_KEY
    for node in chain.nodes:
        entry = config.catalog.entry(node.layer, node.table)
        if entry is not None:
            path = f"catalog/{node.layer}/{node.table}.json"
            members[path] = _json(entry.model_dump(mode="json"))
            manifest["catalog_entries"].append(path)
    members["gold_rows.json"] = _json(gold_rows)
    members["evidence.json"] = _json(manifest)
    members["reproduce.py"] = (
        resources.files("jobforge.evidence").joinpath("reproduce_template.py").read_bytes()
    )
    members["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items())
    ).encode()
    _write_zip(out, members)
    return PackSummary(out, len(selected), source_records, len(records), len(members))


def _duplicates(
    engine: QueryEngine,
    records: list[IngestionRecord | TransitionRecord],
    keys: set[tuple[str, str, int]],
) -> dict[tuple[str, str, int], int]:
    """The rows silver dropped as duplicates of the rows ``keys`` name:
    (table, batch, source row) -> the source row of the row kept (same batch),
    from the duplicates files of the silver versions on the way."""
    deduplicating = sorted(
        {
            r.table_name
            for r in records
            if isinstance(r, TransitionRecord)
            and r.target_layer == "silver"
            and r.ledger.rows_deduplicated
        }
    )
    found: dict[tuple[str, str, int], int] = {}
    for name in deduplicating:
        kept: dict[str, set[int]] = {}
        for t, batch, row in keys:
            if t == name:
                kept.setdefault(batch, set()).add(row)
        for batch, rows in sorted(kept.items()):
            for dup in engine.query(
                f"SELECT _source_row, duplicate_of FROM duplicates.{_quoted(name)} "
                f"WHERE _batch_id = $batch AND duplicate_of IN "
                f"({', '.join(str(int(r)) for r in sorted(rows))})",
                {"batch": batch},
            ).to_dicts():
                found[(name, batch, int(dup[prov.SOURCE_ROW]))] = int(dup["duplicate_of"])
    return found


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _staged_rows(
    engine: QueryEngine, keys: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """(batch, source row) -> the staged row, for every lineage key."""
    by_batch: dict[str, set[int]] = {}
    for _, batch, row in keys:
        by_batch.setdefault(batch, set()).add(row)
    ingestions = {
        r["batch_id"]: r["table_name"]
        for r in engine.query(
            "SELECT batch_id, table_name FROM catalog.lineage "
            "WHERE record_type = 'ingestion' AND status <> 'failed'"
        ).to_dicts()
    }
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for batch, rows in by_batch.items():
        staged = ingestions.get(batch)
        if staged is None:
            raise SourceError(f"evidence: batch {batch} has no ingestion record")
        for staged_row in engine.query(
            f'SELECT * FROM staged."{staged}" WHERE _batch_id = $batch '
            f"AND _source_row IN ({', '.join(str(int(r)) for r in sorted(rows))})",
            {"batch": batch},
        ).to_dicts():
            found[(batch, staged_row[prov.SOURCE_ROW])] = staged_row
    return found


def _source_records(
    ingestion: IngestionRecord,
    wanted: list[int],
    staged: dict[tuple[str, int], dict[str, Any]],
    copies: Sequence[Path],
) -> tuple[CsvRecords, bytes]:
    """The records ``wanted`` of the ingested file (and the file's bytes), checked
    against its sha256 and against the staged rows the reader made of them."""
    if ingestion.source_format != "csv":
        raise SourceError(
            f"evidence: {ingestion.source_file}: only CSV sources can be put in a pack "
            f"(this one is {ingestion.source_format})"
        )
    data = _ingested_bytes(ingestion, copies)
    details = ingestion.reader_details or {}
    found = csv_records(
        data,
        wanted,
        name=ingestion.source_file,
        encoding=str(details.get("encoding", "utf-8")),
        delimiter=str(details.get("delimiter", ",")),
        quote=str(details.get("quote", '"')),
    )
    for record in found.records:
        row = staged.get((ingestion.batch_id, record.source_row))
        parsed = {
            c: (v if v != "" else None) for c, v in zip(found.columns, record.fields, strict=False)
        }
        kept = {c: row[c] for c in found.columns} if row is not None else None
        if parsed != kept:
            raise SourceError(
                f"evidence: {ingestion.source_file} record {record.source_row} (lines "
                f"{record.first_line}-{record.last_line}) does not read as the staged row "
                f"with that number; the pack would not reproduce it"
            )
    return found, data


def _ingested_bytes(ingestion: IngestionRecord, copies: Sequence[Path]) -> bytes:
    """The bytes of the file ``ingestion`` read: at its path if they still have its
    sha256, else a file of the same size and sha256 in one of the folders ``copies``
    (searched in order, recursively)."""
    source = Path(ingestion.source_file)
    batch = ingestion.batch_id[:8]
    try:
        data: bytes | None = source.read_bytes()
    except OSError as exc:
        data, problem = None, f"cannot be read: {exc.strerror}"
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest == ingestion.source_sha256:
            return data
        problem = (
            f"has sha256 {digest}, not the {ingestion.source_sha256} it had when it was ingested"
        )
    for folder in copies:
        if not folder.is_dir():
            raise ConfigError(f"evidence: --copies {folder}: not a folder")
        for candidate in sorted(folder.rglob("*")):
            if not candidate.is_file() or candidate.stat().st_size != ingestion.source_size_bytes:
                continue
            kept = candidate.read_bytes()
            if hashlib.sha256(kept).hexdigest() == ingestion.source_sha256:
                return kept
    searched = (
        f"no file in {', '.join(str(f) for f in copies)} has that sha256"
        if copies
        else "give a folder that keeps the file as it was delivered: --copies DIR"
    )
    raise SourceError(
        f"evidence: source file {ingestion.source_file} of batch {batch} {problem}; {searched}"
    )


def _public_key(project: Project) -> bytes | None:
    """The bytes of ``[audit] public_key``, when one is configured."""
    path = audit_key_path(project, project.spec.audit.public_key)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"evidence: audit.public_key {path} cannot be read: {exc.strerror}"
        ) from None


def _chain_records(config: PipelineConfig, chain: Any) -> list[IngestionRecord | TransitionRecord]:
    """Every record on the chain: the ingestions of the staged batches, then
    each transition, from the sources up."""
    records: list[IngestionRecord | TransitionRecord] = []
    for source in chain.sources:
        for record in config.catalog.records(source.table):
            if (
                isinstance(record, IngestionRecord)
                and record.batch_id == source.batch_id
                and record.status == "success"
            ):
                records.append(record)
    for node in reversed(chain.nodes):
        records.extend(node.records)
    return records


def _declarations(
    project: Project, records: list[IngestionRecord | TransitionRecord]
) -> dict[str, Any]:
    """Bronze, silver and gold declarations of the chain's tables, each checked
    against the fingerprint of the record it made."""
    bronze: dict[str, Any] = {}
    silver: dict[str, Any] = {}
    gold: dict[str, dict[str, Any]] = {}
    for record in records:
        if not isinstance(record, TransitionRecord):
            continue
        name = record.table_name
        where = f"{record.source_layer} -> {record.target_layer} of {name}"
        if record.target_layer == "bronze":
            schema = project.spec.tables[name].bronze
            _same(record.fingerprint, bronze_parts(schema), where)
            if schema.snake_case:
                raise ConfigError(f"evidence: {name}: bronze snake_case is not reproduced")
            for column, cast in schema.cast.items():
                if (
                    cast.type not in REPRODUCIBLE_CASTS
                    or cast.thousands
                    or cast.format
                    or cast.decimal != "."
                ):
                    raise ConfigError(
                        f"evidence: {name}.{column}: cast {cast.type} with its options is not "
                        f"one reproduce.py applies ({', '.join(REPRODUCIBLE_CASTS)})"
                    )
            declared = schema.model_dump(mode="json")
            bronze[name] = {
                "rename": declared["rename"],
                "cast": declared["cast"],
                "record": _record_id(record),
            }
        elif record.target_layer == "silver":
            spec = project.spec.tables[name].silver
            _same(record.fingerprint, silver_parts(spec), where)
            if spec.transforms:
                raise ConfigError(f"evidence: {name}: silver transforms are Python; not reproduced")
            silver[name] = {
                "dedupe": spec.dedupe,
                "rules": [r.model_dump(mode="json") for r in spec.rules],
                "record": _record_id(record),
            }
        elif name not in gold:
            spec_gold = gold_spec(name, project.spec.gold[name])
            _same(record.fingerprint, gold_parts(spec_gold), where)
            if spec_gold.sql is None:
                raise ConfigError(f"evidence: gold {name} is built by a function; not reproduced")
            gold[name] = {
                "name": name,
                "inputs": spec_gold.inputs,
                "sql": spec_gold.sql,
                "record": _record_id(record),
            }
    order = [n for n in project.order if n in gold]
    return {"bronze": bronze, "silver": silver, "gold": [gold[n] for n in order]}


def _same(recorded: Fingerprint | None, declared: Fingerprint, where: str) -> None:
    changed = sorted(k for k, v in declared.items() if (recorded or {}).get(k) != v)
    if changed:
        raise ConfigError(
            f"evidence: the declaration of {where} changed since it ran "
            f"({', '.join(changed)}); run the table again, then make the pack"
        )


def _record_id(record: IngestionRecord | TransitionRecord) -> str:
    return record.ingestion_id if isinstance(record, IngestionRecord) else record.transition_id


def _line(raw: bytes) -> bytes:
    return raw if raw.endswith(b"\n") else raw + b"\n"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _write_zip(out: Path, members: dict[str, bytes]) -> None:
    """Write the zip beside ``out`` and move it into place: never half a pack."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as pack:
            for name, data in members.items():
                pack.writestr(name, data)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
