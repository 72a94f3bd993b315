"""The business glossary: terms in ``catalog/glossary/<id>.json``.

A column may reference a term only if the term exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from jobforge.catalog.jsonfile import read_json_model, visible_json_files
from jobforge.catalog.shared import writing
from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.atomic import atomic_write_text
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


def term_path(config: PipelineConfig, term_id: str) -> Path:
    return config.catalog_glossary_path() / f"{validate_name(term_id, 'glossary term id')}.json"


def save_term(config: PipelineConfig, term: GlossaryTerm) -> Path:
    """Add or replace a term; its related terms must exist (or be itself).

    Under the glossary folder's lock: the check and the write see the same terms.
    """
    path = term_path(config, term.id)
    with writing(config, "glossary"):
        known = load_glossary(config)
        missing = [t for t in term.related_terms if t not in known and t != term.id]
        if missing:
            raise CatalogError(
                f"glossary term {term.id!r}: related term(s) {', '.join(missing)} do not exist"
            )
        atomic_write_text(path, term.model_dump_json(indent=2) + "\n")
    return path


_TERM = TypeAdapter(GlossaryTerm)


def load_glossary(config: PipelineConfig) -> dict[str, GlossaryTerm]:
    """Every term by id; a file that does not validate, or whose id differs from
    its file name, is an error naming it."""
    terms: dict[str, GlossaryTerm] = {}
    for path in visible_json_files(config.catalog_glossary_path()):
        term = read_json_model(path, _TERM, "glossary term")
        if term.id != path.stem:
            raise CatalogError(f"{path}: holds term {term.id!r}, expected {path.stem!r}")
        terms[term.id] = term
    return terms


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
            f"{where}: glossary term {term_id!r} does not exist in {config.catalog_glossary_path()}"
        )
