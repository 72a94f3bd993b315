"""The bundled plugins, in registration order, as the listing tests expect them
(one list for every test that names them; ``jobforge.hooks.manager.BUNDLED_PLUGINS``
is the code's own, and tests/test_plugins_manager.py checks the two agree)."""

BUNDLED = [
    "dama",
    "readers",
    "polars",
    "catalog-json",
    "parquet-store",
    "delta-store",
    "openlineage",
    "duckdb",
    "spark",
]
