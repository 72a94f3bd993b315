"""The per-table journal: what the transition running on a table is about to do.

A transition is published in steps (data files renamed into place, then the
``_current.json`` switch, then its lineage record and catalog entry). A process
killed between two steps leaves the journal behind, and the next run that takes
the table's lock finishes or undoes the work
(:mod:`jobforge.engine.recovery`):

- the table store says the version names the journal's record (the switch
  happened): the lineage record and the catalog entry kept in the journal are
  written;
- otherwise nothing was published: the store removes the files the journal
  lists (no version ever named them) and the failed record kept in the journal
  is written, saying the run was interrupted.

The journal lives beside the lock, ``<locks>/<table>.journal``, not in a data
or catalog folder, and is written atomically. Its records are kept as plain
JSON: this module does not know the record models.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from jobforge.errors import TransitionError
from jobforge.storage.atomic import atomic_write_text
from jobforge.storage.names import validate_name

Phase = Literal["running", "publishing", "switching"]
"""``running``: nothing renamed yet; ``publishing``: data files are being renamed
into place; ``switching``: the files are in place and the pointer is switched next."""


class Journal(BaseModel):
    table: str
    layer: str
    """The layer the transition writes (``staged`` for an ingestion)."""
    record_id: str
    """The id of the record the pointer will name (``record_id``) once switched."""
    phase: Phase
    failed: dict[str, Any]
    """The failed lineage record to write if the transition never published."""
    record: dict[str, Any] | None = None
    """The lineage record to write if it did."""
    metadata: dict[str, Any] | None = None
    """The catalog entry to write if it did."""
    files: list[str] = Field(default_factory=list)
    """Absolute final paths of the files this transition renames into place."""


def journal_path(locks_dir: Path, table: str) -> Path:
    return locks_dir / f"{validate_name(table)}.journal"


def write_journal(locks_dir: Path, journal: Journal) -> None:
    atomic_write_text(journal_path(locks_dir, journal.table), journal.model_dump_json() + "\n")


def read_journal(locks_dir: Path, table: str) -> Journal | None:
    path = journal_path(locks_dir, table)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Journal.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        problem = f"{where}: {error['msg']}" if where else error["msg"]
        raise TransitionError(
            f"{path}: not a journal jobforge wrote ({problem}); it names what an interrupted "
            f"transition of {table!r} left: restore it, or remove it once the table's last "
            "version is known to be whole (`jobforge verify`)"
        ) from None


def clear_journal(locks_dir: Path, table: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(locks_dir, table))
