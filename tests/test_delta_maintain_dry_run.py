"""``jobforge maintain --dry-run`` says what maintain will do, in its order:
the compaction first, then the vacuum after that compaction, with the same
figures the real run then reports (files before and after, bytes).

Three deliveries of one row each (``retention_days = 0``): staged appends
them (three files, merged into one, then the three vacuumed: no version but
the compacted one is read by anything); bronze replaces (versions 1 and 2
vacuumed). Figures checked against the files on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cli_helpers import jobforge

PROJECT = """\
[storage]
format = "delta"

[project]
name = "dry-run"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.metadata]
retention_days = 0
"""


def _deliver(folder: Path) -> None:
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for n in range(1, 4):
        (folder / "sources" / "codes.csv").write_text(f"code,label\n{n},label {n}\n", "utf-8")
        result = jobforge("run", "--to", "bronze", cwd=folder)
        assert result.code == 0, result.err


def _size(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def test_dry_run_lists_compaction_then_vacuum_with_the_real_runs_figures(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    _deliver(project)
    staged = sorted((project / "data" / "staged" / "codes").glob("batch=*.parquet"))
    bronze = project / "data" / "bronze" / "codes"
    history = json.loads(
        jobforge("history", "codes", "--layer", "bronze", "--json", cwd=project).out
    )
    old_bronze = [bronze / f"batch={v['batches'][0]}.parquet" for v in history[:2]]
    assert len(staged) == 3 and len(old_bronze) == 2
    staged_bytes, bronze_bytes = _size(staged), _size(old_bronze)

    dry = jobforge("maintain", "codes", "--dry-run", cwd=project)
    assert dry.code == 0, dry.err
    lines = dry.out.splitlines()
    steps = lines[lines.index("1. compaction (would)") :]
    assert steps == [
        "1. compaction (would)",
        "  target size: 128MiB",
        f"  staged.codes: 3 file(s), {staged_bytes} bytes, 3 rows into 1; "
        "the current version lists 3 -> 1 file(s)",
        "  bronze.codes: not compacted: only staged tables are (a bronze batch can be "
        "published again, and its compacted file would have to be rewritten in that "
        "commit: not built)",
        "2. vacuum (would, after that compaction)",
        f"  staged.codes: 3 file(s), {staged_bytes} bytes; versions no longer readable: 1 2 3",
        f"  bronze.codes: 2 file(s), {bronze_bytes} bytes; versions no longer readable: 1 2",
        f"would compact 3 file(s) into 1; would remove 5 file(s), "
        f"{staged_bytes + bronze_bytes} bytes",
    ]
    # nothing changed: every file still there, no compacted file
    assert all(f.is_file() for f in staged + old_bronze)
    assert not list(staged[0].parent.glob("compact=*"))

    done = jobforge("maintain", "codes", cwd=project)
    assert done.code == 0, done.err
    real = done.out.splitlines()
    assert real[real.index("1. compaction") :] == [
        line.replace(" (would)", "").replace(" (would, after that compaction)", "")
        for line in steps[:-1]
    ] + [f"compacted 3 file(s) into 1; removed 5 file(s), {staged_bytes + bronze_bytes} bytes"]
    assert not any(f.exists() for f in staged + old_bronze)
