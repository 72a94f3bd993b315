"""What a command cost: its exit code, its peak resident memory and its CPU seconds,
counted for that command alone.

Why a launcher: Linux keeps, in a process's peak resident size (``ru_maxrss``), the
peak of the memory it had *before* ``exec``. A child that Python starts (``vfork``, then
``exec``) therefore reports at least the peak of the process that started it: a pytest
session that has run hundreds of tests, or a benchmark holding a generated table, makes
a command of 250 MiB look like one of 900 MiB. So the command is started by a small
Python launcher, itself started fresh, which waits for it and writes the command's
usage (``wait4``) to a file. Only the launcher's own memory (about 10 MiB) can count in.

The command inherits the standard streams given to :class:`MeasuredProcess`, so its
output can be read while it runs, as with :class:`subprocess.Popen`::

    with MeasuredProcess(["jobforge", "query", "SELECT 1"], stdout=subprocess.PIPE) as run:
        out = run.stdout.read()
    usage = run.usage  # Usage(returncode=0, peak_mib=..., cpu_s=...)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["MeasuredProcess", "Usage", "run_measured"]

_LAUNCHER = """\
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as report:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss,
               usage.ru_utime + usage.ru_stime], report)
"""


@dataclass(frozen=True)
class Usage:
    """What one finished command cost."""

    returncode: int
    peak_mib: float
    """Peak resident memory of the command (and of any child it waited for), MiB."""
    cpu_s: float
    """User plus system CPU seconds of the command, all its threads."""


class MeasuredProcess:
    """Start ``command`` through a fresh launcher; :attr:`usage` once it has finished.

    Keyword arguments go to :class:`subprocess.Popen` (``stdout``, ``stderr``, ``cwd``,
    ``env``, ...); ``stdout`` and ``stderr`` are then the command's own streams.
    """

    def __init__(self, command: Sequence[str | os.PathLike[str]], **popen: Any) -> None:
        handle, name = tempfile.mkstemp(prefix="jobforge-usage-", suffix=".json")
        os.close(handle)
        self._report = Path(name)
        self._usage: Usage | None = None
        self._popen = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, name, *(os.fspath(part) for part in command)], **popen
        )

    @property
    def stdout(self) -> IO[Any] | None:
        return self._popen.stdout

    @property
    def stderr(self) -> IO[Any] | None:
        return self._popen.stderr

    def wait(self) -> Usage:
        """Wait for the command; its usage. Raises ``RuntimeError`` if the launcher
        itself failed (it then wrote no report)."""
        if self._usage is None:
            launcher = self._popen.wait()
            try:
                text = self._report.read_text()
            finally:
                self._report.unlink(missing_ok=True)
            if launcher != 0 or not text:
                raise RuntimeError(f"the measuring launcher failed (exit {launcher})")
            code, peak_kib, cpu = json.loads(text)
            self._usage = Usage(int(code), peak_kib / 1024, float(cpu))  # KiB on Linux
        return self._usage

    @property
    def usage(self) -> Usage:
        return self.wait()

    def __enter__(self) -> MeasuredProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                stream.close()
        self.wait()


def run_measured(command: Sequence[str | os.PathLike[str]], **popen: Any) -> Usage:
    """Run ``command`` to its end through a fresh launcher; what it cost."""
    return MeasuredProcess(command, **popen).wait()
