"""The lineage records of every table, through the catalog store.

Every record is one :class:`~jobforge.pipeline.models.IngestionRecord` or
:class:`~jobforge.pipeline.models.TransitionRecord` (told apart by
``record_type``), saved once by :func:`write_record` (again only when a run
finishes what an interrupted one left) and never changed.
"""

from __future__ import annotations

import re
from pathlib import Path

from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import IngestionRecord, LineageRecord
from jobforge.storage.names import validate_name

_BATCH_FILE = re.compile(
    r"^batch=(?P<id>[A-Za-z0-9][A-Za-z0-9_-]*?)(?:-v[0-9]+(?:-[0-9a-f]{8})?)?\.parquet$"
)
"""``batch=<id>.parquet``, or ``batch=<id>-v<n>[-<hex>].parquet`` for a batch
published again (see :func:`jobforge.storage.versions.new_batch_file_name`)."""


def record_id(record: LineageRecord) -> str:
    """The ingestion id or transition id of ``record``."""
    return record.ingestion_id if isinstance(record, IngestionRecord) else record.transition_id


def write_record(config: PipelineConfig, record: LineageRecord) -> None:
    """Give ``record`` to the exporters (``jobforge_write_lineage``), then save it
    in the catalog store. The first error stops the rest: the engine's journal
    keeps the record for the next run on the table to write again."""
    config.plugins.write_lineage(record, config)
    config.catalog.save_record(record)


def find_record(config: PipelineConfig, table: str, wanted: str) -> LineageRecord | None:
    """The record of ``table`` whose ingestion or transition id is ``wanted``
    (``None`` if there is none)."""
    return config.catalog.record(validate_name(table), validate_name(wanted, "record id"))


def lineage_tables(config: PipelineConfig) -> list[str]:
    """Tables that have lineage records, sorted."""
    return config.catalog.lineage_tables()


def read_records(config: PipelineConfig, table: str | None = None) -> list[LineageRecord]:
    """The records of ``table`` (or of every table), oldest first.

    Failed transitions are included (their ``status`` says so).
    """
    return config.catalog.records(validate_name(table) if table is not None else None)


def batch_id_of_file(path: str | Path) -> str | None:
    """The batch id in a data file name ``batch=<id>.parquet`` (``None`` otherwise)."""
    match = _BATCH_FILE.match(Path(path).name)
    return match.group("id") if match else None
