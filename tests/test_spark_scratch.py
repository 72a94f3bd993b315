"""What a killed spark run leaves in the temporary directory (its scratch
folder, its Spark log) is removed by the next run, and nothing else is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from jobforge_spark.output import Scratch
from jobforge_spark.stale import owner_pid, remove_stale

KILLED_RUN = """
import sys, time
from pathlib import Path
from jobforge_spark.output import Scratch
folder = Scratch().folder()
folder.mkdir()
(folder / "part-00000.parquet").write_bytes(b"x")
log = Path(sys.argv[1]) / ("jobforge-spark-%d-abc.log" % __import__("os").getpid())
log.write_text("spark says")
print(folder.parent, flush=True)
time.sleep(120)
"""


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_the_next_run_removes_what_a_killed_run_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert run.stdout is not None
    left = Path(run.stdout.readline().strip())
    run.send_signal(signal.SIGKILL)
    run.wait()
    log = tmp_path / f"jobforge-spark-{run.pid}-abc.log"
    assert left.parent == tmp_path and left.is_dir() and log.is_file()
    assert owner_pid(left.name) == run.pid

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        running = tmp_path / f"jobforge-spark-{alive.pid}-live"  # a run still going
        other = tmp_path / f"someone-{run.pid}-else"  # not jobforge's
        old = tmp_path / "jobforge-spark-k3x9a"  # no pid in the name: cannot tell
        for folder in (running, other, old):
            folder.mkdir()
        (tmp_path / f"jobforge-spark-{run.pid}-link").symlink_to(running)

        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        scratch = Scratch()
        mine = scratch.folder().parent  # the next run's scratch: first use tidies
        assert not left.exists() and not log.exists()
        assert running.is_dir() and other.is_dir() and old.is_dir()
        assert (tmp_path / f"jobforge-spark-{run.pid}-link").is_symlink()
        assert mine.is_dir() and owner_pid(mine.name) == os.getpid()
        scratch.remove()
        assert not mine.exists()
    finally:
        alive.kill()
        alive.wait()


def test_remove_stale_returns_what_it_removed(tmp_path: Path) -> None:
    pid = _dead_pid()
    folder = tmp_path / f"jobforge-spark-{pid}-x1"
    (folder / "inner").mkdir(parents=True)
    mine = tmp_path / f"jobforge-spark-{os.getpid()}-x2"
    mine.mkdir()
    assert remove_stale(tmp_path) == [folder]
    assert not folder.exists() and mine.is_dir()
    assert remove_stale(tmp_path) == []
