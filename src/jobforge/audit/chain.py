"""The per-table chain of lineage records, and the one function that writes a
record: :func:`write_record` seals it (its place in the table's chain, the hash
of the record before it, the hashes of the records that published its inputs,
a signature when a key is configured), has the lineage writer write it and
moves the table's chain head.

A record's sha256 is that of its canonical JSON: the record as the lineage
writer stores it, parsed, without ``signature``, dumped with sorted keys, no
spaces, UTF-8 (:func:`canonical_bytes`). Anyone can recompute it with the
Python standard library (docs/audit.md shows how).

The chain head of a table (kept by the catalog store: the JSON store's
``catalog/chain/<table>.json``) names the last
record written, its position and its hash: a record removed from the end of the
chain is caught against it. It is written under the table's lock, after the
record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from jobforge.audit import signing
from jobforge.catalog.lineage import find_record, record_id
from jobforge.catalog.lineage import write_record as save_record
from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import LineageRecord, TransitionRecord, UtcDatetime, utc_now
from jobforge.storage.names import validate_name


class ChainHead(BaseModel):
    """The last record of a table's chain."""

    table: str
    position: int
    record_id: str
    record_sha256: str
    previous_record_sha256: str | None
    """Kept so that writing the head's record again (a run completing a
    publication a killed run left) seals it exactly as before."""
    updated_at: UtcDatetime


def canonical_bytes(data: Mapping[str, Any]) -> bytes:
    """The canonical JSON of a record's fields, ``signature`` left out."""
    fields = {k: v for k, v in data.items() if k != "signature"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def data_sha256(data: Mapping[str, Any]) -> str:
    """The sha256 of a record given as its parsed JSON."""
    import hashlib

    return hashlib.sha256(canonical_bytes(data)).hexdigest()


def record_sha256(record: LineageRecord) -> str:
    """The sha256 of a record, as :func:`data_sha256` computes it from its file."""
    return data_sha256(json.loads(record.model_dump_json()))


def head_location(config: PipelineConfig, table: str) -> str:
    """Where the catalog store keeps the chain head of ``table`` (for messages)."""
    return config.catalog.location("chain", name=validate_name(table))


def read_head(config: PipelineConfig, table: str) -> ChainHead | None:
    """The chain head of ``table`` (``None``: no record was chained yet)."""
    text = config.catalog.chain_head(validate_name(table))
    if text is None:
        return None
    try:
        return ChainHead.model_validate_json(text)
    except ValidationError as exc:
        where = head_location(config, table)
        raise CatalogError(f"{where}: not a chain head ({exc.errors()[0]['msg']})") from exc


def seal(config: PipelineConfig, record: LineageRecord) -> LineageRecord:
    """``record`` with its place in its table's chain and, with a signing key, signed."""
    head = read_head(config, record.table_name)
    own_id = record_id(record)
    if head is not None and head.record_id == own_id:  # written before: same seal
        position, previous = head.position, head.previous_record_sha256
    elif head is not None:
        position, previous = head.position + 1, head.record_sha256
    else:
        position, previous = 1, None
    update: dict[str, Any] = {
        "chain_position": position,
        "previous_record_sha256": previous,
        "input_record_sha256": _input_hashes(config, record),
        "signing_key_id": None,
        "signature": None,
    }
    if config.signing_key is not None:
        private = signing.load_private_key(config.signing_key)
        update["signing_key_id"] = signing.key_id(private.public_key())
    sealed = record.model_copy(update=update)
    if config.signing_key is not None:
        sealed = sealed.model_copy(
            update={"signature": signing.sign(private, record_sha256(sealed))}
        )
    return sealed


def _input_hashes(config: PipelineConfig, record: LineageRecord) -> dict[str, str]:
    """Record id -> sha256 of the record that published each input read."""
    if not isinstance(record, TransitionRecord):
        return {}
    hashes = {}
    for ref in record.inputs:
        if ref.record_id is None or ref.record_id in hashes:
            continue
        table = ref.table.partition(".")[2] or ref.table
        found = find_record(config, table, ref.record_id)
        if found is not None:
            hashes[ref.record_id] = record_sha256(found)
    return hashes


def write_record(config: PipelineConfig, record: LineageRecord) -> LineageRecord:
    """Seal ``record``, give it to the exporters and save it in the catalog store
    (:func:`jobforge.catalog.lineage.write_record`), move the chain head; return
    the sealed record. Call it holding the table's lock."""
    sealed = seal(config, record)
    save_record(config, sealed)
    head = ChainHead(
        table=sealed.table_name,
        position=sealed.chain_position or 1,
        record_id=record_id(sealed),
        record_sha256=record_sha256(sealed),
        previous_record_sha256=sealed.previous_record_sha256,
        updated_at=utc_now(),
    )
    config.catalog.save_chain_head(sealed.table_name, head.model_dump_json(indent=2) + "\n")
    return sealed
