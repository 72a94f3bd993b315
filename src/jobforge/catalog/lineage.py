"""Reading the lineage records of ``catalog/lineage/<table>/``.

Every file is one :class:`~jobforge.pipeline.models.IngestionRecord` or
:class:`~jobforge.pipeline.models.TransitionRecord` (told apart by
``record_type``), written once by the catalog writer and never rewritten. The
file name starts with the record's start time, so a listing is in time order.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter

from jobforge.catalog.jsonfile import read_json_model, visible_json_files
from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import IngestionRecord, LineageRecord, TransitionRecord
from jobforge.storage.names import validate_name

_RECORD: TypeAdapter[LineageRecord] = TypeAdapter(
    Annotated[TransitionRecord | IngestionRecord, Field(discriminator="record_type")]
)
_BATCH_FILE = re.compile(
    r"^batch=(?P<id>[A-Za-z0-9][A-Za-z0-9_-]*?)(?:-v[0-9]+(?:-[0-9a-f]{8})?)?\.parquet$"
)
"""``batch=<id>.parquet``, or ``batch=<id>-v<n>[-<hex>].parquet`` for a batch
published again (see :func:`jobforge.storage.versions.new_batch_file_name`)."""


def read_record(path: Path) -> LineageRecord:
    """One lineage record; a file that does not validate, or that sits in the
    folder of another table, is a :class:`CatalogError` naming it."""
    record = read_json_model(path, _RECORD, "lineage record")
    if record.table_name != path.parent.name:
        raise CatalogError(
            f"{path}: records table {record.table_name!r} but is filed under {path.parent.name!r}"
        )
    return record


def record_id(record: LineageRecord) -> str:
    """The ingestion id or transition id of ``record``."""
    return record.ingestion_id if isinstance(record, IngestionRecord) else record.transition_id


def find_record(config: PipelineConfig, table: str, wanted: str) -> LineageRecord | None:
    """The record of ``table`` whose ingestion or transition id is ``wanted``
    (``None`` if there is none). Record files end in ``-<id>.json``: only the
    names of the table's folder are listed."""
    validate_name(wanted, "record id")
    folder = config.catalog_lineage_path() / validate_name(table)
    suffix = f"-{wanted}.json"
    try:
        names = [e.name for e in os.scandir(folder) if e.name.endswith(suffix)]
    except FileNotFoundError:
        return None
    for name in sorted(names):
        if not name.startswith("."):
            record = read_record(folder / name)
            if record_id(record) == wanted:
                return record
    return None


def lineage_tables(config: PipelineConfig) -> list[str]:
    """Tables that have lineage records, sorted."""
    root = config.catalog_lineage_path()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_records(config: PipelineConfig, table: str | None = None) -> list[LineageRecord]:
    """The records of ``table`` (or of every table), oldest first.

    Failed transitions are included (their ``status`` says so).
    """
    tables = [validate_name(table)] if table is not None else lineage_tables(config)
    records: list[tuple[str, str, LineageRecord]] = []
    for name in tables:
        for path in visible_json_files(config.catalog_lineage_path() / name):
            record = read_record(path)
            records.append((record.started_at.isoformat(), path.name, record))
    records.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in records]


def batch_id_of_file(path: str | Path) -> str | None:
    """The batch id in a data file name ``batch=<id>.parquet`` (``None`` otherwise)."""
    match = _BATCH_FILE.match(Path(path).name)
    return match.group("id") if match else None
