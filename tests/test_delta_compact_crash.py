"""A compaction killed at every point of its publication: ``jobforge maintain``
run under ``tests/reliability/kill_at_rename.py``, which SIGKILLs the process
just before its N-th rename (the journal, the compacted file, the record, the
chain head, the catalog entry) or just after its N-th Delta commit, for every
N. Right after the kill the staged table holds the same rows (the version
before the compaction or the one after it); the next ``maintain`` finishes or
undoes the interrupted one, compacts if it must, and ``verify`` then holds.
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
name = "compact-crash"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
"""

DELIVERIES = [f"code,label\n{n},label {n}\n" for n in range(1, 4)]
EXPECTED = [{"code": str(n), "label": f"label {n}"} for n in range(1, 4)]
"""staged.codes: the three deliveries of one row each, appended."""

ROWS = "SELECT CAST(code AS VARCHAR) AS code, label FROM staged.codes ORDER BY code"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    return {**env, "JOBFORGE_DISABLE_PLUGINS": "example", **extra}


def _killed_maintain(project: Path, **extra: str) -> int:
    return subprocess.run(
        [sys.executable, str(KILL_SCRIPT), "maintain", "codes", "--layer", "staged"],
        cwd=project,
        env=_env(**extra),
        capture_output=True,
        timeout=300,
        check=False,
    ).returncode


def _rows(project: Path) -> list[dict]:
    result = jobforge("query", "--format", "json", ROWS, cwd=project)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compact-crash") / "project"
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT, encoding="utf-8")
    for text in DELIVERIES:
        (folder / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        result = jobforge("run", "--to", "bronze", cwd=folder)
        assert result.code == 0, result.err
    return folder


def test_a_compaction_killed_anywhere_is_finished_or_undone(
    delivered: Path, tmp_path: Path
) -> None:
    counting = tmp_path / "count"
    shutil.copytree(delivered, counting)
    count_file = tmp_path / "points"
    assert _killed_maintain(counting, JOBFORGE_TEST_COUNT_RENAMES=str(count_file)) == 0
    points = int(count_file.read_text(encoding="utf-8"))
    kinds = (tmp_path / "points.kinds").read_text(encoding="utf-8").splitlines()
    assert "delta commit" in kinds and points >= 5, kinds
    seen = set()
    for at in range(1, points + 1):
        trial = tmp_path / f"kill-{at}"
        shutil.copytree(delivered, trial)
        code = _killed_maintain(trial, JOBFORGE_TEST_KILL_AT_RENAME=str(at))
        assert code == -signal.SIGKILL, f"point {at}: not killed (exit {code})"
        # right after the kill: the version before the compaction or the one after it
        assert _rows(trial) == EXPECTED, at
        version = json.loads(
            jobforge("history", "codes", "--layer", "staged", "--json", cwd=trial).out
        )[-1]["version"]
        assert version in (3, 4), at
        seen.add(version)
        # the next maintain finishes or undoes it, then compacts if it must
        again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=trial)
        assert again.code == 0, f"point {at}: {again.err}"
        history = json.loads(
            jobforge("history", "codes", "--layer", "staged", "--json", cwd=trial).out
        )
        assert (history[-1]["rows"], history[-1]["version"]) == (3, 4), at
        assert _rows(trial) == EXPECTED, at
        (compacted,) = (trial / "data" / "staged" / "codes").glob("compact=*.parquet")
        assert compacted.is_file()
        assert (trial / "data" / ".locks").is_dir()
        assert not list((trial / "data" / ".locks").glob("*.journal")), at
        assert not list((trial / "data").rglob(".jobforge-tmp-*")), at
        verified = jobforge("verify", cwd=trial)
        assert verified.code == 0, f"point {at}: {verified.out}{verified.err}"
        shutil.rmtree(trial)
    assert seen == {3, 4}  # killed before the commit, and after it
