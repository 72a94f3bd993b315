"""Business metadata declared for a table (in Python or ``jobforge.toml``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from jobforge.catalog.glossary import check_reference, load_glossary
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import Classification, PiiClassification


class ColumnDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    glossary_term: str | None = None
    pii: PiiClassification | None = None


class TableDeclaration(BaseModel):
    """What a data owner says about a table; applies to every layer of it."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    business_purpose: str = ""
    owner: str = ""
    steward: str | None = None
    classification: Classification = "internal"
    retention_days: NonNegativeInt | None = None
    columns: dict[str, ColumnDeclaration] = Field(default_factory=dict)


def check_declaration(
    config: PipelineConfig, declaration: TableDeclaration | None, table: str
) -> None:
    """Refuse a declaration whose columns reference glossary terms that do not exist.

    The engine calls this before a transition starts, so a bad reference is
    refused before anything is read or written.
    """
    if declaration is None:
        return
    glossary = load_glossary(config)
    for name, column in declaration.columns.items():
        check_reference(
            config, column.glossary_term, f"declaration of {table}, column {name!r}", glossary
        )
