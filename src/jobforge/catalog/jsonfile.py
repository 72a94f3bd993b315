"""Reading catalog JSON files: every file is validated, and a file that does not
validate is a :class:`~jobforge.errors.CatalogError` naming its path (a catalog
that silently skips what it cannot read would lie to an auditor)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from jobforge.errors import CatalogError

T = TypeVar("T")


def visible_json_files(directory: Path) -> list[Path]:
    """The ``*.json`` files directly in ``directory``, sorted by name.

    Hidden files are left out: the temporary files of atomic writes start with
    ``.`` and ``Path.glob`` does not skip them on its own.
    """
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith(".") and p.is_file())


def summarise(exc: ValidationError) -> str:
    """The first validation problem as ``field.path: message`` (plus how many more)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    text = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s))"
    return text


def read_json_model(path: Path, adapter: TypeAdapter[T], what: str) -> T:
    """Read and validate ``path``; raise :class:`CatalogError` naming it if that fails."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: not a valid {what}: {summarise(exc)}") from None
