"""``jobforge.testing.usage`` counts a command's own memory, not its parent's.

Linux keeps a process's pre-``exec`` peak in its ``ru_maxrss``: measured straight from
``wait4``, a small command started by a large process (this test session holds 600 MiB
on purpose) reports at least 600 MiB. The measurement behind the memory tests and the
benchmarks must not.
"""

from __future__ import annotations

import os
import subprocess
import sys

from jobforge.testing.usage import MeasuredProcess, run_measured

SMALL = [sys.executable, "-c", "print('hello')"]
# About 300 MiB of pages actually touched (bytes(n) is zero-filled, so resident).
LARGE = [sys.executable, "-c", "b = bytearray(300 * 2**20); print(len(b))"]


def test_a_small_command_from_a_large_process_is_measured_small() -> None:
    ballast = bytearray(600 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    # What wait4 alone says (the trap the launcher exists for): at least the ballast.
    process = subprocess.Popen(SMALL, stdout=subprocess.DEVNULL)
    _, _, plain = os.wait4(process.pid, 0)
    assert plain.ru_maxrss / 1024 > 600
    usage = run_measured(SMALL, stdout=subprocess.DEVNULL)
    assert usage.returncode == 0
    assert usage.peak_mib < 100, usage
    del ballast


def test_a_large_command_is_measured_large_and_its_output_passes_through() -> None:
    with MeasuredProcess(LARGE, stdout=subprocess.PIPE) as run:
        assert run.stdout is not None
        out = run.stdout.read()
    assert out == b"314572800\n"
    assert 300 < run.usage.peak_mib < 400, run.usage
    assert run.usage.cpu_s > 0


def test_the_exit_code_is_the_commands() -> None:
    usage = run_measured([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert usage.returncode == 3
