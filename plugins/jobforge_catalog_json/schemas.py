"""The JSON Schemas of the catalog files, kept in ``catalog/schemas/``.

Anyone can validate the catalog with a standard JSON Schema validator, without
jobforge: table entries against ``TableMetadata.schema.json``, lineage records
against ``IngestionRecord``/``TransitionRecord`` (chosen by ``record_type``),
glossary terms against ``GlossaryTerm`` and schema histories against
``SchemaHistory``. The JSON catalog store writes them when the engine prepares
it (:func:`ensure_schemas`); a file is rewritten only when its content changed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from jobforge.plugin import (
    DEFAULT_TIMEOUT_S,
    GlossaryTerm,
    PipelineConfig,
    SchemaVersion,
    atomic_write_text,
    json_schemas,
)
from jobforge_catalog_json.shared import writing

SCHEMA_SUFFIX = ".schema.json"


def catalog_schemas() -> dict[str, dict[str, Any]]:
    """Every catalog file's JSON Schema, by name (``TableMetadata``, ``GlossaryTerm``...)."""
    schemas = json_schemas()
    schemas["GlossaryTerm"] = GlossaryTerm.model_json_schema(mode="serialization")
    history = TypeAdapter(list[SchemaVersion]).json_schema(mode="serialization")
    history["title"] = "SchemaHistory"
    schemas["SchemaHistory"] = history
    return schemas


def schema_path(config: PipelineConfig, name: str) -> Path:
    """``catalog/schemas/<name>.schema.json``."""
    return config.catalog_schemas_path() / f"{name}{SCHEMA_SUFFIX}"


def ensure_schemas(
    config: PipelineConfig,
    timeout: float = DEFAULT_TIMEOUT_S,
    write: Callable[[Path, str], object] = atomic_write_text,
) -> list[Path]:
    """Write every schema that is missing or out of date (with ``write``:
    the store's, for a catalog in a bucket); return the paths written.

    Up-to-date files are the rule, and checking them needs no lock; the
    schemas folder's lock is taken (waiting up to ``timeout`` seconds) only to
    write.
    """
    wanted = {schema_path(config, name): text for name, text in _schema_texts().items()}
    if not _stale(wanted):
        return []
    with writing(config, "schemas", timeout):
        stale = _stale(wanted)  # again: another process may have written them meanwhile
        for path in stale:
            write(path, wanted[path])
    return stale


@functools.cache
def _schema_texts() -> dict[str, str]:
    """Each schema file's text, by name: made once a process (pydantic builds a
    model's schema anew on every call, about 15 ms for all of them, and a
    process that runs a project many times prepares the store every run)."""
    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in catalog_schemas().items()
    }


def _stale(wanted: dict[Path, str]) -> list[Path]:
    stale = []
    for path, text in wanted.items():
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except FileNotFoundError:
            pass
        stale.append(path)
    return stale
