"""The executor conformance suite (jobforge.testing.executor) run against both
bundled executors."""

from __future__ import annotations

import pytest

from jobforge.testing.executor import *  # noqa: F403  (the suite's tests)


@pytest.fixture(params=["polars", "duckdb"])
def jobforge_executor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)
