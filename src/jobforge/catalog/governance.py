"""Classification and PII that follow the data, and what the catalog may show.

The rules (docs/catalog.md, "Classification and personal data"):

- a table's classification is at least the highest of its inputs'
  (:data:`~jobforge.pipeline.models.CLASSIFICATIONS`, ``public < internal <
  confidential < restricted``);
- a column's PII class is at least the strongest class of the columns it is
  computed from (:func:`~jobforge.pipeline.models.strongest_pii`), through
  renames, casts, expressions, joins and into gold; a column whose lineage is
  ``unknown`` may be computed from any input column, so it gets the strongest
  class of them all;
- a propagated label records its origin: the tables or columns where it was set
  (declared, or by an enrichment plugin), followed through every layer;
- a declared label lower than what the inputs give is an error
  (:class:`~jobforge.errors.GovernanceError`) unless the table declares a
  ``declassify`` decision, which is recorded with the entry and, for
  ``min_group_size``, checked on the data of every run
  (:mod:`jobforge.engine.group_size`); an enrichment plugin cannot lower a label;
- example values are kept only where anyone who may read the catalog may read
  them (:func:`redaction_reason`): everywhere else the catalog holds none.

Propagation reads the inputs' catalog entries (:func:`input_labels`) or, before
a project runs, what their declarations will give them (the project checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from jobforge import provenance as prov
from jobforge.catalog.declarations import DeclassifyDecision, TableDeclaration
from jobforge.catalog.derivation import StepLineage, split_source, unique
from jobforge.errors import GovernanceError
from jobforge.pipeline.models import (
    ColumnMetadata,
    Declassification,
    TableMetadata,
    classification_rank,
    highest_classification,
    pii_rank,
    strongest_pii,
)

OPEN_CLASSIFICATIONS: frozenset[str] = frozenset({"public", "internal"})
"""Table classifications whose columns' example values the catalog may keep."""

DEFAULT_CLASSIFICATION = "internal"
"""The classification of a table nobody classified and that has no input."""

DECLARED = "declared"
PLUGIN = "set by an enrichment plugin"
DEFAULT = "default"

AGGREGATING_KINDS = frozenset({"aggregate", "unknown"})
"""Column lineage kinds that make a table an aggregate for ``declassify``: a
decision over such a table must give ``min_group_size``."""


# -- what may be shown ----------------------------------------------------------------------
def redaction_reason(classification: str, pii_classification: str | None) -> str | None:
    """Why the example values of a column must not be kept or shown (``None``: they may).

    They may only for a column with no PII class (``none``, or not classified
    yet) in a table classified ``public`` or ``internal``.
    """
    if pii_classification not in (None, "none"):
        return f"column classified {pii_classification}"
    if classification not in OPEN_CLASSIFICATIONS:
        return f"table classified {classification}"
    return None


def redact(entry: TableMetadata) -> TableMetadata:
    """``entry`` without the example values it may not hold."""
    columns = [
        column.model_copy(update={"example_values": []})
        if column.example_values
        and redaction_reason(entry.classification, column.pii_classification)
        else column
        for column in entry.columns
    ]
    return entry.model_copy(update={"columns": columns})


# -- what the inputs give -------------------------------------------------------------------
@dataclass(frozen=True)
class InputLabels:
    """The labels of one input table, as propagation reads them."""

    key: str
    """``<layer>.<table>``."""
    classification: str
    roots: tuple[str, ...]
    """Where its classification was set (the table itself unless it inherited it)."""
    columns: Mapping[str, tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)
    """Column -> its PII class and the columns where that class was set."""


def input_labels(entry: TableMetadata) -> InputLabels:
    """What a catalog entry passes on to the tables built from it."""
    columns = {
        c.name: (
            c.pii_classification,
            tuple(c.pii_sources) or (f"{entry.key}.{c.name}",),
        )
        for c in entry.columns
    }
    roots = tuple(entry.classification_sources) or (entry.key,)
    return InputLabels(entry.key, entry.classification, roots, columns)


@dataclass(frozen=True)
class ColumnLabel:
    """The PII class a column's sources give it."""

    pii: str | None
    roots: tuple[str, ...] = ()
    """The columns, among its sources' roots, that have that class."""
    unknown: bool = False
    """Its lineage is unknown: every input column counted."""


