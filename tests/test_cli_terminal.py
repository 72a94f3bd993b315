"""Issue 6: on a terminal, `jobforge run` shows a live table and the step in progress."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from .cli_helpers import JOBFORGE, jobforge


def run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env.update({"JOBFORGE_DISABLE_PLUGINS": "example", "COLUMNS": "160", "TERM": "xterm"})
    process = subprocess.Popen(
        [JOBFORGE, *args], cwd=cwd, stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_run_on_a_terminal_shows_live_progress(tmp_path: Path) -> None:
    assert jobforge("init", "p", cwd=tmp_path).code == 0
    code, screen = run_on_a_terminal(["run"], tmp_path / "p")
    assert code == 0, screen
    # the step in progress, announced through the before-transition hook
    assert "occupations: file -> staged ..." in screen
    assert "wage_by_teer: silver -> gold ..." in screen
    # the live table, with box drawing and the final counts
    assert "jobforge run" in screen
    assert "┏" in screen
    assert "│ wage_by_teer │ gold   │ success │ 4" in screen
    # no plain progress lines on a terminal
    assert "occupations silver: partial" not in screen
