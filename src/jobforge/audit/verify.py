"""``jobforge verify``: re-hash every current file and walk every table's chain.

What is checked (docs/audit.md says what it proves and what it cannot):

- files: every file of every current version, and what was set apart with it
  (quarantine, duplicates), is read once and compared with the digest in the
  record that published it (``changed``, ``missing``); a parquet file in the data
  root that no record published is ``unknown``;
- records: each table's records, in chain order, must hold the hash of the
  record before them and count 1, 2, 3... (``edited``, ``removed``,
  ``reordered``: listed in another order than the chain's), end at the chain
  head, and hold the right hashes of their input records; a record without a
  seal cannot be checked (``unsealed``);
- signatures, with a public key: every record must carry a signature that holds
  (``signature``).

Records are read as JSON, not as models: a record edited so that it no longer
validates is still named, not a crash.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jobforge.audit import signing
from jobforge.audit.chain import ChainHead, data_sha256, head_location, read_head
from jobforge.audit.digest import recorded_path, sha256_file
from jobforge.catalog.lineage import lineage_tables
from jobforge.errors import CatalogError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage.atomic import TEMP_PREFIX


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold."""

    kind: str
    """``changed``, ``missing``, ``unknown``, ``unrecorded``, ``edited``, ``removed``,
    ``reordered``, ``unsealed``, ``unreadable``, ``signature``."""
    table: str
    subject: str
    """The file (as records name it) or the record file."""
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.table}: {self.subject}: {self.detail}"