@dataclass(frozen=True)
class Computed:
    """What a step's inputs give its table and each of its columns."""

    lineage: StepLineage
    inputs: tuple[InputLabels, ...]

    @property
    def classification(self) -> str | None:
        """The highest classification of the inputs (``None``: no input)."""
        return highest_classification(i.classification for i in self.inputs)

    @property
    def classification_roots(self) -> tuple[str, ...]:
        top = self.classification
        return unique(r for i in self.inputs if i.classification == top for r in i.roots)

    def column(self, name: str) -> ColumnLabel:
        derivation = self.lineage.of(name)
        unknown = derivation.kind == "unknown"
        if unknown:
            found = [
                (labels.columns[c], f"{labels.key}.{c}")
                for labels in self.inputs
                for c in labels.columns
                if not prov.is_provenance(c)
            ]
        else:
            found = [(self._source(s), s) for s in derivation.sources]
        pii = strongest_pii(label[0] for label, _ in found)
        if pii is None:
            return ColumnLabel(None, (), unknown)
        roots = unique(r for (cls, rs), _ in found if cls == pii for r in rs)
        return ColumnLabel(pii, roots, unknown)

    def _source(self, source: str) -> tuple[str | None, tuple[str, ...]]:
        parts = split_source(source)
        if parts is None:
            return (None, ())
        layer, table, column = parts
        for labels in self.inputs:
            if labels.key == f"{layer}.{table}":
                return labels.columns.get(column, (None, ()))
        return (None, ())


def inherited(roots: Iterable[str], unknown: bool = False) -> str:
    text = f"inherited from {', '.join(roots)}"
    return text + " (lineage unknown: every input column counts)" if unknown else text


# -- declared labels against what the inputs give --------------------------------------------
@dataclass(frozen=True)
class Problem:
    """A label mistake, located relative to the table's declaration."""

    where: str
    """Where in the table's section of ``jobforge.toml``: ``metadata.classification``,
    ``metadata.declassify.min_group_size`` or ``columns.<name>.pii``."""
    message: str


_DECISION = (
    "record the decision with declassify = { to, reason, approved_by } on the table's metadata"
)


def _lower(declared: str, top: str, computed: Computed) -> str:
    return (
        f"declared {declared!r} is lower than {top!r}, which its inputs give "
        f"({inherited(computed.classification_roots)}); keep {top!r}, or {_DECISION}"
    )


def _weaker(declared: str, label: ColumnLabel) -> str:
    return (
        f"declared {declared!r} is weaker than {label.pii!r}, which its sources give "
        f"({inherited(label.roots, label.unknown)}); keep {label.pii!r}, or {_DECISION}"
    )


def label_problems(
    declaration: TableDeclaration | None,
    computed: Computed,
    columns: Iterable[str],
) -> list[Problem]:
    """Declared labels below what the inputs give, without a ``declassify``
    decision, and decisions that cannot be applied as declared. ``columns``: the
    output columns to check (those the step is known to write)."""
    if declaration is None:
        return []
    problems: list[Problem] = []
    decision = declaration.declassify
    declared = declaration.declared_classification
    top = computed.classification
    if (
        declared is not None
        and top is not None
        and decision is None
        and classification_rank(declared) < classification_rank(top)
    ):
        problems.append(Problem("metadata.classification", _lower(declared, top, computed)))
    names = list(columns)
    for name in names:
        column = declaration.columns.get(name)
        if column is None or column.pii is None or decision is not None:
            continue
        label = computed.column(name)
        if label.pii is not None and pii_rank(column.pii) < pii_rank(label.pii):
            problems.append(Problem(f"columns.{name}.pii", _weaker(column.pii, label)))
    if decision is not None and decision.min_group_size is None:
        aggregated = [
            n
            for n in names
            if not prov.is_provenance(n) and computed.lineage.of(n).kind in AGGREGATING_KINDS
        ]
        if aggregated:
            problems.append(
                Problem(
                    "metadata.declassify.min_group_size",
                    f"required: the table aggregates ({', '.join(aggregated[:5])}"
                    f"{', ...' if len(aggregated) > 5 else ''}), and a declassified aggregate must "
                    "say how many source rows each of its rows counts at least",
                )
            )
    return problems


def check_labels(
    key: str,
    declaration: TableDeclaration | None,
    computed: Computed,
    columns: Iterable[str],
) -> None:
    """Raise :class:`GovernanceError` naming every problem :func:`label_problems` finds."""
    problems = label_problems(declaration, computed, columns)
    if problems:
        raise GovernanceError(f"{key}: " + "; ".join(f"{p.where}: {p.message}" for p in problems))


# -- the labels of an entry -------------------------------------------------------------------
@dataclass(frozen=True)
class GroupCheck:
    """The result of a ``min_group_size`` check on the data of a version."""

    smallest: int | None
    tables: tuple[str, ...]


def declassification(
    decision: DeclassifyDecision | None,
    computed: Computed,
    declaration: TableDeclaration | None,
    columns: Iterable[str],
    group: GroupCheck | None,
) -> Declassification | None:
    """The record of a table's ``declassify`` decision as applied to a version."""
    if decision is None:
        return None
    lowered = []
    for name in columns:
        declared = declaration.columns.get(name) if declaration else None
        label = computed.column(name)
        if (
            declared is not None
            and declared.pii is not None
            and label.pii is not None
            and pii_rank(declared.pii) < pii_rank(label.pii)
        ):
            lowered.append(name)
    return Declassification(
        to=decision.to,
        computed=computed.classification or decision.to,  # type: ignore[arg-type]
        reason=decision.reason,
        approved_by=decision.approved_by,
        min_group_size=decision.min_group_size,
        smallest_group=group.smallest if group else None,
        group_tables=list(group.tables) if group else [],
        columns=lowered,
    )


