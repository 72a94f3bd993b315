"""The business glossary: terms kept by the catalog store (the JSON store:
``catalog/glossary/<id>.json``).

A column may reference a term only if the term exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.names import validate_name


class GlossaryTerm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    owner: str = ""
    related_terms: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_name(value, "glossary term id")


def save_term(config: PipelineConfig, term: GlossaryTerm) -> Path:
    """Add or replace a term; its related terms must exist (or be itself): the
    catalog store checks them (:func:`check_related`) with no other writer in
    between. Returns where the store keeps the term."""
    config.catalog.save_term(term)
    return Path(config.catalog.location("term", name=term.id))


def check_related(term: GlossaryTerm, known: Mapping[str, GlossaryTerm]) -> None:
    """Raise :class:`CatalogError` unless every related term of ``term`` is in
    ``known`` (or is ``term`` itself): what a catalog store checks before it
    saves a term."""
    missing = [t for t in term.related_terms if t not in known and t != term.id]
    if missing:
        raise CatalogError(
            f"glossary term {term.id!r}: related term(s) {', '.join(missing)} do not exist"
        )


def load_glossary(config: PipelineConfig) -> dict[str, GlossaryTerm]:
    """Every term by id (validated by the catalog store)."""
    return config.catalog.glossary()


def check_reference(
    config: PipelineConfig,
    term_id: str | None,
    where: str,
    glossary: Mapping[str, GlossaryTerm] | None = None,
) -> None:
    """Raise :class:`CatalogError` unless ``term_id`` is ``None`` or an existing term.

    ``glossary``: the terms already loaded (to check many references at once).
    """
    if term_id is None:
        return
    known = load_glossary(config) if glossary is None else glossary
    if term_id not in known:
        raise CatalogError(
            f"{where}: glossary term {term_id!r} does not exist in "
            f"{config.catalog.location('glossary')}"
        )
