"""How long the command line takes to start: ``jobforge --version`` and
``jobforge --help``, each run as a whole process (the installed script, as a
user types it), with ``python -c pass`` as the baseline measured in the same run.

    python benchmarks/cli_startup.py [--repeat 15]

Prints one line per command: minimum, median and maximum wall time, and the
median over the baseline's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _times(command: list[str], repeat: int) -> list[float]:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    found = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        found.append(time.perf_counter() - start)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("jobforge", path=str(Path(sys.executable).parent)) or "jobforge"
    baseline = statistics.median(_times([sys.executable, "-c", "pass"], args.repeat))
    print(f"python -c pass: median {baseline:.3f} s")
    for option in ("--version", "--help"):
        found = _times([script, option], args.repeat)
        median = statistics.median(found)
        print(
            f"jobforge {option}: min {min(found):.3f} s, median {median:.3f} s, "
            f"max {max(found):.3f} s, median/baseline {median / baseline:.1f}x"
        )


if __name__ == "__main__":
    main()
