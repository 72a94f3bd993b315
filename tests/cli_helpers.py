"""Running the real ``jobforge`` command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

JOBFORGE = shutil.which("jobforge", path=str(Path(sys.executable).parent)) or "jobforge"


@dataclass
class Result:
    code: int
    out: str
    err: str


def jobforge(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run ``jobforge ARGS`` in ``cwd`` (output is not a terminal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    full_env["JOBFORGE_DISABLE_PLUGINS"] = "example"
    full_env.update(env or {})
    done = subprocess.run(
        [JOBFORGE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)
