"""Helpers shared by the engine tests (``tests/test_engine_*.py``).

Expected values in those tests were counted by hand from the source files
(Python's ``csv``/``json`` modules, grep); these helpers only read what the
engine wrote.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import literal, versions
from jobforge.storage.versions import WriteMode

REAL = Path(__file__).resolve().parent / "data" / "real"


def make_engine(tmp_path: Path, mode: WriteMode = "replace") -> PipelineEngine:
    """An engine on ``tmp_path/data`` with the bundled plugins only."""
    return PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False), mode=mode)


def csv_records(path: Path, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    """Header and records as Python's csv module reads them (BOM removed)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A small UTF-8 CSV written with Python's csv module."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lineage_files(engine: PipelineEngine, table: str) -> list[Path]:
    """``catalog/lineage/<table>/*.json``, oldest first (the names start with a timestamp)."""
    folder = engine.config.catalog_lineage_path() / table
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def lineage_records(engine: PipelineEngine, table: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in lineage_files(engine, table)]


def current_frame(engine: PipelineEngine, layer: Layer | str, table: str) -> pl.DataFrame:
    """The rows of the current version of ``table`` in ``layer``."""
    current = engine.current(layer, table)
    assert current is not None, f"{layer}.{table} has no current version"
    folder = versions.table_dir(engine.config.layer_path(Layer(layer)), table)
    return literal.scan_parquet(current.files(folder)).collect()  # the files, not a glob


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (lock files aside) -> sha256 of its bytes."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".locks" not in p.relative_to(root).parts
    }


def quarantine_files(engine: PipelineEngine, table: str, layer: str) -> list[Path]:
    folder = engine.config.quarantine_path() / table / layer
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def current_quarantine(
    engine: PipelineEngine, table: str, layer: str, kind: str | None = None
) -> list[Path]:
    """The quarantine (or, with ``kind="duplicates"``, duplicates) files of the current
    version of ``table`` in ``layer``: each is named like the data file it accompanies."""
    current = engine.current(layer, table)
    names = {b.file for b in current.batches} if current else set()
    return [p for p in quarantine_files(engine, table, kind or layer) if p.name in names]
