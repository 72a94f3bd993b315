"""The footer summaries a table's profile keeps between steps (catalog/profile.py):
the same figures as reading every footer, the cache used when the file is the
one it summarised, and read again when it is not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from jobforge.catalog.profile import profile_files
from jobforge.catalog.totals import totals_file


def _write(path: Path, values: list[int | None]) -> Path:
    pl.DataFrame({"x": values, "y": ["a"] * len(values)}).write_parquet(path, statistics=True)
    return path


def _figures(profile) -> tuple[int, int | None, int | None]:
    return profile.row_count, profile.column("x").null_count, profile.column("y").null_count


def test_the_cache_gives_the_footers_figures_and_is_used_until_a_file_changes(
    tmp_path: Path,
) -> None:
    a = _write(tmp_path / "a.parquet", [1, None, 3])  # 3 rows, 1 null
    b = _write(tmp_path / "b.parquet", [None, None])  # 2 rows, 2 nulls
    cache = tmp_path / "cache" / "t.json"
    uncached = profile_files("t", "silver", [a, b])
    assert _figures(uncached) == (5, 3, 0)
    assert _figures(profile_files("t", "silver", [a, b], cache)) == (5, 3, 0)
    assert cache.exists()
    assert profile_files("t", "silver", [a, b], cache) == uncached

    # The cache is what the second profile read: a figure planted in it shows.
    planted = json.loads(cache.read_text())
    planted[str(a)]["rows"] = 1000
    cache.write_text(json.dumps(planted))
    assert profile_files("t", "silver", [a, b], cache).row_count == 1002

    # A file rewritten under its name (other size, time or inode) is read again.
    _write(a, [1, 2, 3, 4])
    os.utime(a, ns=(1, 1))
    assert _figures(profile_files("t", "silver", [a, b], cache)) == (6, 2, 0)

    # Only the version's files are kept: a version of [b, c] drops a's summary
    c = _write(tmp_path / "c.parquet", [7])  # 1 row, no null
    assert _figures(profile_files("t", "silver", [a, b, c], cache)) == (7, 2, 0)
    totals_file(cache).unlink()  # [b, c] is no extension of [a, b, c]: summaries
    assert _figures(profile_files("t", "silver", [b, c], cache)) == (3, 2, 0)
    assert list(json.loads(cache.read_text())) == [str(b), str(c)]
    # and a version of one file keeps none (its one footer is read again, which
    # costs less than writing a file), the earlier version's summaries removed
    totals_file(cache).unlink()
    assert _figures(profile_files("t", "silver", [b], cache)) == (2, 2, 0)
    assert not cache.exists()
    # a cache that is not JSON is ignored
    # [a, b] extends [b], whose running totals would answer without the summaries
    # (tests/test_profile_totals.py): without them, the summaries are read.
    totals_file(cache).unlink()
    cache.write_text("not json")
    assert _figures(profile_files("t", "silver", [a, b], cache)) == (6, 2, 0)
    # Nor is an entry of the wrong shape (its file's footer is read instead).
    broken = json.loads(cache.read_text())
    broken[str(b)]["rows"] = "two"
    cache.write_text(json.dumps(broken))
    assert _figures(profile_files("t", "silver", [a, b], cache)) == (6, 2, 0)
