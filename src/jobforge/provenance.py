"""The provenance columns: the one place their names and meanings are defined.

Every row of every layer carries:

- ``_source_file``: the source file as given to ``ingest``;
- ``_ingested_at``: when the batch was ingested (kept unchanged on every layer);
- ``_batch_id``: the ingestion batch (a UUID);
- ``_layer``: the layer the row is stored in;
- ``_source_row``: the 1-based record number in the source file (the header is
  not a record).

From bronze on, ``_processed_at`` says when the row passed into its layer.
Gold rows carry ``_lineage``: the list of silver rows they were built from, as
``"<table>:<batch_id>:<source_row>"`` (see ``docs/provenance.md``).
"""

from __future__ import annotations

from jobforge.pipeline.models import PROVENANCE_COLUMNS

SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
BATCH_ID = "_batch_id"
LAYER = "_layer"
SOURCE_ROW = "_source_row"
PROCESSED_AT = "_processed_at"
LINEAGE = "_lineage"

STAGED_COLUMNS: tuple[str, ...] = (*PROVENANCE_COLUMNS, SOURCE_ROW)
"""Provenance columns written at ingestion."""

LAYER_COLUMNS: tuple[str, ...] = (*STAGED_COLUMNS, PROCESSED_AT)
"""Provenance columns on bronze and silver rows."""

ALL_COLUMNS: frozenset[str] = frozenset((*LAYER_COLUMNS, LINEAGE))

PROVENANCE_DESCRIPTIONS: dict[str, str] = {
    SOURCE_FILE: "Provenance: the source file this row was ingested from.",
    INGESTED_AT: "Provenance: when the row's batch was ingested (UTC).",
    BATCH_ID: "Provenance: the ingestion batch id (UUID) of this row.",
    LAYER: "Provenance: the layer this row is stored in.",
    SOURCE_ROW: "Provenance: 1-based record number of this row in its source file.",
    PROCESSED_AT: "Provenance: when this row was written into its layer (UTC).",
    LINEAGE: "Provenance: the silver rows this gold row was built from "
    "('<table>:<batch_id>:<source_row>').",
}


def is_provenance(column: str) -> bool:
    """True for jobforge's own provenance columns."""
    return column in ALL_COLUMNS


def data_columns(columns: list[str]) -> list[str]:
    """``columns`` without the provenance columns, order kept."""
    return [c for c in columns if c not in ALL_COLUMNS]


def lineage_key(table: str, batch_id: str, source_row: int) -> str:
    """The ``_lineage`` entry of one silver row."""
    return f"{table}:{batch_id}:{source_row}"


def parse_lineage_key(key: str) -> tuple[str, str, int]:
    """``(table, batch_id, source_row)`` of a ``_lineage`` entry."""
    table, batch_id, row = key.rsplit(":", 2)
    return table, batch_id, int(row)
