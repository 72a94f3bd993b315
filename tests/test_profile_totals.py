"""The running totals of a table's profile (catalog/totals.py): over any sequence
of appends (after or before the files, as staged puts the newest first),
replaces, full refreshes, batches published again and a file made again under
its name, the profile kept from the totals is the one computed from every
footer, and its figures are the ones the written data gives; an append reads
only the new files' footers."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jobforge.catalog import profile as profile_module
from jobforge.catalog.profile import profile_files
from jobforge.catalog.totals import read_totals, totals_file

# a file: values of x (None: a null); whether its footer has statistics
files_data = st.tuples(
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=1, max_size=6), st.booleans()
)


class Versions(RuleBasedStateMachine):
    """A table's versions, each profiled with the kept totals and without."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="totals-"))
        self.cache = self.folder / "cache" / "t.json"
        self.written: dict[Path, tuple[list[int | None], bool]] = {}
        self.paths: list[Path] = []
        self.made = 0

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self, data: tuple[list[int | None], bool], path: Path | None = None) -> Path:
        values, statistics = data
        if path is None:
            self.made += 1
            path = self.folder / f"batch={self.made}.parquet"
        frame = pl.DataFrame(
            {"x": values, "y": ["a"] * len(values)}, schema={"x": pl.Int64, "y": pl.String}
        )
        frame.write_parquet(path, statistics=statistics)
        self.made += 1
        os.utime(path, ns=(self.made * 1_000_000_000, self.made * 1_000_000_000))
        self.written[path] = data
        return path

    @rule(new=st.lists(files_data, min_size=1, max_size=3))
    def append_after(self, new: list[tuple[list[int | None], bool]]) -> None:
        self.paths = [*self.paths, *(self._write(d) for d in new)]

    @rule(new=st.lists(files_data, min_size=1, max_size=2))
    def append_before(self, new: list[tuple[list[int | None], bool]]) -> None:
        self.paths = [*(self._write(d) for d in new), *self.paths]

    @rule(new=files_data)
    def replace(self, new: tuple[list[int | None], bool]) -> None:
        self.paths = [self._write(new)]

    @rule(new=st.lists(files_data, min_size=1, max_size=4))
    def full_refresh(self, new: list[tuple[list[int | None], bool]]) -> None:
        self.paths = [self._write(d) for d in new]

    @rule(which=st.integers(0, 50), new=files_data)
    def published_again(self, which: int, new: tuple[list[int | None], bool]) -> None:
        """One batch of the version published again: out of its place, new at the end."""
        if self.paths:
            del self.paths[which % len(self.paths)]
        self.paths = [*self.paths, self._write(new)]

    @rule(end=st.booleans(), again=files_data, new=files_data)
    def made_again_then_appended(
        self, end: bool, again: tuple[list[int | None], bool], new: tuple[list[int | None], bool]
    ) -> None:
        """An end file of the list profiled last is written again under its name
        (a step that crashed after its profile, made again), then a file is appended."""
        if not self.paths:
            return
        self._write(again, self.paths[-1] if end else self.paths[0])
        self.paths = [*self.paths, self._write(new)]

    @invariant()
    def the_totals_give_the_full_profile(self) -> None:
        if not self.paths:
            return
        kept = profile_files("t", "silver", self.paths, self.cache)
        assert kept == profile_files("t", "silver", self.paths)
        # and the figures are the data's
        values = [v for p in self.paths for v in self.written[p][0]]
        assert kept.row_count == len(values)
        assert kept.file_size_bytes == sum(p.stat().st_size for p in self.paths)
        every_footer_counts = all(self.written[p][1] for p in self.paths)
        nulls = sum(v is None for v in values) if every_footer_counts else None
        assert kept.column("x").null_count == nulls
        assert kept.column("y").null_count == (0 if every_footer_counts else None)


TestVersions = Versions.TestCase
TestVersions.settings = settings(max_examples=40, stateful_step_count=10, deadline=None)


@pytest.fixture
def footer_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The footers read (the real reads, counted)."""
    read: list[Path] = []
    real = profile_module.literal.read_metadata

    def counted(path: Path):  # type: ignore[no-untyped-def]
        read.append(Path(path))
        return real(path)

    monkeypatch.setattr(profile_module.literal, "read_metadata", counted)
    return read


def _file(path: Path, values: list[int | None]) -> Path:
    pl.DataFrame({"x": values}, schema={"x": pl.Int64}).write_parquet(path, statistics=True)
    return path


@pytest.mark.parametrize("newest_first", [False, True])
def test_an_append_reads_the_new_files_footer_only(
    tmp_path: Path, footer_reads: list[Path], newest_first: bool
) -> None:
    cache = tmp_path / "cache" / "t.json"
    paths: list[Path] = []
    for n in range(6):
        new = _file(tmp_path / f"b{n}.parquet", [n, None])
        paths = [new, *paths] if newest_first else [*paths, new]
        footer_reads.clear()
        cache.unlink(missing_ok=True)  # without the footer summaries, only the totals
        profile = profile_files("t", "staged", paths, cache)
        assert footer_reads == [new]
        assert profile.row_count == 2 * (n + 1)
        assert profile.column("x").null_count == n + 1
        # a version that is the list's first, the totals' list is this one
        assert json.loads(totals_file(cache).read_text())["files"] == n + 1
    assert not cache.exists()  # the summaries are not read or written on an append

    # Totals of another list (a copy of the table's files in another folder) are not used.
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("cache", "copy"))
    other = tmp_path / "cache" / "u.json"
    profile_files("u", "staged", [copy / p.name for p in paths[:5]], other)
    shutil.copy(totals_file(other), totals_file(cache))
    footer_reads.clear()
    assert profile_files("t", "staged", paths, cache).row_count == 12
    assert sorted(footer_reads) == sorted(paths)


def test_totals_of_another_shape_are_not_read(tmp_path: Path) -> None:
    a = _file(tmp_path / "a.parquet", [1, None, 3])
    cache = tmp_path / "cache" / "t.json"
    profile_files("t", "silver", [a], cache)
    where = totals_file(cache)
    assert read_totals(where) is not None
    kept = json.loads(where.read_text())
    for broken in ({**kept, "rows": "3"}, {**kept, "format": 0}, {**kept, "ends": [[1, 2, 3]]}):
        where.write_text(json.dumps(broken))
        assert read_totals(where) is None
    where.write_text("not json")
    assert read_totals(where) is None
    b = _file(tmp_path / "b.parquet", [None])
    assert profile_files("t", "silver", [a, b], cache).row_count == 4
