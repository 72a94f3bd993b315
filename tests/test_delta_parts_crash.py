"""A SIGKILL around every Delta commit (tests/reliability/kill_at_rename.py's
points: the rename just before the commit, with every part in place and no
commit yet; just after the commit; the rename after it) of a pipeline whose
bronze, silver and gold versions are each two part files, on the Delta store
(tests/reliability/parts_run.py; test_crash_safety.py kills at every point of
one-file versions): after the kill every table's jobforge version
is its Delta table's files exactly, each part there with the rows the version
says (never a half table); the next run recovers and ends with the rows of an
unkilled run in every layer and in quarantine and duplicates, and ``verify``
holds, and so do the checks of every crash trial (``warehouse.check_consistency``,
which reads every part). Real processes, real Delta tables (slow: one process
per point)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from jobforge.audit.verify import verify
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal

from .engine_support import write_csv
from .reliability import warehouse

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "reliability" / "parts_run.py"
ROOT = Path(__file__).resolve().parent.parent
# row 3 repeats row 2 (a duplicate), row 5 breaks the rule a <> '9' (quarantine)
ROWS = [["1", "w"], ["2", "x"], ["2", "x"], ["4", "y"], ["9", "z"], ["6", "v"]]
TABLES = [("staged", "t"), ("bronze", "t"), ("silver", "t"), ("gold", "g")]


def _run(data: Path, source: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = warehouse.subprocess_env(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(data), str(source)],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _config(data: Path) -> PipelineConfig:
    return PipelineConfig(data, entry_points=False, storage_format="delta")


def _rows(config: PipelineConfig) -> dict[str, list[tuple[object, ...]]]:
    """Each layer table's (a, b, _source_row) rows and the rows set apart, sorted."""
    found: dict[str, list[tuple[object, ...]]] = {}
    for layer, table in TABLES:
        current = config.store.current(layer, table)
        assert current is not None, (layer, table)
        frame = literal.scan_parquet(config.store.files(layer, table, current)).collect()
        columns = [c for c in ("a", "b", "_source_row") if c in frame.columns]
        found[f"{layer}.{table}"] = sorted(frame.select(columns).rows())
    for area in ("silver", "duplicates"):
        files = config.store.set_apart_files("t", area)
        found[area] = sorted(
            row for f in files for row in pq.read_table(f).select(["_source_row"]).to_pylist()
        )  # type: ignore[type-var]
    return found


def _whole_tables(data: Path, *, recovered: bool = False) -> None:
    """Every table's jobforge version equals its Delta table: the same parts,
    each present with the rows the version gives it (``recovered``: and no
    other data file is left in the table's folder)."""
    config = _config(data)
    for layer, table in TABLES:
        folder = config.store.table_dir(layer, table)
        current = config.store.current(layer, table)
        if current is None:
            continue
        names = [n for b in current.batches for n in b.data_files()]
        delta = sorted(u.rsplit("/", 1)[-1] for u in DeltaTable(str(folder)).file_uris())
        assert delta == sorted(names), (layer, table)
        for batch in current.batches:
            rows = sum(pq.read_metadata(folder / n).num_rows for n in batch.data_files())
            assert rows == batch.rows, (layer, table, batch.batch_id)
        if layer != "staged":
            assert all(len(b.parts) == 2 for b in current.batches), (layer, table)
        if recovered:
            assert sorted(p.name for p in folder.glob("*.parquet")) == delta, (layer, table)


def test_a_kill_around_each_delta_commit_leaves_whole_tables_and_the_next_run_recovers(
    tmp_path: Path,
) -> None:
    source = write_csv(tmp_path / "t.csv", ["a", "b"], ROWS)
    count = tmp_path / "points.txt"
    reference = tmp_path / "reference"
    done = _run(reference, source, JOBFORGE_TEST_COUNT_RENAMES=str(count))
    assert done.returncode == 0, done.stderr
    points = int(count.read_text())
    kinds = Path(f"{count}.kinds").read_text().splitlines()
    assert len(kinds) == points
    assert kinds.count("delta commit") >= 4  # staged, bronze, silver, gold at least
    expected = _rows(_config(reference))
    assert expected["silver.t"] == [("1", "w", 1), ("2", "x", 2), ("4", "y", 4), ("6", "v", 6)]
    assert expected["silver"] == [{"_source_row": 5}]
    assert expected["duplicates"] == [{"_source_row": 3}]
    assert verify(_config(reference)).findings == []

    commits = [n for n, kind in enumerate(kinds, start=1) if kind == "delta commit"]
    chosen = sorted({p for c in commits for p in (c - 1, c, c + 1) if 1 <= p <= points})
    for point in chosen:
        data = tmp_path / f"kill-{point}"
        killed = _run(data, source, JOBFORGE_TEST_KILL_AT_RENAME=str(point))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        _whole_tables(data)
        # the promises of tests/reliability/warehouse.py hold on versions in parts too
        warehouse.check_consistency(data, recovered=False)
        recovered = _run(data, source)
        assert recovered.returncode == 0, (point, kinds[point - 1], recovered.stderr)
        _whole_tables(data, recovered=True)
        warehouse.check_consistency(data, recovered=True)
        assert _rows(_config(data)) == expected, (point, kinds[point - 1])
        findings = verify(_config(data)).findings
        assert findings == [], (point, kinds[point - 1], [f.line() for f in findings])
        assert not [p for p in data.rglob("*") if ".tmp" in p.name and p.is_file()], point
    assert os.environ.get("JOBFORGE_TEST_KILL_AT_RENAME") is None
