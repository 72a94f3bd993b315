"""The rules every silver Python transform obeys, whichever executor runs it, and
the running of ``"arrow"`` transforms (one place, so that every executor applies
them alike).

A transform may change values, add columns and drop rows (the rows it drops
are counted as ``rows_filtered`` in the ledger); it may not drop a provenance
column nor add rows (new rows belong in gold).

An ``"arrow"`` transform is a function ``pyarrow.RecordBatch -> pyarrow.RecordBatch``
(``@transform(kind="arrow")``), called once per batch, in file order, with no
batch seen twice and no state shared between calls: an executor may call it in
several processes (Spark runs it per partition through ``mapInArrow``). It is
first called once with a zero-row batch of the input's schema: what it returns
fixes the output schema (so an empty input still gets its columns), and every
later batch it returns must have that schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from jobforge.engine.executor import transform_kind
from jobforge.engine.steps import transform_name
from jobforge.errors import ContractError
from jobforge.provenance import LAYER_COLUMNS

if TYPE_CHECKING:  # pyarrow is imported when a transform runs (a no-change run needs none)
    import pyarrow as pa

__all__ = [
    "ARROW",
    "ArrowTransforms",
    "filtered_rows",
    "require_provenance",
    "split_transforms",
]

ARROW = "arrow"
"""The executor-neutral kind: ``pyarrow.RecordBatch -> pyarrow.RecordBatch``."""


def require_provenance(where: str, names: Iterable[str]) -> None:
    """Refuse a transform result that lost a provenance column."""
    present = set(names)
    lost = [c for c in LAYER_COLUMNS if c not in present]
    if lost:
        raise ContractError(f"{where}: transforms dropped provenance column(s) {', '.join(lost)}")


def filtered_rows(where: str, unique_rows: int, rows_out: int, transforms: bool) -> int:
    """Rows the transforms dropped (``rows_filtered`` of the ledger): the rows
    that reached them less the rows written; refused when they added rows."""
    filtered = unique_rows - rows_out if transforms else 0
    if filtered < 0:
        raise ContractError(
            f"{where}: transforms turned {unique_rows} rows into {rows_out}; a silver "
            "transform may drop or change rows but not add them (build new rows in gold)"
        )
    return filtered


def split_transforms(where: str, transforms: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(engine transforms, arrow transforms)`` of a step, in their order.

    The arrow transforms run last, on the batches the engine's own transforms
    produce, so an engine transform after an arrow one is refused."""
    native: list[Any] = []
    arrow: list[Any] = []
    for fn in transforms:
        if transform_kind(fn) == ARROW:
            arrow.append(fn)
        elif arrow:
            raise ContractError(
                f"{where}: transform {transform_name(fn)} ({transform_kind(fn)}) follows the "
                f"arrow transform {transform_name(arrow[-1])}; arrow transforms run last, "
                "so list them after the others"
            )
        else:
            native.append(fn)
    return native, arrow


class ArrowTransforms:
    """Arrow transforms applied, in order, to each batch of a stream.

    Picklable (Spark sends it to its Python workers): it holds the functions
    and the output schema only.
    """

    def __init__(self, where: str, transforms: Sequence[Callable[..., Any]], schema: pa.Schema):
        self.where = where
        self.transforms = list(transforms)
        self.input_schema = schema
        import pyarrow as pa

        self.schema = self._run(pa.RecordBatch.from_pylist([], schema=schema)).schema
        require_provenance(where, self.schema.names)

    @property
    def names(self) -> list[str]:
        return [transform_name(t) for t in self.transforms]

    def _run(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow as pa

        for fn in self.transforms:
            rows = batch.num_rows
            result = fn(batch)
            if not isinstance(result, pa.RecordBatch):
                raise ContractError(
                    f"{self.where}: transform {transform_name(fn)} returned "
                    f"{type(result).__name__}, expected a pyarrow RecordBatch"
                )
            if result.num_rows > rows:
                raise ContractError(
                    f"{self.where}: transform {transform_name(fn)} turned a batch of {rows} "
                    f"rows into {result.num_rows}; a silver transform may drop or change rows "
                    "but not add them (build new rows in gold)"
                )
            batch = result
        return batch

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One input batch, transformed."""
        if not batch.schema.equals(self.input_schema, check_metadata=False):
            batch = batch.cast(self.input_schema)
        result = self._run(batch)
        if not result.schema.equals(self.schema, check_metadata=False):
            raise ContractError(
                f"{self.where}: the arrow transforms returned a batch of schema "
                f"{_fields(result.schema)}, expected {_fields(self.schema)} (what they return "
                "for an empty batch)"
            )
        return result

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Every batch of ``batches``, transformed (the ``mapInArrow`` function)."""
        for batch in batches:
            yield self.batch(batch)


def _fields(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{f.name}: {f.type}" for f in schema) + ")"
