"""Exact de-duplication by row hash: a hash only nominates candidates, which are
compared on their full key values, without holding every row."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from jobforge.plugin import (
    BATCH_ID,
    INGESTED_AT,
    SOURCE_FILE,
    SOURCE_ROW,
    literal,
    temporary_path_for,
)
from jobforge_polars.exprs import column

DUPLICATE_OF = "duplicate_of"
"""The ``_source_row`` of the row a dropped duplicate equals (the one kept)."""
_HASH_SEED = 0x6A6F62666F726765
_HASHES_IN_MEMORY = 2_000_000
"""De-duplication holds the row hashes and row names of at most this many rows in
memory (about 50 bytes a row); more are written to a temporary file."""
_HASHES_PER_PASS = 4_000_000
"""... and then sorts at most this many row hashes at a time (32 MiB)."""
_CANDIDATES_PER_PASS = 1_000_000
"""... and compares at most this many candidate rows at a time."""
_IDENTITY = [BATCH_ID, SOURCE_ROW]
_CARRIED = [SOURCE_FILE, INGESTED_AT, *_IDENTITY]


def is_one_of(rows: pl.DataFrame) -> pl.Expr:
    """True for the rows named in ``rows`` (``_batch_id``, ``_source_row``)."""
    found = pl.lit(False)
    for (batch,), group in rows.group_by(BATCH_ID, maintain_order=True):
        found = found | (
            (pl.col(BATCH_ID) == batch)
            & pl.col(SOURCE_ROW).is_in(group.get_column(SOURCE_ROW).implode())
        )
    return found


def _repeated(values: pl.Series) -> pl.Series:
    """The values that occur more than once in ``values``."""
    values = values.sort()
    return values.filter(values == values.shift(1)).unique()


def _repeated_hashes(hashes: Path) -> pl.Series:
    """The values of ``__jf_h`` that occur more than once in the file ``hashes``,
    sorting at most :data:`_HASHES_PER_PASS` of them at a time."""
    rows = literal.scan_parquet(hashes).select(pl.len()).collect().item()
    passes = max(1, math.ceil(rows / _HASHES_PER_PASS))
    repeated: list[pl.Series] = []
    for part in range(passes):
        scan = literal.scan_parquet(hashes).select("__jf_h")
        if passes > 1:
            scan = scan.filter(pl.col("__jf_h") % passes == part)
        repeated.append(_repeated(scan.collect().get_column("__jf_h")))
    return pl.concat(repeated)


def _row_hash(keys: list[str]) -> pl.Expr:
    """``__jf_h``: a 64-bit hash of a row's ``keys`` (the xor of each column's
    hash, seeded by position: cheaper than hashing a struct). Equal rows hash
    alike (floats as polars compares them: -0.0 as 0.0, every NaN alike); a
    collision only costs a comparison."""
    combined = column(keys[0]).hash(_HASH_SEED)
    for i, key in enumerate(keys[1:], start=1):
        combined = combined ^ column(key).hash(_HASH_SEED + i)
    return combined.alias("__jf_h")


def candidate_names(kept: pl.LazyFrame, keys: list[str], rows: int, near: Path) -> pl.DataFrame:
    """``__jf_h``, ``_batch_id`` and ``_source_row`` of the rows of ``kept``
    (``rows`` of them) whose hash (:func:`_row_hash` of ``keys``) is the hash of
    another row: the duplicates, their originals and any collision.

    One read of ``kept``. The hashes and names of at most
    :data:`_HASHES_IN_MEMORY` rows are collected; more are written to a
    temporary file beside ``near`` (removed before returning), whose hash
    values seen more than once are found by sorting at most
    :data:`_HASHES_PER_PASS` of them at a time.
    """
    hashed = kept.select(_row_hash(keys), *_IDENTITY)
    if rows <= _HASHES_IN_MEMORY:
        named = hashed.collect()
        return named.filter(pl.col("__jf_h").is_in(_repeated(named["__jf_h"]).implode()))
    hashes = temporary_path_for(near.with_name(near.stem + ".hashes.parquet"))
    hashes.parent.mkdir(parents=True, exist_ok=True)
    try:
        literal.sink_parquet(hashed, hashes, compression="uncompressed", statistics=False)
        repeated = _repeated_hashes(hashes)
        return (
            literal.scan_parquet(hashes)
            .filter(pl.col("__jf_h").is_in(repeated.implode()))
            .collect()
        )
    finally:
        hashes.unlink(missing_ok=True)


def apart_column(data: list[str]) -> str:
    """The name of the column that flags, among rows read with the candidates
    (:func:`duplicate_rows`), those that are not candidates: ``__jf_apart``, or
    with more underscores if a data column is called that."""
    name = "__jf_apart"
    while name in data:
        name += "_"
    return name


def read_in_one_pass(candidates: pl.DataFrame, other_rows: int) -> bool:
    """Whether the rows of ``candidates`` and ``other_rows`` more may be read
    together, within the rows :func:`duplicate_rows` compares at a time."""
    return candidates.height + other_rows <= _CANDIDATES_PER_PASS


def duplicate_rows(
    kept: pl.LazyFrame,
    keys: list[str],
    data: list[str],
    candidates: pl.DataFrame,
    read: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``_batch_id``, ``_source_row`` and ``duplicate_of`` (the ``_source_row``
    of the earlier row kept) of the rows of ``kept`` equal on ``keys`` to an
    earlier row (the first two name a row of a layer), and, when the
    candidates were compared in one pass, those rows themselves (their
    provenance and ``data`` columns; ``None`` otherwise).

    Exact, without holding every row: only the ``candidates`` (the rows whose
    hash repeats, :func:`candidate_names`) are read back by name, at most
    :data:`_CANDIDATES_PER_PASS` at a time, and compared on their full key
    values: of equal rows the first (in file order) is kept. ``read``: the
    candidates' rows, in file order, when the caller read them already with
    other rows (:func:`read_in_one_pass`), those flagged true in the column
    :func:`apart_column` names (compared with none: filtering them out first
    would copy every row).
    """
    apart = apart_column(data)
    schema = kept.collect_schema()
    dropped = [
        pl.DataFrame(schema={**{c: schema[c] for c in [*_CARRIED, *data]}, DUPLICATE_OF: pl.Int64})
    ]
    passes = max(1, math.ceil(candidates.height / _CANDIDATES_PER_PASS))
    for part in range(passes):
        wanted = candidates.filter(pl.col("__jf_h") % passes == part) if passes > 1 else candidates
        if wanted.is_empty():
            continue
        # Read by name, in file order, so the first of equal rows is kept.
        rows = (
            read.select(*_CARRIED, *map(column, data), column(apart))
            if read is not None and passes == 1
            else kept.filter(is_one_of(wanted))
            .select(*_CARRIED, *map(column, data), pl.lit(False).alias(apart))
            .collect()
        )
        equal = pl.struct(*map(column, keys), column(apart))
        rows = rows.with_columns(pl.col(SOURCE_ROW).first().over(equal).alias(DUPLICATE_OF))
        dropped.append(rows.filter(~column(apart) & ~equal.is_first_distinct()).drop(apart))
    everything = pl.concat(dropped, how="diagonal_relaxed")
    named = everything.select(*_IDENTITY, DUPLICATE_OF)
    return named, everything if passes == 1 else None


@contextlib.contextmanager
def colliding_hashes(per_pass: int, buckets: int = 3) -> Iterator[None]:
    """For tests (the conformance suite's ``jobforge_hash_collisions``): row
    hashes forced into ``buckets`` values, so that distinct rows collide, and at
    most ``per_pass`` hashes held in memory or sorted, or candidates compared,
    per pass, so that the file and multi-pass paths run on a few rows. Not
    thread-safe: it swaps module state."""
    global _row_hash, _HASHES_IN_MEMORY, _HASHES_PER_PASS, _CANDIDATES_PER_PASS
    saved = (_row_hash, _HASHES_IN_MEMORY, _HASHES_PER_PASS, _CANDIDATES_PER_PASS)

    def colliding(keys: list[str]) -> pl.Expr:
        return (pl.struct(keys).hash(_HASH_SEED) % buckets).alias("__jf_h")

    _row_hash, _HASHES_IN_MEMORY = colliding, per_pass
    _HASHES_PER_PASS = _CANDIDATES_PER_PASS = per_pass
    try:
        yield
    finally:
        _row_hash, _HASHES_IN_MEMORY, _HASHES_PER_PASS, _CANDIDATES_PER_PASS = saved
