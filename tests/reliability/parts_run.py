"""One pipeline process whose bronze, silver and gold outputs are each two part
files (the polars executor cutting them, tests/test_version_parts.py), on the
Delta store, through the kill points of ``kill_at_rename.py`` (every
``os.replace`` and every Delta commit; same environment variables). Run as a
script with the repository root on ``PYTHONPATH``::

    parts_run.py DATA_ROOT SOURCE_CSV
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from tests.reliability import kill_at_rename as kill
    from tests.test_version_parts import Gives

    os.replace = kill._replace
    kill._patch_delta()
    atexit.register(kill._write_count)

    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.steps import GoldSpec, Rule, SilverSpec
    from jobforge.pipeline.config import PipelineConfig

    data, source = Path(argv[0]), Path(argv[1])
    config = PipelineConfig(
        data, entry_points=False, plugins=[Gives()], executor="in-parts", storage_format="delta"
    )
    engine = PipelineEngine(config)
    engine.ingest(source, "t")
    engine.promote_to_bronze("t")
    rule = Rule(id="a_not_9", expression="a <> '9'", message="a must not be 9")
    engine.promote_to_silver("t", SilverSpec(dedupe="row", rules=[rule]))
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, b, _lineage FROM t"))
    return 0


if __name__ == "__main__":
    del sys.path[0]  # this folder: jobforge must not see it
    sys.exit(main(sys.argv[1:]))
