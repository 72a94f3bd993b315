"""The row ledger: the one place its parts are computed from a step's outcome.

The control totals of a table's control columns reconcile the same way, on
the values: :mod:`jobforge.engine.control_totals`, beside this module."""

from __future__ import annotations

from jobforge.engine.executor import StepOutcome
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import RowLedger


def ledger_for(outcome: StepOutcome, target: Layer) -> RowLedger:
    """The ledger of a step.

    For staged, bronze and silver every part is measured (from file footers)
    and the ledger must balance. A gold table is a new model of its inputs
    (joins, aggregates): its rows are not the input rows, so its ledger records
    ``rows_in`` (all input rows) and ``rows_out`` and puts the difference in
    ``rows_filtered`` (rows aggregated or filtered away) or ``rows_generated``
    (rows a join fanned out).
    """
    if target is Layer.GOLD:
        difference = outcome.rows_in - outcome.rows_out
        return RowLedger(
            rows_in=outcome.rows_in,
            rows_out=outcome.rows_out,
            rows_filtered=max(difference, 0),
            rows_generated=max(-difference, 0),
        )
    return RowLedger(
        rows_in=outcome.rows_in,
        rows_out=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        rows_deduplicated=outcome.rows_deduplicated,
        rows_filtered=outcome.rows_filtered,
        rows_warned=outcome.rows_warned,
    )