@dataclass
class VerifyReport:
    tables: list[str]
    files_checked: int = 0
    bytes_checked: int = 0
    records_checked: int = 0
    signatures_checked: int = 0
    heads: dict[str, str] = field(default_factory=dict)
    """Table -> sha256 of the last record of its chain."""
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Record ``finding``; the same thing found again (a record whose hash both
        the next record and a reader hold) is one finding with both details."""
        for index, known in enumerate(self.findings):
            if (known.kind, known.table, known.subject) == (
                finding.kind,
                finding.table,
                finding.subject,
            ):
                if finding.detail not in known.detail:
                    detail = f"{known.detail}; {finding.detail}"
                    self.findings[index] = Finding(known.kind, known.table, known.subject, detail)
                return
        self.findings.append(finding)

    @property
    def holds(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["holds"] = self.holds
        return data


@dataclass
class _RawRecord:
    name: str
    """How the catalog store names the stored record (the JSON store:
    ``<table>/<file name>``)."""
    table: str
    data: dict[str, Any]
    sha256: str

    @property
    def id(self) -> str:
        return str(self.data.get("transition_id") or self.data.get("ingestion_id") or "")

    @property
    def position(self) -> int | None:
        value = self.data.get("chain_position")
        return value if isinstance(value, int) else None


def verify(
    config: PipelineConfig, tables: list[str] | None = None, public_key: Path | None = None
) -> VerifyReport:
    """Check ``tables`` (default: every table with records or a current version)."""
    store = config.store
    current = {
        (layer.value, table)
        for layer in Layer
        for table in store.tables(layer.value)
        if store.current(layer.value, table) is not None
    }
    every = sorted(set(lineage_tables(config)) | {table for _, table in current})
    if not every:  # an empty or mistyped data root must not read as "all holds"
        raise CatalogError(
            f"verify: nothing to verify in {config.data_root}: no table has a version "
            "or a lineage record"
        )
    if tables:
        unknown = sorted(set(tables) - set(every))
        if unknown:
            raise CatalogError(
                f"verify: no table {', '.join(map(repr, unknown))} in {config.data_root} "
                f"(tables: {', '.join(every) or 'none'})"
            )
    chosen = sorted(set(tables)) if tables else every
    report = VerifyReport(tables=chosen)
    key = signing.load_public_key(public_key) if public_key is not None else None
    records = {table: _read_raw(config, table, report) for table in every}
    by_id = {r.id: r for found in records.values() for r in found}
    for table in chosen:
        _check_chain(config, table, records[table], by_id, report)
        if key is not None:
            _check_signatures(table, records[table], key, report)
    _check_files(config, chosen, records, current, report)
    return report


def _read_raw(config: PipelineConfig, table: str, report: VerifyReport) -> list[_RawRecord]:
    """The records of ``table`` as the catalog store keeps their bytes."""
    found = []
    for name, stored in config.catalog.record_bytes(table):
        try:
            data = json.loads(stored)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            report.add(Finding("unreadable", table, name, str(exc)))
            continue
        found.append(_RawRecord(name, table, data, data_sha256(data)))
    found.sort(key=lambda r: (str(r.data.get("started_at", "")), r.name))
    return found


def _check_chain(
    config: PipelineConfig,
    table: str,
    listed: list[_RawRecord],
    by_id: dict[str, _RawRecord],
    report: VerifyReport,
) -> None:
    report.records_checked += len(listed)
    for record in listed:
        if record.position is None:
            report.add(
                Finding("unsealed", table, record.name, "no chain position: cannot be checked")
            )
    chained = [r for r in listed if r.position is not None]
    for before, after in itertools.pairwise(chained):
        if after.position <= before.position:  # type: ignore[operator]
            report.add(
                Finding(
                    "reordered",
                    table,
                    after.name,
                    f"chain position {after.position} is listed after position "
                    f"{before.position} ({before.name})",
                )
            )
    ordered = sorted(chained, key=lambda r: r.position or 0)
    expected_previous: str | None = None
    expected_position = 1
    for record in ordered:
        position = record.position or 0
        if position > expected_position:
            missing = (
                f"position {expected_position}"
                if position == expected_position + 1
                else f"positions {expected_position}-{position - 1}"
            )
            report.add(
                Finding("removed", table, record.name, f"the record(s) at {missing} are missing")
            )
        elif position < expected_position:
            report.add(
                Finding("reordered", table, record.name, f"a second record at position {position}")
            )
        elif record.data.get("previous_record_sha256") != expected_previous:
            prior = ordered[ordered.index(record) - 1] if position > 1 else None
            subject = prior.name if prior is not None else record.name
            report.add(
                Finding(
                    "edited",
                    table,
                    subject,
                    "its sha256 is not the one the next record holds"
                    if prior is not None
                    else "the first record names a previous record",
                )
            )
        expected_previous = record.sha256
        expected_position = position + 1
        for input_id, held in (record.data.get("input_record_sha256") or {}).items():
            source = by_id.get(input_id)
            if source is None:
                report.add(
                    Finding("removed", table, record.name, f"its input record {input_id} is gone")
                )
            elif source.sha256 != held:
                report.add(
                    Finding(
                        "edited",
                        source.table,
                        source.name,
                        f"its sha256 is not the one its reader {record.name} holds",
                    )
                )
    _check_head(config, table, ordered, report)


def _check_head(
    config: PipelineConfig, table: str, ordered: list[_RawRecord], report: VerifyReport
) -> None:
    try:
        head: ChainHead | None = read_head(config, table)
    except CatalogError as exc:
        report.add(Finding("edited", table, Path(head_location(config, table)).name, str(exc)))
        return
    last = ordered[-1] if ordered else None
    if head is None:
        if last is not None:
            report.add(
                Finding("removed", table, "chain head", "records are chained but the head is gone")
            )
        return
    report.heads[table] = head.record_sha256
    if last is None or head.position > (last.position or 0):
        after = f" after {last.name}" if last is not None else ""
        report.add(
            Finding(
                "removed",
                table,
                "chain head",
                f"the head is at position {head.position} ({head.record_id}): "
                f"the last record(s){after} are missing",
            )
        )
    elif head.position < (last.position or 0):
        report.add(
            Finding(
                "unknown", table, last.name, f"is past the chain head (position {head.position})"
            )
        )
    elif head.record_sha256 != last.sha256:
        report.add(
            Finding("edited", table, last.name, "its sha256 is not the one the chain head holds")
        )


def _check_signatures(table: str, listed: list[_RawRecord], key: Any, report: VerifyReport) -> None:
    wanted = signing.key_id(key)
    for record in listed:
        signature = record.data.get("signature")
        if not isinstance(signature, str):
            report.add(Finding("signature", table, record.name, "the record is not signed"))
            continue
        report.signatures_checked += 1
        if record.data.get("signing_key_id") != wanted:
            report.add(
                Finding("signature", table, record.name, "signed by another key than the one given")
            )
        elif not signing.signature_holds(key, record.sha256, signature):
            report.add(
                Finding("signature", table, record.name, "the signature does not hold: edited")
            )


def _check_files(
    config: PipelineConfig,
    chosen: list[str],
    records: dict[str, list[_RawRecord]],
    current: set[tuple[str, str]],
    report: VerifyReport,
) -> None:
    """Every current file and what was set apart with it, read once; then
    every parquet file of the data root no record published."""
    published: dict[str, tuple[str, dict[str, Any], _RawRecord]] = {}
    for table, found in records.items():
        for record in found:
            for digest in record.data.get("files") or []:
                if isinstance(digest, dict) and isinstance(digest.get("path"), str):
                    published[digest["path"]] = (table, digest, record)
    store = config.store
    root = config.data_root
    expected: dict[str, str] = {}
    """Recorded path -> table, of every file that must be there and match."""
    for layer, table in sorted(current):
        if table not in chosen:
            continue
        version = store.current(layer, table)
        assert version is not None
        for path in store.files(layer, table, version):
            name = recorded_path(root, path)
            expected[name] = table
            if name in published:
                _, _, record = published[name]
                for digest in record.data.get("files") or []:
                    expected[digest["path"]] = table
            else:
                report.add(Finding("unrecorded", table, name, "no record holds its digest"))
    for name, table in sorted(expected.items()):
        if name not in published:
            continue
        _, digest, record = published[name]
        path = Path(name) if os.path.isabs(name) else root / name
        try:
            sha256, size = sha256_file(path)
        except FileNotFoundError:
            report.add(Finding("missing", table, name, f"published by {record.name}, not on disk"))
            continue
        report.files_checked += 1
        report.bytes_checked += size
        if sha256 != digest.get("sha256") or size != digest.get("size_bytes"):
            report.add(
                Finding(
                    "changed",
                    table,
                    name,
                    f"sha256 {sha256[:12]}... ({size} bytes), but {record.name} published "
                    f"{str(digest.get('sha256'))[:12]}... ({digest.get('size_bytes')} bytes)",
                )
            )
    every_table = set(chosen) == set(records)
    for path in _parquet_files(config):
        name = recorded_path(root, path)
        if name in published or name in expected:
            continue
        owner = _table_of(name, chosen)
        if owner is None and every_table:
            owner = "-"  # in no table's folder: still no record published it
        if owner is not None:
            report.add(Finding("unknown", owner, name, "no record published it"))


def _table_of(name: str, chosen: list[str]) -> str | None:
    """The chosen table whose folder holds the file ``name`` (``None``: none)."""
    parts = Path(name).parts
    for part in parts[:-1]:
        if part in chosen:
            return part
    return None


def _parquet_files(config: PipelineConfig) -> list[Path]:
    """Every parquet file under the layer and set-apart folders, temporaries aside."""
    folders = {config.layer_path(layer) for layer in Layer} | {config.quarantine_path()}
    found: set[Path] = set()
    for folder in folders:
        for directory, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(TEMP_PREFIX)]
            for name in files:
                if name.endswith(".parquet") and not name.startswith("."):
                    found.add(Path(directory) / name)
    return sorted(found)
