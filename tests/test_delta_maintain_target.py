"""``[storage] compact_target_size`` and ``jobforge maintain --target-size``: the
target size of a compacted file, on real small Delta tables through the real CLI.

Six deliveries of one row each make six staged files of one size S (about 2KB;
its exact bytes depend on the length of the source path, so the test reads it).
With a target of 2S + 1 bytes a run holds three of them (two are 2S, below it;
the third reaches it), so the six become two compacted files of three rows each,
codes 1-2-3 and 4-5-6 in their order. Each compacted file is at the target or
above it (checked), so a second maintain leaves them as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"
{target}

[project]
name = "target-size"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.metadata]
retention_days = 0
"""


def _deliver(folder: Path, target: str, deliveries: int = 6) -> list[Path]:
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT.format(target=target), encoding="utf-8")
    for n in range(1, deliveries + 1):
        (folder / "sources" / "codes.csv").write_text(f"code,label\n{n},label {n}\n", "utf-8")
        result = jobforge("run", "--to", "bronze", cwd=folder)
        assert result.code == 0, result.err
    return sorted((folder / "data" / "staged" / "codes").glob("batch=*.parquet"))


def _compacted(folder: Path) -> list[list[str]]:
    """The codes of each compacted file, in the order the table reads them."""
    files = sorted(
        (folder / "data" / "staged" / "codes").glob("compact=*.parquet"),
        key=lambda f: pq.read_table(f).column("code").to_pylist(),
    )
    return [pq.read_table(f).column("code").to_pylist() for f in files]


def _one_size(files: list[Path]) -> int:
    sizes = {f.stat().st_size for f in files}
    assert len(sizes) == 1, sizes  # one-row files of one schema and one source path
    return sizes.pop()


def _target(folder: Path, target: str) -> None:
    """Set ``[storage] compact_target_size`` in the project file (read by maintain)."""
    toml = folder / "jobforge.toml"
    toml.write_text(PROJECT.format(target=f"compact_target_size = {target}"), encoding="utf-8")


def test_a_target_from_the_project_file_makes_runs_of_three(tmp_path: Path) -> None:
    project = tmp_path / "project"
    staged = _deliver(project, "")
    assert len(staged) == 6
    size = _one_size(staged)
    target = 2 * size + 1
    _target(project, str(target))  # a whole number: bytes

    dry = jobforge("maintain", "codes", "--layer", "staged", "--dry-run", cwd=project)
    assert dry.code == 0, dry.err
    assert f"  target size: {target}B" in dry.out.splitlines()
    assert (
        f"  staged.codes: 6 file(s), {6 * size} bytes, 6 rows into 2; "
        "the current version lists 6 -> 2 file(s)"
    ) in dry.out.splitlines()

    done = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=project)
    assert done.code == 0, done.err
    (result,) = json.loads(done.out)
    assert result["target_bytes"] == target
    assert result["version_files"] == [6, 2]
    assert _compacted(project) == [["1", "2", "3"], ["4", "5", "6"]]
    assert not list((project / "data" / "staged" / "codes").glob("batch=*.parquet"))
    compacted = sorted((project / "data" / "staged" / "codes").glob("compact=*.parquet"))
    assert all(f.stat().st_size >= target for f in compacted)

    # the staged table still reads its six rows, in order
    query = jobforge("query", "select code from staged.codes order by code", cwd=project)
    assert query.code == 0, query.err
    assert query.out.splitlines() == ["code", "1", "2", "3", "4", "5", "6"]

    # each compacted file is at the target or above it: a second maintain leaves them
    again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=project)
    assert again.code == 0, again.err
    assert json.loads(again.out)[0]["version_files"] is None
    assert sorted((project / "data" / "staged" / "codes").glob("compact=*.parquet")) == compacted


def test_the_flag_overrides_the_project_file(tmp_path: Path) -> None:
    """``--target-size S`` (the size of each file): every file is at the target,
    nothing is merged; ``--target-size 1MiB`` over the project file's 1KiB (below
    every file: nothing merged by it): one file of the three rows."""
    project = tmp_path / "project"
    staged = _deliver(project, 'compact_target_size = "1KiB"', deliveries=3)
    assert len(staged) == 3
    size = _one_size(staged)
    assert size > 1024

    dry = jobforge(
        "maintain",
        "codes",
        "--layer",
        "staged",
        "--dry-run",
        "--target-size",
        str(size),
        cwd=project,
    )
    assert dry.code == 0, dry.err
    assert f"  target size: {size}B" in dry.out.splitlines()
    assert "  staged.codes: nothing to compact: no two small files in a row" in dry.out.splitlines()

    done = jobforge("maintain", "codes", "--layer", "staged", "--target-size", "1MiB", cwd=project)
    assert done.code == 0, done.err
    assert "  target size: 1MiB" in done.out.splitlines()
    assert _compacted(project) == [["1", "2", "3"]]


def test_a_bad_size_is_one_line_naming_the_key_or_the_flag(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _deliver(project, "", deliveries=1)
    flag = jobforge("maintain", "codes", "--target-size", "64MB", cwd=project)
    assert flag.code == 2
    assert "Invalid value for '--target-size': expected a whole number of bytes" in flag.err
    assert "got '64MB'" in flag.err

    _target(project, '"0KiB"')
    bad = jobforge("maintain", "codes", cwd=project)
    assert bad.code != 0
    assert "Traceback" not in bad.err
    assert (
        "  storage.compact_target_size: expected a whole number of bytes or a size such as "
        "\"64MiB\" (units B, KiB, MiB, GiB, TiB), above 0, got '0KiB'"
    ) in bad.err.splitlines()
    # nothing compacted
    assert not list((project / "data" / "staged" / "codes").glob("compact=*.parquet"))
