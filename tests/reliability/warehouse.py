"""Reading a whole data root back and checking the promises of docs/reliability.md.

Everything here reads what is on disk with independent tools (pyarrow for
parquet, ``json`` + the pydantic models for the catalog); nothing asks the
engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import TypeAdapter

from jobforge.catalog.entries import SchemaVersion
from jobforge.catalog.glossary import GlossaryTerm
from jobforge.pipeline.models import IngestionRecord, TableMetadata, TransitionRecord
from jobforge.storage.atomic import TEMP_PREFIX, TEMP_SUFFIX
from jobforge.storage.journal import Journal, read_journal
from jobforge.storage.versions import POINTER_NAME, CurrentVersion

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "src" / "jobforge" / "demo"
LAYERS = ("staged", "bronze", "silver", "gold")
GOLD_TABLES = ("dim_noc", "fact_employment_projection", "occupation_outlook")
SOURCE_TABLES = ("noc_structure", "employment")
RUN_COLUMNS = ("_processed_at", "_ingested_at", "_batch_id", "_source_file")
"""Provenance columns whose values differ from one run to the next."""

RECORD = TypeAdapter(IngestionRecord | TransitionRecord)
HISTORY = TypeAdapter(list[SchemaVersion])


STORES = ("parquet", "delta")
"""The table stores the reliability tests run against."""
DELTA_LOG = "_delta_log"


def make_project(tmp_path: Path, storage: str = "parquet") -> Path:
    """A copy of the demo project (``jobforge.toml`` and its two sources), its
    tables kept by the ``storage`` store."""
    project = tmp_path / "project"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("data"))
    if storage != "parquet":
        toml = project / "jobforge.toml"
        text = toml.read_text(encoding="utf-8")
        assert "[storage]" not in text
        toml.write_text(f'[storage]\nformat = "{storage}"\n\n{text}', encoding="utf-8")
    return project


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env["JOBFORGE_DISABLE_PLUGINS"] = "example"
    env.update(extra)
    return env


def jobforge_command(*args: str) -> list[str]:
    """``python -m jobforge ARGS`` with this interpreter."""
    return [sys.executable, "-m", "jobforge", *args]


def run_jobforge(project: Path, data_root: Path, *args: str, timeout: float = 120):
    """Run ``jobforge --data-root DATA ARGS`` in ``project`` to completion."""
    return subprocess.run(
        jobforge_command("--data-root", str(data_root), *args),
        cwd=project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- reading -------------------------------------------------------------------------
def is_temporary(path: Path) -> bool:
    """A temporary file, or a file inside a temporary folder (a reader's scratch),
    or a Delta commit delta-rs had not finished writing."""
    return any(part.startswith(TEMP_PREFIX) for part in path.parts) or _delta_temporary(path)


def _delta_temporary(path: Path) -> bool:
    return path.parent.name == DELTA_LOG and path.name.startswith("_commit_")


def all_files(root: Path) -> list[Path]:
    """Every file below ``root``, not following links."""
    found = []
    for directory, _dirs, files in os.walk(root):
        found.extend(Path(directory) / name for name in files)
    return sorted(found)


def _delta_current(folder: Path) -> CurrentVersion | None:
    """The version the last jobforge commit of a Delta table published, read with
    delta-rs (``jobforge.version`` in the commit's metadata). A log that holds
    no commit yet (a kill while delta-rs wrote the first one) is no table, to
    delta-rs as to every Delta reader."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(folder)):
        return None
    for commit in DeltaTable(str(folder)).history():  # newest first
        if "jobforge.version" in commit:
            version = CurrentVersion.model_validate_json(commit["jobforge.version"])
            version.extra["delta_version"] = int(commit["version"])
            return version
    return None


def pointer(root: Path, layer: str, table: str) -> CurrentVersion | None:
    """The current version of ``layer.table``: its ``_current.json`` (parquet
    store) or its Delta log's last jobforge commit (Delta store)."""
    folder = root / layer / table
    if (folder / DELTA_LOG).is_dir():
        return _delta_current(folder)
    path = folder / POINTER_NAME
    if not path.exists():
        return None
    return CurrentVersion.model_validate_json(path.read_text(encoding="utf-8"))


def pointers(root: Path) -> dict[tuple[str, str], CurrentVersion]:
    found = {}
    for layer in LAYERS:
        folders = {p.parent for p in (root / layer).glob(f"*/{POINTER_NAME}")}
        folders |= {p.parent for p in (root / layer).glob(f"*/{DELTA_LOG}")}
        for folder in sorted(folders):
            current = pointer(root, layer, folder.name)
            if current is not None:
                found[(layer, folder.name)] = current
    return found


def lineage_records(root: Path) -> list[IngestionRecord | TransitionRecord]:
    return [
        RECORD.validate_json(p.read_bytes())
        for p in sorted((root / "catalog" / "lineage").glob("*/*.json"))
    ]


def record_id(record: IngestionRecord | TransitionRecord) -> str:
    return record.ingestion_id if isinstance(record, IngestionRecord) else record.transition_id


def journals(root: Path) -> dict[str, Journal]:
    found = {}
    for path in sorted((root / ".locks").glob("*.journal")):
        table = path.name.removesuffix(".journal")
        journal = read_journal(path.parent, table)  # the first line with the appended ones applied
        assert journal is not None, path
        found[table] = journal
    return found


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        # "<table>:<batch id>:<row>" -> "<table>:<row>": batch ids are new each run
        return sorted(
            f"{v.split(':')[0]}:{v.split(':')[-1]}" if isinstance(v, str) else v for v in value
        )
    return value


def table_rows(root: Path, layer: str, table: str) -> list[str]:
    """The rows of the current version, run-specific columns dropped, as sorted JSON."""
    current = pointer(root, layer, table)
    assert current is not None, f"{layer}.{table} has no current version"
    rows: list[str] = []
    for path in current.files(root / layer / table):
        for row in pq.read_table(path).to_pylist():
            kept = {k: _normal(v) for k, v in row.items() if k not in RUN_COLUMNS}
            rows.append(json.dumps(kept, sort_keys=True, default=str))
    return sorted(rows)


def snapshot(root: Path) -> dict[tuple[str, str], list[str]]:
    """Every current version's rows (normalised), by (layer, table)."""
    return {key: table_rows(root, *key) for key in pointers(root)}


# -- checking ------------------------------------------------------------------------
@dataclass
class Findings:
    temporaries: list[Path] = field(default_factory=list)
    journals: dict[str, Journal] = field(default_factory=dict)
    files_checked: int = 0


def _check_json(root: Path, path: Path) -> None:
    rel = path.relative_to(root).parts
    text = path.read_text(encoding="utf-8")
    if rel[-2] == DELTA_LOG:  # a Delta commit: one JSON action a line, each complete
        actions = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert actions and any("commitInfo" in a for a in actions), f"{path}: no commitInfo"
        return
    data = json.loads(text)
    if rel[-1] == POINTER_NAME:
        CurrentVersion.model_validate(data)
    elif rel[0] == "catalog" and rel[1] == "tables":
        if rel[-2] == "_history":
            HISTORY.validate_python(data)
        else:
            TableMetadata.model_validate(data)
    elif rel[0] == "catalog" and rel[1] == "lineage":
        RECORD.validate_python(data)
    elif rel[0] == "catalog" and rel[1] == "glossary":
        GlossaryTerm.model_validate(data)


def check_files(root: Path) -> Findings:
    """Every file under a final name is complete: parquet reads in full, JSON
    parses and validates as the model its folder holds. Temporaries are
    collected, and must never match a reader's pattern."""
    findings = Findings(journals=journals(root))
    for path in all_files(root):
        if _delta_temporary(path):
            # a commit being written: Delta readers read only <N>.json commits
            assert path.suffix == ".tmp" and not path.match("*.json"), path
            findings.temporaries.append(path)
            continue
        if is_temporary(path):
            # A temporary's own name, or its temporary folder's, hides it from
            # every reader's pattern.
            hidden = next(p for p in (path, *path.parents) if p.name.startswith(TEMP_PREFIX))
            assert hidden.name.endswith(TEMP_SUFFIX), f"temporary {hidden} lacks {TEMP_SUFFIX}"
            assert not hidden.match("*.json") and not hidden.match("*.parquet"), hidden
            findings.temporaries.append(path)
            continue
        if path.suffix == ".parquet":
            pq.read_table(path)  # every page, not only the footer
        elif path.suffix == ".json":
            _check_json(root, path)
        findings.files_checked += 1
    # An empty temporary folder (a reader's scratch) is a leftover too.
    for directory, dirs, _files in os.walk(root):
        findings.temporaries.extend(Path(directory) / d for d in dirs if d.startswith(TEMP_PREFIX))
    return findings


def check_consistency(root: Path, *, recovered: bool, cwd: Path | None = None) -> Findings:
    """The promises of a data root after a crash (``recovered=False``) or after
    the next run completed (``recovered=True``). ``cwd``: the folder the runs
    ran in (record paths are relative to it when the data root was)."""
    cwd = cwd or Path.cwd()
    findings = check_files(root)
    records = lineage_records(root)
    by_id = {record_id(r): r for r in records}
    published = {(cwd / r.target_file).resolve() for r in records if r.status != "failed"}
    # a batch in parts: its record names the batch, its digests name every part
    published |= {
        (root / f.path).resolve() for r in records if r.status != "failed" for f in r.files
    }
    journaled = {Path(f).resolve() for j in findings.journals.values() for f in j.files}
    for (layer, table), current in pointers(root).items():
        folder = root / layer / table
        for batch in current.batches:
            paths = [folder / name for name in batch.data_files()]  # its file, or every part
            for path in paths:
                assert path.is_file(), f"{layer}.{table} lists missing {path.name}"
            rows = sum(pq.read_metadata(path).num_rows for path in paths)
            assert rows == batch.rows, f"{folder / batch.file}: row count"
        journal = findings.journals.get(table)
        if current.record_id not in by_id:
            # the one window: switched, record not yet written; the journal has it
            assert not recovered, f"{layer}.{table}: no lineage record {current.record_id}"
            assert journal is not None and journal.record_id == current.record_id, (
                f"{layer}.{table}: record {current.record_id} missing and not journaled"
            )
        else:
            assert by_id[current.record_id].status != "failed"
        if recovered:
            entry = root / "catalog" / "tables" / layer / f"{table}.json"
            meta = TableMetadata.model_validate_json(entry.read_text("utf-8"))
            assert meta.row_count == current.row_count, f"{entry}: row count"
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*/*.parquet")):
            current = pointer(root, layer, path.parent.name)
            listed = {p.resolve() for p in current.files(path.parent)} if current else set()
            allowed = listed | published | journaled
            assert path.resolve() in allowed, f"orphan data file {path}"
    for record in records:
        # a failed transition published nothing; a later attempt on the same batch
        # may write the same file name, and then has its own record
        if record.status == "failed" and (cwd / record.target_file).resolve() not in published:
            for path in _batch_files(cwd / record.target_file):
                assert path.resolve() in published, (
                    f"failed record {record_id(record)} but {path} exists"
                )
    for quarantined in sorted((root / "quarantine").glob("*/*/*.parquet")):
        table, kind = quarantined.parent.parent.name, quarantined.parent.name
        layer = "silver" if kind == "duplicates" else kind
        # a part of a quarantine file goes with its batch: the data's file or parts
        batch = quarantined.name.split(".part-")[0].removesuffix(".parquet") + ".parquet"
        data = {p.resolve() for p in _batch_files(root / layer / table / batch)}
        data |= {(root / layer / table / batch).resolve()}
        assert data & (
            published | journaled | {p.resolve() for p in (root / layer / table).glob("*.parquet")}
        ), f"quarantine file {quarantined} has no data file"
    if recovered:
        assert not findings.journals, f"journals left: {sorted(findings.journals)}"
        assert not findings.temporaries, f"temporaries left: {findings.temporaries}"
    return findings


def _batch_files(path: Path) -> list[Path]:
    """The files there are of the batch file ``path``: itself, or its parts."""
    stem = path.name.removesuffix(".parquet")
    return [path] if path.exists() else sorted(path.parent.glob(f"{stem}.part-*.parquet"))