def _declassified(what: str, label: str, decision: Declassification) -> str:
    return (
        f"declassified from {label} ({what}) by the decision approved by "
        f"{decision.approved_by}: {decision.reason}"
    )


def govern(
    metadata: TableMetadata,
    *,
    before: TableMetadata,
    declaration: TableDeclaration | None,
    computed: Computed,
    decision: Declassification | None,
) -> TableMetadata:
    """The entry with the labels the data gives it, their origins, the decision
    applied, and no example value it may not hold.

    ``metadata``: the entry after the enrichment plugins; ``before``: the same
    before them (what the declaration said), to tell a plugin's label from a
    declared one. A declared label lower than what the inputs give without a
    decision raises :class:`GovernanceError`.
    """
    declaration = declaration or TableDeclaration()
    declared = declaration.declared_classification
    top = computed.classification
    value: str = metadata.classification  # a plain label while it is worked out
    sources: tuple[str, ...] = ()
    by_plugin = value != before.classification
    if top is None:
        origin = PLUGIN if by_plugin else DECLARED if declared is not None else DEFAULT
    elif by_plugin or declared is None:
        if by_plugin and classification_rank(value) >= classification_rank(top):
            origin = PLUGIN
        else:  # a plugin may raise a label, never lower it
            value, sources = top, computed.classification_roots
            origin = inherited(sources)
    elif classification_rank(declared) >= classification_rank(top):
        origin = DECLARED
    elif decision is not None:
        origin = _declassified(inherited(computed.classification_roots), top, decision)
    else:
        raise GovernanceError(
            f"{metadata.key}: metadata.classification: {_lower(declared, top, computed)}"
        )
    declared_columns = {c.name: c for c in before.columns}
    columns = [
        _govern_column(
            metadata, c, declared_columns.get(c.name, c), declaration, computed, decision
        )
        for c in metadata.columns
    ]
    governed = metadata.model_copy(
        update={
            "classification": value,
            "classification_origin": origin,
            "classification_sources": list(sources),
            "declassification": decision,
            "columns": columns,
        }
    )
    return redact(TableMetadata.model_validate(governed.model_dump()))


def _govern_column(
    metadata: TableMetadata,
    column: ColumnMetadata,
    before: ColumnMetadata,
    declaration: TableDeclaration,
    computed: Computed,
    decision: Declassification | None,
) -> ColumnMetadata:
    declared = declaration.columns.get(column.name)
    declared_pii = declared.pii if declared else None
    value: str | None = column.pii_classification  # a plain label while it is worked out
    by_plugin = value != before.pii_classification
    label = computed.column(column.name)
    sources: tuple[str, ...] = ()
    if value is None:
        origin = None
    elif by_plugin:
        origin = PLUGIN
    else:
        origin = DECLARED if declared_pii is not None else None
    if label.pii is not None and (value is None or pii_rank(value) < pii_rank(label.pii)):
        if value is not None and not by_plugin and declared_pii is not None:
            if decision is None:
                raise GovernanceError(
                    f"{metadata.key}: columns.{column.name}.pii: {_weaker(declared_pii, label)}"
                )
            origin = _declassified(inherited(label.roots, label.unknown), label.pii, decision)
            sources = ()
        else:
            value, sources = label.pii, label.roots
            origin = inherited(label.roots, label.unknown)
    return column.model_copy(
        update={"pii_classification": value, "pii_origin": origin, "pii_sources": list(sources)}
    )


def labels_after(
    key: str,
    declaration: TableDeclaration | None,
    computed: Computed,
    columns: Sequence[str],
) -> InputLabels:
    """What a step's table will pass on, from its declaration and inputs alone (no
    enrichment plugin): how the project checks follow labels before a run."""
    declaration = declaration or TableDeclaration()
    declared = declaration.declared_classification
    top = computed.classification
    if top is not None and (
        declared is None
        or (classification_rank(declared) < classification_rank(top) and not declaration.declassify)
    ):
        classification, roots = top, computed.classification_roots
    else:
        classification, roots = declared or DEFAULT_CLASSIFICATION, (key,)
    labels: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for name in columns:
        column = declaration.columns.get(name)
        own = column.pii if column else None
        label = computed.column(name)
        if label.pii is not None and (
            own is None or (pii_rank(own) < pii_rank(label.pii) and not declaration.declassify)
        ):
            labels[name] = (label.pii, label.roots)
        else:
            labels[name] = (own, (f"{key}.{name}",))
    return InputLabels(key, classification, roots, labels)
