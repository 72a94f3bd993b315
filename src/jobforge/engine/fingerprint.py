"""What a step was made from, so that a step whose makings have not changed is
not run again.

A step's fingerprint is a mapping of named parts, each a short digest of one
thing the step's output depends on: the input (the record that published the
batch it reads, or the source file's bytes), each part of its declaration
(renames, casts, each rule, the SQL...), the table's declared metadata, and
the reader or executor plugin and its version. It is kept with the batch in
the table's version pointer and in the lineage record. A step is up to date
when the fingerprint it would have equals the one its current version was
published with; when not, :func:`reasons` says which parts changed, in words
(``rule 'x' changed``, ``upstream silver.y changed``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec

_DIGEST_CHARS = 16


def short_digest(value: Any) -> str:
    """A short, stable digest of a JSON-serialisable value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]


Fingerprint = dict[str, str]
"""Part name (``input``, ``rule:<id>``, ``executor``...) -> short digest."""


def reasons(old: Fingerprint | None, new: Fingerprint) -> list[str]:
    """Why a step must run: the parts that differ between what its current
    version was made from (``old``) and what it would be made from now."""
    if old is None:
        return ["not built yet"]
    found = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        what = _describe(name)
        if before is None:
            found.append(f"{what} added")
        elif after is None:
            found.append(f"{what} removed")
        else:
            found.append(f"{what} changed")
    return found or ["up to date"]


_WORDS = {
    "source": "source",
    "reader": "reader or reader options",
    "dedupe": "de-duplication",
    "transforms": "transforms",
    "sql": "SQL",
    "function": "gold function",
    "declaration": "declared metadata",
    "executor": "executor",
}


def _describe(part: str) -> str:
    kind, _, name = part.partition(":")
    if kind == "input":
        return f"upstream {name}"
    if kind == "rule":
        return f"rule {name!r}"
    if kind == "bronze":
        return f"bronze {name}"
    return _WORDS.get(part, part)


def step_fingerprint(
    *,
    inputs: dict[str, object],
    declared: Fingerprint,
    declaration: BaseModel | None,
    executor: str,
) -> Fingerprint:
    """The fingerprint of a promotion: one part per input (``input:<layer>.<table>``,
    the records that published what it reads), the step's ``declared`` parts,
    the table's declared metadata, and the executor."""
    parts = {f"input:{key}": short_digest(value) for key, value in inputs.items()}
    parts.update(declared)
    parts["declaration"] = short_digest(
        declaration.model_dump(mode="json") if declaration is not None else None
    )
    parts["executor"] = short_digest(executor)
    return parts


def transform_digest(transform: Any) -> str:
    """A digest of a transform: its reference and, where Python can show it, its
    source code (so that an edited function is a changed declaration)."""
    from jobforge.engine.steps import load_callable, transform_name

    function = load_callable(transform) if isinstance(transform, str) else transform
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = ""
    return short_digest([transform_name(transform), source])


def model_parts(prefix: str, model: BaseModel) -> Fingerprint:
    """One part per field of a declaration model (``prefix:field``)."""
    data = model.model_dump(mode="json")
    return {f"{prefix}:{name}": short_digest(value) for name, value in sorted(data.items())}


def bronze_parts(schema: BronzeSchema) -> Fingerprint:
    """One part per field of a bronze declaration (renames, casts...)."""
    return model_parts("bronze", schema)


def silver_parts(spec: SilverSpec) -> Fingerprint:
    """De-duplication, each rule, and the transforms (with their code)."""
    parts = {"dedupe": short_digest(spec.dedupe)}
    parts.update({f"rule:{r.id}": short_digest(r.model_dump(mode="json")) for r in spec.rules})
    parts["transforms"] = short_digest([transform_digest(t) for t in spec.transforms])
    return parts


def gold_parts(spec: GoldSpec) -> Fingerprint:
    """The SQL, or the function (with its code)."""
    if spec.sql is not None:
        return {"sql": short_digest(spec.sql)}
    return {"function": transform_digest(spec.function)}
