"""Read-only SQL over every layer, the quarantine and the catalog (DuckDB).

>>> from jobforge.query import QueryEngine
>>> with QueryEngine(config) as engine:                     # doctest: +SKIP
...     engine.query("SELECT count(*) AS n FROM gold.dim_noc")
...     with engine.stream("SELECT * FROM gold.dim_noc") as result:
...         batches = list(result)                          # pyarrow.RecordBatch es
"""

from jobforge.errors import QueryError
from jobforge.query.engine import SCHEMAS, QueryEngine, QueryStream, Relation
from jobforge.query.guard import quote_ident, quote_literal

__all__ = [
    "SCHEMAS",
    "QueryEngine",
    "QueryError",
    "QueryStream",
    "Relation",
    "quote_ident",
    "quote_literal",
]
