"""Temporaries left in the catalog folders every table shares (``catalog/glossary/``,
``catalog/schemas/``) by a killed writer are removed by the next engine start or
the next write there; those of a writer still at work in another process are not.

The rule: every writer of those folders holds the folder's lock while its
temporary file exists, so a temporary found under the lock is stale. The
concurrent writer here is a real process (tests/reliability/shared_folder_writer.py)
paused halfway through its write, holding the lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobforge_catalog_json.schemas import catalog_schemas, ensure_schemas, schema_path

from jobforge.catalog.glossary import GlossaryTerm, load_glossary, save_term
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import LockTimeoutError, TransitionError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.atomic import temporary_path_for

from .conftest import REAL_DATA

WRITER = Path(__file__).parent / "reliability" / "shared_folder_writer.py"
NOC = REAL_DATA / "noc_structure_en.csv"
TERM = GlossaryTerm(id="noc_code", name="NOC code", definition="A code of the NOC 2021.")


def _config(root: Path) -> PipelineConfig:
    return PipelineConfig(root, entry_points=False)


def _leftover(final: Path, text: str) -> Path:
    """What a writer killed halfway through writing ``final`` leaves."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path_for(final)
    tmp.write_text(text, encoding="utf-8")
    return tmp


def _first_step(config: PipelineConfig, lock_timeout: float = 600, *, force: bool = False) -> None:
    """Start an engine and run one step: an engine's first step tidies the shared
    folders and writes the schemas that are not up to date (creating an engine
    writes nothing)."""
    PipelineEngine(config, lock_timeout=lock_timeout).ingest(NOC, "noc", force=force)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_the_next_engine_start_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    config = _config(tmp_path / "data")
    _first_step(config)
    glossary, schemas = config.catalog_glossary_path(), config.catalog_schemas_path()
    left = [
        _leftover(glossary / "noc_code.json", '{"id": "noc_code", "na'),
        _leftover(schemas / "TableMetadata.schema.json", '{"$defs": {'),
    ]
    assert [p.exists() for p in left] == [True, True]
    assert (_hidden(glossary), _hidden(schemas)) == ([left[0].name], [left[1].name])

    _first_step(_config(config.data_root))

    assert (_hidden(glossary), _hidden(schemas)) == ([], [])
    # the schemas themselves are intact (nothing else in the folders was touched)
    assert sorted(p.name for p in schemas.iterdir()) == sorted(
        f"{name}.schema.json" for name in catalog_schemas()
    )
    assert ensure_schemas(config) == []


def test_the_next_write_or_start_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    config = _config(tmp_path / "data")
    _first_step(config)
    glossary, schemas = config.catalog_glossary_path(), config.catalog_schemas_path()
    left_term = _leftover(glossary / "other.json", '{"id": "oth')
    left_schema = _leftover(schemas / "GlossaryTerm.schema.json", "{")

    save_term(config, TERM)
    assert _hidden(glossary) == []
    assert load_glossary(config) == {"noc_code": TERM}

    assert ensure_schemas(config) == []  # up to date: no lock taken, nothing touched
    assert _hidden(schemas) == [left_schema.name]
    _first_step(config)  # an engine's first step tidies the shared folders all the same
    assert _hidden(schemas) == []
    assert not left_term.exists() and not left_schema.exists()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[object]:
    """Start the paused concurrent writer: ``start(folder, name, content) -> tmp path``."""
    processes: list[subprocess.Popen[str]] = []

    def start(
        root: Path, folder: str, name: str, content: str
    ) -> tuple[subprocess.Popen[str], Path]:
        process = subprocess.Popen(
            [sys.executable, str(WRITER), str(root), folder, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(content + "\n")
        process.stdin.flush()
        tmp = Path(process.stdout.readline().strip())
        assert tmp.parent == root / "catalog" / folder and tmp.is_file()
        return process, tmp

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.wait(timeout=60) == 0


def test_a_glossary_write_in_progress_in_another_process_is_left_alone(
    tmp_path: Path, writer
) -> None:
    root = tmp_path / "data"
    config = _config(root)
    PipelineEngine(config)
    content = TERM.model_dump_json()
    process, tmp = writer(root, "glossary", "noc_code.json", content)
    half = tmp.read_bytes()
    assert half == content.encode()[: len(content) // 2]

    # an engine starts and runs while the write is in progress: it does not wait
    # for the glossary's lock, and does not touch the file being written
    engine = PipelineEngine(_config(root), lock_timeout=5)
    assert engine.ingest(NOC, "noc").rows == 822
    assert tmp.read_bytes() == half

    # a second glossary writer waits for the first instead of removing its file
    other = GlossaryTerm(id="level", name="Level", definition="The level of a NOC code.")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (save_term(_config(root), other), done.set()))
    thread.start()
    assert not done.wait(1.0)
    assert tmp.read_bytes() == half

    _finish(process)
    thread.join(timeout=60)
    assert done.is_set()
    assert not tmp.exists()  # renamed into place by its own writer
    assert load_glossary(config) == {"level": other, "noc_code": TERM}
    assert _hidden(config.catalog_glossary_path()) == []


def test_a_schema_write_in_progress_in_another_process_is_left_alone(
    tmp_path: Path, writer
) -> None:
    root = tmp_path / "data"
    config = _config(root)
    _first_step(config)
    path = schema_path(config, "TableMetadata")
    expected = path.read_text(encoding="utf-8")
    content = json.dumps({"title": "TableMetadata", "written": "by the other process"})
    process, tmp = writer(root, "schemas", path.name, content)

    # an engine that runs meanwhile finds its schemas up to date: it neither waits
    # for the folder's lock nor removes the other process's temporary
    _first_step(_config(root), lock_timeout=0.5, force=True)
    assert tmp.read_bytes() == content.encode()[: len(content) // 2]

    # one that has a schema to write waits for the lock (here: gives up after its
    # lock timeout), and still removes nothing
    glossary = schema_path(config, "GlossaryTerm")
    glossary_expected = glossary.read_text(encoding="utf-8")
    glossary.write_text("{}", encoding="utf-8")
    with pytest.raises(TransitionError) as caught:
        _first_step(_config(root), lock_timeout=0.5, force=True)
    assert str(caught.value).endswith(
        "failed: the catalog folder 'schemas' is locked by another process; gave up after "
        f"0.5 s (lock file {root / '.locks' / 'schemas.folder.lock'})"
    )
    assert isinstance(caught.value.__cause__, LockTimeoutError)
    assert tmp.read_bytes() == content.encode()[: len(content) // 2]
    assert glossary.read_text(encoding="utf-8") == "{}"

    _finish(process)
    assert not tmp.exists()
    assert json.loads(path.read_text(encoding="utf-8"))["written"] == "by the other process"
    _first_step(_config(root))  # the next step puts the real schemas back
    assert path.read_text(encoding="utf-8") == expected
    assert glossary.read_text(encoding="utf-8") == glossary_expected
    assert _hidden(config.catalog_schemas_path()) == []
