"""Kept for imports written before the provenance names moved to :mod:`jobforge.provenance`
(a neutral module, so that sources, the catalog, SQL and the query views can use
them without importing the engine)."""

from jobforge.provenance import ALL_COLUMNS as ALL_COLUMNS
from jobforge.provenance import BATCH_ID as BATCH_ID
from jobforge.provenance import INGESTED_AT as INGESTED_AT
from jobforge.provenance import LAYER as LAYER
from jobforge.provenance import LAYER_COLUMNS as LAYER_COLUMNS
from jobforge.provenance import LINEAGE as LINEAGE
from jobforge.provenance import PROCESSED_AT as PROCESSED_AT
from jobforge.provenance import PROVENANCE_DESCRIPTIONS as PROVENANCE_DESCRIPTIONS
from jobforge.provenance import SOURCE_FILE as SOURCE_FILE
from jobforge.provenance import SOURCE_ROW as SOURCE_ROW
from jobforge.provenance import STAGED_COLUMNS as STAGED_COLUMNS
from jobforge.provenance import data_columns as data_columns
from jobforge.provenance import is_provenance as is_provenance
from jobforge.provenance import lineage_key as lineage_key
from jobforge.provenance import parse_lineage_key as parse_lineage_key
