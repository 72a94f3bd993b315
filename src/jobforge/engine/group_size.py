"""The ``min_group_size`` of a ``declassify`` decision, checked on the data.

A declassified aggregate may be read by more people than its inputs, so each of
its rows must stand for enough people. For each row of the version written, and
each *group table* its ``_lineage`` names, the number of distinct rows of that
table it was built from is counted; the smallest such count over the version is
the smallest group. Below ``min_group_size`` the step fails and nothing is
published.

The group tables are the silver tables behind the gold table (through gold
inputs) whose data the decision lowers: those classified above the decision's
``to``, and those holding the columns whose PII class a declared column lowers.
When no table is such, every silver table behind it counts.

Only counts and table names are reported, never a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jobforge import provenance as prov
from jobforge.catalog.derivation import split_source
from jobforge.catalog.entries import load_entry
from jobforge.catalog.governance import Computed, GroupCheck
from jobforge.errors import ContractError
from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import classification_rank
from jobforge.storage import literal


class GroupSizeError(ContractError):
    """A declassified table has a row built from fewer source rows than allowed."""

    def __init__(self, message: str, check: GroupCheck) -> None:
        super().__init__(message)
        self.check = check


def silver_ancestors(config: PipelineConfig, upstream: Sequence[str]) -> list[str]:
    """The silver tables a gold build reads, directly or through gold inputs."""
    found: list[str] = []
    seen: set[str] = set()
    todo = list(upstream)
    while todo:
        key = todo.pop(0)
        if key in seen:
            continue
        seen.add(key)
        layer, _, table = key.partition(".")
        if layer == "silver":
            found.append(table)
        elif layer == "gold":
            entry = load_entry(config, layer, table)
            if entry is not None:
                todo += entry.upstream_tables
    return found


def group_tables(
    config: PipelineConfig,
    upstream: Sequence[str],
    to: str,
    computed: Computed,
    lowered: Sequence[str],
) -> tuple[str, ...]:
    """The tables whose rows each row's group counts (see the module docstring)."""
    ancestors = silver_ancestors(config, upstream)
    chosen = []
    roots = {
        parts[1]
        for name in lowered
        for root in computed.column(name).roots
        if (parts := split_source(root)) is not None
    }
    for table in ancestors:
        entry = load_entry(config, "silver", table)
        above = entry is not None and classification_rank(entry.classification) > (
            classification_rank(to)
        )
        if above or table in roots:
            chosen.append(table)
    return tuple(chosen or ancestors)


def smallest_group(path: Path | list[Path], tables: Sequence[str]) -> tuple[int, str] | None:
    """The fewest distinct rows of one of ``tables`` a row of ``path`` (a file,
    or the parts of one output) is built from, and that table (``None``: no row
    names any of them)."""
    import polars as pl

    entries = (
        literal.scan_parquet(path)
        .select(prov.LINEAGE)
        .with_row_index("__jf_row")
        .explode(prov.LINEAGE)
        .drop_nulls(prov.LINEAGE)
        .unique()
        .with_columns(pl.col(prov.LINEAGE).str.extract(r"^([^:]*):", 1).alias("__jf_table"))
        .filter(pl.col("__jf_table").is_in(list(tables)))
        .group_by("__jf_row", "__jf_table")
        .len()
        .sort("len", "__jf_table")
        .head(1)
        .collect(engine="streaming")
    )
    if entries.is_empty():
        return None
    return int(entries["len"][0]), str(entries["__jf_table"][0])


def check_group_size(
    table: str, path: Path | list[Path], tables: Sequence[str], min_group_size: int
) -> GroupCheck:
    """The smallest group of the version written to ``path``; a
    :class:`GroupSizeError` if it is below ``min_group_size``."""
    found = smallest_group(path, tables)
    check = GroupCheck(found[0] if found else None, tuple(tables))
    if found is not None and found[0] < min_group_size:
        size, where = found
        raise GroupSizeError(
            f"gold {table}: declassify requires min_group_size = {min_group_size}, but a row "
            f"is built from only {size} distinct row{'s' if size != 1 else ''} of silver."
            f"{where}; nothing was published (keep only groups of at least {min_group_size}, "
            "e.g. HAVING count(*) >= "
            f"{min_group_size}, or change the decision)",
            check,
        )
    return check
