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
or catalog folder. Its records are kept as plain JSON: this module does not
know the record models.

Its first line is the whole journal, written atomically (:func:`write_journal`:
a temporary, flushed, then renamed, and the folder flushed). Each later phase
is one more line holding only the fields that changed, appended and flushed
(:func:`append_journal`): an append to a file that already exists costs one
flush of that file, where a whole new journal costs a new file, two flushes and
a rename, and the fields written before (the failed record, the lineage record)
are not written again. The reader applies the lines in order
(:func:`read_journal`). A line is written with one call and ends with a newline
(JSON without indentation has none inside), so an append a crash cut short is
the last line and lacks its newline: it is ignored, which is right, because the
step it announced waits for the append's flush and so never began.
"""

from __future__ import annotations

import contextlib
import json
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


def append_journal(locks_dir: Path, table: str, changes: dict[str, Any]) -> None:
    """Add ``changes`` (fields of :class:`Journal`, as JSON values) to the
    table's journal as one line, and flush the file before returning: the
    step the change announces may begin once this returns."""
    unknown = set(changes) - set(Journal.model_fields)
    if unknown:
        raise ValueError(f"not fields of a journal: {sorted(unknown)}")
    line = (json.dumps(changes, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    # no O_CREAT: a journal is written whole first (write_journal), never started by an append
    fd = os.open(journal_path(locks_dir, table), os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _not_a_journal(path: Path, table: str, problem: str) -> TransitionError:
    return TransitionError(
        f"{path}: not a journal jobforge wrote ({problem}); it names what an interrupted "
        f"transition of {table!r} left: restore it, or remove it once the table's last "
        "version is known to be whole (`jobforge verify`)"
    )


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def read_journal(locks_dir: Path, table: str) -> Journal | None:
    """The table's journal with its appended lines applied in order (``None``:
    no journal). An append cut short (a last line without its newline) is left
    out; any other line that is not a JSON object of journal fields is an error."""
    path = journal_path(locks_dir, table)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    first, _, rest = data.partition(b"\n")
    try:
        journal = Journal.model_validate_json(first)
    except ValidationError as exc:
        raise _not_a_journal(path, table, _problem(exc)) from None
    appended = rest.split(b"\n")[:-1]  # the last piece: empty, or an append cut short
    if not appended:
        return journal
    fields = journal.model_dump()
    for number, line in enumerate(appended, start=2):
        try:
            changes = json.loads(line)
        except ValueError:
            changes = None
        if not isinstance(changes, dict) or not set(changes) <= set(Journal.model_fields):
            raise _not_a_journal(path, table, f"line {number} is not a JSON object of its fields")
        fields.update(changes)
    try:
        return Journal.model_validate(fields)
    except ValidationError as exc:
        raise _not_a_journal(path, table, _problem(exc)) from None


def clear_journal(locks_dir: Path, table: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(locks_dir, table))
