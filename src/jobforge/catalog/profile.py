"""Cheap profiles of a published table version: from parquet footers and the
first rows, never a scan of the whole table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from jobforge.storage import literal

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    data_type: str
    null_count: int | None
    """From the footer statistics; ``None`` when a file has no statistics."""
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableProfile:
    """What enrichment hooks and the catalog learn about a table version."""

    table: str
    layer: str
    files: list[str]
    row_count: int
    file_size_bytes: int
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


def _null_counts(footers: list[pq.FileMetaData]) -> dict[str, int | None]:
    """Null count per top-level column, summed over every row group of every
    file (``None`` where a column chunk has no null count)."""
    counts: dict[str, int | None] = {}
    for meta in footers:
        names = [meta.schema.column(i).path.split(".")[0] for i in range(meta.num_columns)]
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for ci, name in enumerate(names):
                if name in counts and counts[name] is None:
                    continue
                stats = group.column(ci).statistics
                known = stats is not None and stats.has_null_count
                counts[name] = (counts.get(name) or 0) + stats.null_count if known else None
    return counts


def profile_files(table: str, layer: str, paths: list[Path]) -> TableProfile:
    """Profile the parquet files of one table version."""
    if not paths:
        return TableProfile(table, layer, [], 0, 0, [])
    footers = [literal.read_metadata(p) for p in paths]  # each file's footer, read once
    rows = sum(meta.num_rows for meta in footers)
    size = sum(p.stat().st_size for p in paths)
    head = literal.scan_parquet(paths[0]).head(SAMPLE_ROWS).collect()
    schema = literal.read_parquet_schema(paths[0])
    nulls = _null_counts(footers)
    columns = []
    sampled = set(head.columns)  # a set: a wide table has thousands of columns
    for name, dtype in schema.items():
        examples: list[str] = []
        if name in sampled:
            for value in head.get_column(name).to_list():
                if value is not None and len(examples) < 3:
                    text = str(value)
                    examples.append(text if len(text) <= 80 else text[:77] + "...")
        columns.append(ColumnProfile(name, str(dtype), nulls.get(name), examples))
    return TableProfile(table, layer, [str(p) for p in paths], rows, size, columns)
