"""Business metadata declared for a table (in Python or ``jobforge.toml``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from jobforge.catalog.glossary import check_reference, load_glossary
from jobforge.errors import GovernanceError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import Classification, PiiClassification


class ColumnDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    glossary_term: str | None = None
    pii: PiiClassification | None = None
    sources: list[str] | None = Field(default=None, alias="from")
    """A gold function's column only: the input columns (``"<input table>.<column>"``)
    it is computed from, used when the function's polars plan cannot be read
    (``from = [...]`` in ``jobforge.toml``)."""


class DeclassifyDecision(BaseModel):
    """A recorded decision to give a table a lower label than its inputs give
    (``declassify = {...}`` on a table's metadata). It also allows the table's
    columns to declare a PII class below what their sources give."""

    model_config = ConfigDict(extra="forbid")

    to: Classification
    """The classification the table gets."""
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    min_group_size: PositiveInt | None = None
    """Every row must be built from at least this many distinct source rows
    (checked on the data on every run; required for an aggregate)."""


class TableLabels(BaseModel):
    """What a data owner says about a table as a whole (its metadata, without the
    columns): ``[tables.<name>.metadata]`` in ``jobforge.toml``."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    business_purpose: str = ""
    owner: str = ""
    steward: str | None = None
    classification: Classification | None = None
    """``None``: not declared; the table gets what its inputs give, or ``internal``."""
    declassify: DeclassifyDecision | None = None
    retention_days: NonNegativeInt | None = None

    @model_validator(mode="after")
    def _one_label(self) -> TableLabels:
        decision = self.declassify
        if decision is not None and self.classification not in (None, decision.to):
            raise ValueError(
                f"classification: {self.classification!r} disagrees with declassify.to "
                f"{decision.to!r} (the decision gives the table its classification: "
                "declare one of them)"
            )
        return self

    @property
    def declared_classification(self) -> Classification | None:
        """What the owner declared: the decision's label, else ``classification``."""
        return self.declassify.to if self.declassify is not None else self.classification


class TableDeclaration(TableLabels):
    """What a data owner says about a table; applies to every layer of it."""

    columns: dict[str, ColumnDeclaration] = Field(default_factory=dict)
    control_totals: list[str] = Field(default_factory=list)
    """Numeric columns whose totals every transition records and reconciles
    (:mod:`jobforge.engine.control_totals`)."""

    @classmethod
    def of(
        cls,
        labels: TableLabels,
        columns: dict[str, ColumnDeclaration],
        control_totals: list[str] | None = None,
    ) -> TableDeclaration:
        """The declaration of a table whose labels, columns and audit are declared
        apart (as ``jobforge.toml`` does)."""
        return cls(**dict(labels), columns=columns, control_totals=control_totals or [])


def check_declaration(
    config: PipelineConfig,
    declaration: TableDeclaration | None,
    table: str,
    layer: str = "gold",
) -> None:
    """Refuse a declaration whose columns reference glossary terms that do not exist,
    and a ``declassify`` decision for a ``layer`` other than gold (a source table's
    layers inherit from each other: only a gold table can be declassified).

    The engine calls this before a transition starts, so a bad reference is
    refused before anything is read or written.
    """
    if declaration is None:
        return
    if declaration.declassify is not None and layer != "gold":
        raise GovernanceError(
            f"{layer}.{table}: metadata.declassify: only a gold table can be declassified "
            "(a source table's layers inherit their labels from each other)"
        )
    glossary = load_glossary(config)
    for name, column in declaration.columns.items():
        check_reference(
            config, column.glossary_term, f"declaration of {table}, column {name!r}", glossary
        )
