"""The ``jobforge`` run facet: what a step's lineage record says that
OpenLineage's standard facets do not (the row ledger, the batch ids, the
record's id). Its JSON Schema is ``JobforgeRunFacet.json`` beside this module.
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.generated.base import RunFacet

SCHEMA_ID = "urn:jobforge:openlineage:facets:1-0-0:JobforgeRunFacet"
SCHEMA_URL = f"{SCHEMA_ID}#/$defs/JobforgeRunFacet"


@attr.define
class JobforgeRunFacet(RunFacet):
    """The lineage record of a jobforge step, as a run facet (names in camelCase
    like OpenLineage's; the ledger keeps jobforge's field names)."""

    recordType: str
    recordId: str
    status: str
    batchId: str
    inputBatchIds: list[str]
    ledger: dict[str, int]
    ruleCounts: dict[str, int]
    transformsApplied: list[str]
    targetFile: str
    quarantineFile: str | None
    sourceFile: str | None
    sourceSha256: str | None
    reader: str | None
    seconds: float

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def as_dict(facet: JobforgeRunFacet) -> dict[str, Any]:
    """The facet as it is serialised (for tests and tools)."""
    from openlineage.client.serde import Serde

    return Serde.to_dict(facet)
