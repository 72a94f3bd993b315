"""The executor conformance suite (jobforge.testing.executor) run against both
bundled executors. Both de-duplicate by row hash, so their hashes are forced to
collide in the collision case (``colliding_hashes`` of jobforge_polars.dedupe and
jobforge_duckdb.dedupe).

The polars executor runs the suite twice: as it is (the suite's inputs are small,
so its silver step reads them into memory once, ``jobforge_polars.streaming.read``)
and with every input scanned by each plan, as a large one is (``polars-scanned``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import jobforge_polars.streaming
import pytest
from jobforge_duckdb.dedupe import colliding_hashes as duckdb_colliding_hashes
from jobforge_polars.dedupe import colliding_hashes as polars_colliding_hashes

from jobforge.testing.executor import *  # noqa: F403  (the suite's tests)


@pytest.fixture(params=["polars", "polars-scanned", "duckdb"])
def jobforge_executor_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "polars-scanned":
        monkeypatch.setattr(jobforge_polars.streaming, "_SMALL_ROWS", -1)
        return "polars"
    return str(request.param)


@pytest.fixture
def jobforge_hash_collisions(
    jobforge_executor_name: str,
) -> Callable[[int], contextlib.AbstractContextManager[object]]:
    forcing = {"polars": polars_colliding_hashes, "duckdb": duckdb_colliding_hashes}
    return forcing[jobforge_executor_name]
