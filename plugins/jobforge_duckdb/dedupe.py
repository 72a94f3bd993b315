"""Exact de-duplication in DuckDB by row hash: a hash only nominates candidates,
which are compared on their full key values, so that no step holds every row.

1. the hash of each kept row's keys is aggregated: the hashes seen more than
   once (few: the duplicates, their originals and any collision) are kept;
2. the rows with such a hash are the candidates (a temporary table);
3. among them, rows equal on every key are ranked by ``_source_row``: each one
   after the first is a duplicate of the first (``duplicate_of``).

Steps 1 and 2 stream the input; only the candidates are held (DuckDB spills
them beyond its memory limit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from jobforge.plugin import BATCH_ID, SOURCE_ROW
from jobforge_duckdb.session import Session, ident

DROPPED = "jf_dropped"
"""The temporary table of the rows dropped as duplicates: every column of the
kept rows and ``__jf_of`` (the ``_source_row`` of the row each equals)."""


def _hash(keys: list[str]) -> str:
    return f"hash({', '.join(map(ident, keys))})"


_row_hash: Callable[[list[str]], str] = _hash


def duplicate_rows(session: Session, kept: str, keys: list[str]) -> str:
    """Find the rows of the query ``kept`` equal on ``keys`` to an earlier row
    (by ``_source_row``); the name of the temporary table that holds them."""
    con = session.con
    h = _row_hash(keys)
    con.execute(
        f"CREATE TEMP TABLE jf_repeated AS SELECT __jf_h FROM "
        f"(SELECT {h} AS __jf_h FROM ({kept})) GROUP BY __jf_h HAVING count(*) > 1"
    )
    con.execute(
        f"CREATE TEMP TABLE jf_candidates AS SELECT * FROM ({kept}) "
        f"WHERE {h} IN (SELECT __jf_h FROM jf_repeated)"
    )
    window = f"PARTITION BY {', '.join(map(ident, keys))} ORDER BY {ident(SOURCE_ROW)}"
    con.execute(
        f"CREATE TEMP TABLE {DROPPED} AS SELECT * FROM ("
        f"SELECT *, row_number() OVER ({window}) AS __jf_n, "
        f"first_value({ident(SOURCE_ROW)}) OVER ({window}) AS __jf_of FROM jf_candidates"
        f") WHERE __jf_n > 1 ORDER BY {ident(SOURCE_ROW)}"
    )
    con.execute("DROP TABLE jf_candidates")
    con.execute("DROP TABLE jf_repeated")
    return DROPPED


def without(session: Session, dropped: str) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """A filter of Arrow batches that removes the rows named in the table
    ``dropped`` (by ``_batch_id`` and ``_source_row``). Applied to the batches
    DuckDB streams, it keeps their order, where an anti join would not."""
    named = session.con.execute(
        f"SELECT {ident(BATCH_ID)}, list({ident(SOURCE_ROW)}) FROM {dropped} GROUP BY ALL"
    ).fetchall()
    groups = [(str(batch), pa.array(rows, pa.int64())) for batch, rows in named]

    def keep(batch: pa.RecordBatch) -> pa.RecordBatch:
        found = None
        for batch_id, rows in groups:
            hit = pc.and_(
                pc.equal(batch.column(BATCH_ID), batch_id),
                pc.is_in(batch.column(SOURCE_ROW), value_set=rows),
            )
            found = hit if found is None else pc.or_(found, hit)
        return batch if found is None else batch.filter(pc.invert(found))

    return keep


@contextlib.contextmanager
def colliding_hashes(per_pass: int, buckets: int = 3) -> Iterator[None]:
    """For tests (the conformance suite's ``jobforge_hash_collisions``): row
    hashes forced into ``buckets`` values, so that distinct rows collide
    (``per_pass`` does not apply: DuckDB spills instead of passes). Not
    thread-safe: it swaps module state."""
    global _row_hash
    saved = _row_hash
    _row_hash = lambda keys: f"({_hash(keys)} % {buckets})"  # noqa: E731
    try:
        yield
    finally:
        _row_hash = saved
