"""The ``example`` jobforge plugin.

- **Layout**: when ``$JOBFORGE_EXAMPLE_LAYOUT_ROOT`` is set, every layer lives
  in ``<that root>/<layer>`` instead of ``<data_root>/<layer>``. Unset, the
  hook returns ``None`` and the next layout plugin (the bundled DAMA layout)
  answers. A real layout plugin needs configuration too (a bucket, a share).
- **Enrichment**: columns whose names look like personal identifiers
  (e-mail, first/last/full name, SIN, phone) are classified
  ``direct_identifier`` and described, unless a declaration already did; a
  table without a data steward gets ``example-steward@jobforge.example``.
- **Faults** for jobforge's own tests, chosen by ``$JOBFORGE_EXAMPLE_FAULT``:
  ``import`` (this module fails to import), ``hook`` (the table enrichment
  raises), ``enrich`` (the table enrichment returns an invalid
  classification), ``misspelled`` (this module also defines a hook
  implementation with a misspelled name), ``source_reader`` (this module also
  implements ``jobforge_source_reader``, which raises for every file).

Each implementation accepts only the arguments it uses: pluggy passes
arguments by name, so ``def jobforge_resolve_layer_path(layer)`` is a valid
implementation of ``jobforge_resolve_layer_path(config, layer)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobforge import hookimpl
from jobforge.plugin import ColumnMetadata, Layer, SourceReader, SourceSpec, TableMetadata

LAYOUT_ROOT_ENV = "JOBFORGE_EXAMPLE_LAYOUT_ROOT"
FAULT_ENV = "JOBFORGE_EXAMPLE_FAULT"
STEWARD = "example-steward@jobforge.example"

# Normalised column name (lower case, runs of other characters as "_") ->
# what the column holds. Matched against the whole name.
_IDENTIFIERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:.+_)?e_?mail(?:_address)?"), "e-mail address"),
    (re.compile(r"(?:first|last|full)_name"), "name of a person"),
    (re.compile(r"sin|social_insurance_number"), "social insurance number"),
    (re.compile(r"(?:.+_)?phone(?:_number)?"), "telephone number"),
)


def _fault() -> str:
    return os.environ.get(FAULT_ENV, "").strip().lower()


if _fault() == "import":
    raise ImportError(f"jobforge_example.plugin refuses to import ({FAULT_ENV}=import)")


def identifier_kind(column_name: str) -> str | None:
    """What a personal-identifier column holds, or ``None`` if the name does not look like one."""
    normalised = re.sub(r"[^a-z0-9]+", "_", column_name.lower()).strip("_")
    for pattern, kind in _IDENTIFIERS:
        if pattern.fullmatch(normalised):
            return kind
    return None


@hookimpl
def jobforge_resolve_layer_path(layer: Layer) -> Path | None:
    root = os.environ.get(LAYOUT_ROOT_ENV)
    if not root:
        return None
    return Path(root) / Layer(layer).value


@hookimpl
def jobforge_enrich_column_metadata(column: ColumnMetadata) -> Mapping[str, Any] | None:
    kind = identifier_kind(column.name)
    if kind is None:
        return None
    updates: dict[str, Any] = {}
    if column.pii_classification is None:
        updates["pii_classification"] = "direct_identifier"
    if not column.description:
        updates["description"] = f"Direct personal identifier: {kind} (jobforge-example)."
    return updates or None


@hookimpl
def jobforge_enrich_table_metadata(metadata: TableMetadata) -> Mapping[str, Any] | None:
    fault = _fault()
    if fault == "hook":
        raise RuntimeError(f"injected fault in table enrichment ({FAULT_ENV}=hook)")
    if fault == "enrich":
        return {"classification": "top-secret"}
    if metadata.data_steward:
        return None
    return {"data_steward": STEWARD}


if _fault() == "misspelled":

    @hookimpl
    def jobforge_resolve_layer_pth(layer: Layer) -> Path | None:  # the typo is the point
        return None


if _fault() == "source_reader":

    @hookimpl
    def jobforge_source_reader(source: SourceSpec) -> SourceReader | None:
        raise RuntimeError(
            f"injected fault in source_reader of {source.path.name} ({FAULT_ENV}=source_reader)"
        )
