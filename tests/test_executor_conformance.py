"""The executor conformance suite (jobforge.testing.executor) run against both
bundled executors. The polars executor de-duplicates by row hash, so its hashes
are forced to collide (jobforge_polars.dedupe.colliding_hashes); DuckDB compares
full values and has no hash to force."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from jobforge_polars.dedupe import colliding_hashes

from jobforge.testing.executor import *  # noqa: F403  (the suite's tests)


@pytest.fixture(params=["polars", "duckdb"])
def jobforge_executor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def jobforge_hash_collisions(
    jobforge_executor_name: str,
) -> Callable[[int], contextlib.AbstractContextManager[object]]:
    if jobforge_executor_name == "polars":
        return colliding_hashes
    return lambda per_pass: contextlib.nullcontext()
