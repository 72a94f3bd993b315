"""Read-only SQL over every layer, the quarantine and the catalog (DuckDB).

>>> from jobforge.query import QueryEngine
>>> with QueryEngine(config) as engine:                     # doctest: +SKIP
...     engine.query("SELECT count(*) AS n FROM gold.dim_noc")
...     with engine.stream("SELECT * FROM gold.dim_noc") as result:
...         batches = list(result)                          # pyarrow.RecordBatch es

The names are imported when first used: the command line reads the defaults of
:mod:`jobforge.query.limits` without loading DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "SCHEMAS": "jobforge.query.engine",
    "QueryEngine": "jobforge.query.engine",
    "QueryStream": "jobforge.query.engine",
    "Relation": "jobforge.query.engine",
    "QueryError": "jobforge.errors",
    "quote_ident": "jobforge.query.guard",
    "quote_literal": "jobforge.query.guard",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'jobforge.query' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from jobforge.errors import QueryError
    from jobforge.query.engine import SCHEMAS, QueryEngine, QueryStream, Relation
    from jobforge.query.guard import quote_ident, quote_literal
