"""Evidence packs (``jobforge evidence``): selected gold rows with the source
records, lineage records and declarations they come from, and a DuckDB-only
``reproduce.py`` (issue 17). A package of its own: it reads the query engine,
the catalog, the project and the engine's fingerprints, which the audit code
they use must not depend on."""
