"""Arrow transforms in Spark: run per partition through ``mapInArrow``, in the
Python workers (which must have jobforge and the transforms' modules
installed; in local mode they are this interpreter's)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pyspark.errors import PythonException
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from jobforge.plugin import ArrowTransforms, ContractError


def per_partition(
    frame: DataFrame, transforms: Sequence[Callable[..., Any]], where: str
) -> DataFrame:
    """``frame`` with each partition's batches passed through the arrow
    ``transforms`` (their output schema worked out on the driver, from a
    zero-row batch). Partitions keep their order, so a sorted frame stays sorted."""
    schema = to_arrow_schema(frame.schema, timezone="UTC")
    apply = ArrowTransforms(where, transforms, schema)
    return frame.mapInArrow(apply, from_arrow_schema(apply.schema, prefer_timestamp_ntz=False))


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """A transform rule broken in a Python worker (a ``ContractError`` there)
    raised here as the same one-line ``ContractError``, not Spark's report."""
    try:
        yield
    except PythonException as exc:
        found = re.search(r"ContractError: (.+)", str(exc))
        if found is None:
            raise
        raise ContractError(found.group(1).strip()) from None
