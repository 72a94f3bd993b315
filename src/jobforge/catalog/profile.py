"""Cheap profiles of a published table version: from parquet footers and the
first rows, never a scan of the whole table.

A version of an appended table holds every batch's file, so reading every
footer made each step cost more the longer the table's history. What a footer
gives the profile (rows, null counts) is kept per file in a small cache beside
the table's locks (:func:`summary_cache_file`; for a version of more than one
file: one footer costs less to read again than a file to write), keyed by the
file's path, size, modification time and inode: a published file is never rewritten under its
name, and a file that differs in any of these is read again. The cache is
derived data: a missing, unreadable or stale one costs only the footer reads.

A version that is a version profiled before plus new files (an append) is
profiled from that version's running totals (:mod:`jobforge.catalog.totals`)
and the new files' footers alone: no file of the earlier version is looked at
again, and neither the summaries nor the list of every file are read or
written. Anything else (a replace, a full refresh, a batch published again,
totals missing or of another list) takes the full computation, which keeps the
totals of its list for the next append.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge.catalog import totals as running
from jobforge.storage import literal
from jobforge.storage.atomic import atomic_write_text
from jobforge.storage.names import validate_name

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from jobforge.pipeline.config import PipelineConfig

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


def summary_cache_folder(config: PipelineConfig) -> Path:
    """Where the footer summaries of every table are kept (with the locks: not
    data, not catalog)."""
    return config.locks_path() / "profiles"


def summary_cache_file(config: PipelineConfig, layer: str, table: str) -> Path:
    return summary_cache_folder(config) / validate_name(layer) / f"{validate_name(table)}.json"


def _summary(path: Path, identity: list[int]) -> dict[str, Any]:
    """A file's identity, rows and null counts, from its footer."""
    meta = literal.read_metadata(path)
    return {"identity": identity, "rows": meta.num_rows, "nulls": _null_counts([meta])}


def _read_cache(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None:
        return {}
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _usable(summary: object, identity: list[int]) -> bool:
    """Whether a cached summary is of this very file and has the expected shape."""
    return (
        isinstance(summary, dict)
        and summary.get("identity") == identity
        and isinstance(summary.get("rows"), int)
        and isinstance(summary.get("nulls"), dict)
        and all(n is None or isinstance(n, int) for n in summary["nulls"].values())
    )


def _file_summaries(paths: list[Path], cache: Path | None) -> list[dict[str, Any]]:
    """Per file: its identity, rows and null counts (from the cache when the
    file is the one summarised there, else from its footer)."""
    known = _read_cache(cache)
    summaries: list[dict[str, Any]] = []
    changed = False
    for path in paths:
        key = str(path)
        identity = running.identity(path)
        summary = known.get(key)
        if summary is None or not _usable(summary, identity):
            summary = _summary(path, identity)
            changed = True
        summaries.append(summary)
    if cache is None:
        return summaries
    if len(paths) == 1:
        # One footer is read again for less than a file is written (a new file
        # costs more than a read on most file systems): a version of one file
        # keeps no summaries, and those of an earlier version go.
        if known:
            with contextlib.suppress(OSError):
                cache.unlink()
    elif changed or len(known) != len(paths):
        # Only the files of this version: the cache never grows past the version.
        text = json.dumps({str(p): s for p, s in zip(paths, summaries, strict=True)})
        with contextlib.suppress(OSError):  # a cache that cannot be written is read again
            atomic_write_text(cache, text, durable=False)
    return summaries


def _merged_nulls(summaries: list[dict[str, Any]]) -> dict[str, int | None]:
    """The files' null counts added up, as :func:`_null_counts` over every footer
    gives them (``None``, not known, in any file stays ``None``)."""
    counts: dict[str, int | None] = {}
    for summary in summaries:
        for name, count in summary["nulls"].items():
            if name in counts and counts[name] is None:
                continue
            counts[name] = None if count is None else (counts.get(name) or 0) + count
    return counts


def _figures(paths: list[Path], cache: Path | None) -> running.Totals:
    """The rows, bytes and null counts of ``paths``: from the running totals of
    a list they extend and the other files' footers, else from every file's
    summary; the totals of ``paths`` are kept for the next profile."""
    where = running.totals_file(cache) if cache is not None else None
    known = running.read_totals(where) if where is not None else None
    split = known.rest_of(paths) if known is not None else None
    if known is not None and split is not None:
        rest, after = split
        summaries = [_summary(path, running.identity(path)) for path in rest]
        nulls = _merged_nulls([{"nulls": known.nulls}, *summaries])
        rows = known.rows + sum(s["rows"] for s in summaries)
        size = known.size + sum(s["identity"][0] for s in summaries)
        # the new list's ends: the known list's first and the last new file, or
        # the first new file and the known list's last
        if after:
            ends = [known.ends[0], summaries[-1]["identity"]]
        else:
            ends = [summaries[0]["identity"], known.ends[1]]
    else:
        summaries = _file_summaries(paths, cache)
        nulls = _merged_nulls(summaries)
        rows = sum(s["rows"] for s in summaries)
        size = sum(s["identity"][0] for s in summaries)
        ends = [summaries[0]["identity"], summaries[-1]["identity"]]
    figures = running.totals_of(paths, ends, rows, size, nulls)
    if where is not None:
        running.write_totals(where, figures)
    return figures


def profile_files(
    table: str,
    layer: str,
    paths: list[Path],
    cache: Path | None = None,
    *,
    sample: Path | None = None,
) -> TableProfile:
    """Profile the parquet files of one table version (``cache``: the table's
    footer summaries, :func:`summary_cache_file`; ``sample``: the file whose
    schema and first rows give the columns and their examples, default the
    first of ``paths``)."""
    if not paths:
        return TableProfile(table, layer, [], 0, 0, [])
    figures = _figures(paths, cache)
    rows, size, nulls = figures.rows, figures.size, figures.nulls
    sample = paths[0] if sample is None else sample
    frame = literal.scan_parquet(sample)  # one scan: the schema, then the first rows
    schema = dict(frame.collect_schema())
    head = frame.head(SAMPLE_ROWS).collect()
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
