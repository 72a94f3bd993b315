"""Which example values a reader of the catalog may see.

One rule, in one function, so that it can move into the catalog itself (which
should then stop keeping such values at all): example values are shown only
for a column with no PII class (``none``, or not classified yet) in a table
classified ``public`` or ``internal``.
"""

from __future__ import annotations

OPEN_CLASSIFICATIONS: frozenset[str] = frozenset({"public", "internal"})
"""Table classifications whose columns' example values may be shown."""


def redaction_reason(classification: str, pii_classification: str | None) -> str | None:
    """Why the example values of a column must not be shown, or ``None`` if they may be.

    ``classification`` is the table's (public, internal, confidential,
    restricted); ``pii_classification`` the column's (``None`` when not
    classified yet).
    """
    if pii_classification not in (None, "none"):
        return f"column classified {pii_classification}"
    if classification not in OPEN_CLASSIFICATIONS:
        return f"table classified {classification}"
    return None
