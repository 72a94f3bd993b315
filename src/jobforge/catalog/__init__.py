"""The DAMA-DMBOK catalog: table and column metadata, glossary and lineage."""
