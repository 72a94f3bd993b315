"""The executor conformance suite of ``jobforge.testing.executor`` against the
spark executor in local[2] (Spark, so marked slow; CI runs it)."""

from __future__ import annotations

import pytest

from jobforge.testing.executor import *  # noqa: F403  (the suite's tests)

pytestmark = pytest.mark.slow


@pytest.fixture
def jobforge_executor_name() -> str:
    return "spark"
