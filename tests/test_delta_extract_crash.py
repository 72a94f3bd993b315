"""A step killed while it cuts one batch's rows out of a compacted file leaves
a temporary file below ``.jobforge-batches/``; the next ``maintain`` or ``run``
on that table removes it (under the table's lock, with the table's other
temporaries), and the batch's copy is written whole when it is next needed.

Real SIGKILL: ``promote --batch`` of a staged batch held in a compacted file,
run under ``tests/reliability/kill_at_rename.py``, killed just before the
rename of that copy into place.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_helpers import jobforge

KILL_SCRIPT = Path(__file__).parent / "reliability" / "kill_at_rename.py"

PROJECT = """\
[storage]
format = "delta"

[project]
name = "extract-crash"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    return {**env, "JOBFORGE_DISABLE_PLUGINS": "example", **extra}


def _killable_promote(project: Path, batch: str, **extra: str) -> int:
    return subprocess.run(
        [sys.executable, str(KILL_SCRIPT), "promote", "codes", "--to", "bronze", "--batch", batch],
        cwd=project,
        env=_env(**extra),
        capture_output=True,
        timeout=300,
        check=False,
    ).returncode


@pytest.fixture(scope="module")
def compacted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Three deliveries of one row, staged compacted into one file; the second batch."""
    folder = tmp_path_factory.mktemp("extract-crash") / "project"
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for n in range(1, 4):
        (folder / "sources" / "codes.csv").write_text(f"code,label\n{n},label {n}\n", "utf-8")
        result = jobforge("run", "--to", "bronze", cwd=folder)
        assert result.code == 0, result.err
    result = jobforge("maintain", "codes", "--layer", "staged", cwd=folder)
    assert result.code == 0, result.err
    history = json.loads(
        jobforge("history", "codes", "--layer", "staged", "--json", cwd=folder).out
    )
    return folder, history[-1]["batches"][1]


def _leftovers(project: Path) -> list[Path]:
    return sorted((project / "data" / ".jobforge-batches").rglob(".jobforge-tmp-*"))


@pytest.mark.parametrize("then", ["maintain", "run"])
def test_a_kill_while_extracting_a_batch_is_tidied_by_the_next_step(
    compacted: tuple[Path, str], tmp_path: Path, then: str
) -> None:
    source, batch = compacted
    counting = tmp_path / "count"
    shutil.copytree(source, counting)
    count_file = tmp_path / "points"
    assert _killable_promote(counting, batch, JOBFORGE_TEST_COUNT_RENAMES=str(count_file)) == 0
    targets = (tmp_path / "points.targets").read_text(encoding="utf-8").splitlines()
    extract = [n for n, t in enumerate(targets, 1) if "/.jobforge-batches/staged/codes/" in t]
    (at,) = extract  # the copy is cut once
    assert Path(targets[at - 1]).name == f"batch={batch}.parquet"

    project = tmp_path / "project"
    shutil.copytree(source, project)
    killed = _killable_promote(project, batch, JOBFORGE_TEST_KILL_AT_RENAME=str(at))
    assert killed == -signal.SIGKILL
    copy = project / Path(targets[at - 1]).relative_to(counting)
    (left,) = _leftovers(project)
    assert left.name.endswith(f"-batch={batch}.parquet.tmp") and left.stat().st_size > 0
    assert left.parent == copy.parent and not copy.exists()

    args = ["maintain", "codes"] if then == "maintain" else ["run"]
    result = jobforge(*args, cwd=project)
    assert result.code == 0, result.err
    assert _leftovers(project) == []
    # the batch is still promoted alone, its copy now written whole
    result = jobforge("promote", "codes", "--to", "bronze", "--batch", batch, cwd=project)
    assert result.code == 0, result.err
    rows = jobforge(
        "query",
        "--format",
        "json",
        "SELECT CAST(code AS VARCHAR) AS code FROM bronze.codes",
        cwd=project,
    )
    assert json.loads(rows.out) == [{"code": "2"}]
    assert copy.is_file() and _leftovers(project) == []
