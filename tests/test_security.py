"""Security: names that would escape the data root, links planted inside it,
plugins imported from the current directory, secrets in what jobforge writes.

The SQL interface (``jobforge query``: no file writes, no ATTACH, no extension
loading, no reads outside the data root) is tested with the query engine in
``tests/test_query_engine.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobforge.catalog.glossary import GlossaryTerm
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.errors import InvalidNameError, PathEscapeError
from jobforge.pipeline.config import PipelineConfig

from .conftest import REAL_DATA
from .reliability import warehouse

NOC = REAL_DATA / "noc_structure_en.csv"
SCRIPT = Path(sys.executable).parent / "jobforge"

BAD_NAMES = [
    "../x",
    "../../etc/passwd",
    "/abs",
    "a/b",
    "a\\b",
    "x\x00y",
    ".",
    "..",
    ".hidden",
    "con",
    "NUL",
    "lpt1",
    "a" * 129,
    "",
    " x",
    "x y",
    "x.parquet",
    "noc\n",
]


def tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every path below ``root`` (links not followed) with its kind, size and mtime."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            found[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def warehouse_root(tmp_path: Path) -> tuple[PipelineEngine, Path]:
    """A data root with one table through silver, and the engine that made it."""
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    return engine, tmp_path


# -- names -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_bad_names_are_refused_before_anything_is_touched(
    warehouse_root: tuple[PipelineEngine, Path], bad: str
) -> None:
    engine, tmp_path = warehouse_root
    before = tree(tmp_path)
    batch = engine.current("staged", "noc").batches[0].batch_id
    attempts = [
        lambda: engine.ingest(NOC, bad),
        lambda: engine.promote_to_bronze(bad),
        lambda: engine.promote_to_bronze("noc", batch_id=bad),
        lambda: engine.promote_to_silver(bad),
        lambda: engine.promote_to_silver("noc", batch_id=bad),
        lambda: engine.replay(bad),
    ]
    if bad:  # an empty domain means "no domain"
        attempts += [
            lambda: engine.ingest(NOC, "noc", domain=bad),
            lambda: engine.promote_to_bronze("noc", batch_id=batch, domain=bad),
        ]
    for attempt in attempts:
        with pytest.raises(InvalidNameError) as caught:
            attempt()
        assert "\n" not in str(caught.value).replace(repr(bad), "")
    for build in (
        lambda: GoldSpec(name=bad, inputs=["noc"], sql="SELECT * FROM noc"),
        lambda: GoldSpec(name="g", inputs=[bad], sql="SELECT 1"),
        lambda: GlossaryTerm(id=bad, name="n", definition="d"),
    ):
        with pytest.raises((InvalidNameError, ValidationError)):
            build()
    assert tree(tmp_path) == before


def test_the_longest_allowed_name_works(tmp_path: Path) -> None:
    name = "n" * 128
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    result = engine.run_full_pipeline(NOC, name, dedupe="none")
    assert result.silver.record.row_count_out == 822
    assert (tmp_path / "data" / "catalog" / "tables" / "silver" / f"{name}.json").is_file()


@pytest.mark.parametrize("bad", ["../x", "/abs", "a\\b", "con", "a" * 129], ids=repr)
def test_the_command_line_refuses_bad_names_in_one_line(
    warehouse_root: tuple[PipelineEngine, Path], bad: str
) -> None:
    _engine, tmp_path = warehouse_root
    before = tree(tmp_path)
    root = str(tmp_path / "data")
    for args in (
        ["ingest", str(NOC), "--table", bad],
        ["ingest", str(NOC), "--table", "noc", "--domain", bad],
        ["promote", bad, "--to", "bronze"],
        ["promote", "noc", "--to", "silver", "--batch", bad],
    ):
        done = subprocess.run(
            [str(SCRIPT), "--data-root", root, *args],
            cwd=tmp_path,
            env=warehouse.subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (args, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith("error: invalid ") and "Traceback" not in done.stderr
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('[tables."../x"]\nsource = "s.csv"\n', "tables.../x: invalid table name"),
        ('[gold."a/b"]\ninputs = ["noc"]\nsql = "SELECT 1"\n', "gold.a/b: invalid table name"),
        ('[glossary."con"]\nname = "n"\ndefinition = "d"\n', "glossary.con: invalid glossary"),
        ('[tables.t]\nsource = "s.csv"\ndomain = "../d"\n', "invalid domain '../d'"),
    ],
)
def test_project_names_are_refused_before_anything_is_touched(
    tmp_path: Path, section: str, expected: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "s.csv").write_text("a\n1\n")
    (project / "jobforge.toml").write_text(section)
    before = tree(tmp_path)
    done = subprocess.run(
        [str(SCRIPT), "run"],
        cwd=project,
        env=warehouse.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert tree(tmp_path) == before


# -- links inside the data root ---------------------------------------------------------
@pytest.mark.parametrize(
    "link",
    [
        "staged/noc",
        "bronze/noc",
        "quarantine/noc",
        "quarantine/noc/staged",
        "quarantine/noc/duplicates",
        "catalog/lineage/noc",
        "catalog/tables/staged/_history",
    ],
)
def test_a_link_planted_in_a_table_folder_is_refused(tmp_path: Path, link: str) -> None:
    """``data/<link> -> outside``: jobforge refuses to run on the table rather than
    write through the link, and writes nothing outside the data root."""
    root = tmp_path / "data"
    engine = PipelineEngine(PipelineConfig(root, entry_points=False))
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = root / link
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(outside, target_is_directory=True)
    before = tree(tmp_path)
    with pytest.raises(PathEscapeError) as caught:
        engine.run_full_pipeline(NOC, "noc")
    assert f"{planted} is a symbolic link" in str(caught.value)
    assert list(outside.iterdir()) == []
    assert tree(tmp_path) == before  # not even a lock file


@pytest.mark.parametrize("link", ["staged", "catalog", "quarantine", ".locks"])
def test_a_linked_layout_folder_is_refused_when_the_engine_starts(
    tmp_path: Path, link: str
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / link).symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscapeError, match="is a symbolic link"):
        PipelineEngine(PipelineConfig(root, entry_points=False))
    assert list(outside.iterdir()) == []


def test_a_linked_lock_file_is_not_truncated(tmp_path: Path) -> None:
    root = tmp_path / "data"
    engine = PipelineEngine(PipelineConfig(root, entry_points=False))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    (root / ".locks" / "noc.lock").symlink_to(victim)
    with pytest.raises(PathEscapeError, match=r"noc\.lock is a symbolic link"):
        engine.ingest(NOC, "noc")
    assert victim.read_text() == "keep me\n"


def test_a_linked_final_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    """Every final file is written by renaming a temporary file over it, which
    replaces a link planted under that name instead of following it."""
    root = tmp_path / "data"
    engine = PipelineEngine(PipelineConfig(root, entry_points=False))
    victim = tmp_path / "victim.json"
    victim.write_text("[]\n")  # read as an empty schema history, then replaced
    history = root / "catalog" / "tables" / "staged" / "_history" / "noc.json"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.symlink_to(victim)
    engine.ingest(NOC, "noc")
    assert victim.read_text() == "[]\n"
    assert not history.is_symlink() and len(json.loads(history.read_text())) == 1


def test_a_linked_data_root_is_the_data_root(tmp_path: Path) -> None:
    """The data root itself may be a link (a disk mounted elsewhere): writes go
    where it points, and nowhere else."""
    real = tmp_path / "disk" / "warehouse"
    real.mkdir(parents=True)
    (tmp_path / "data").symlink_to(real, target_is_directory=True)
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    assert warehouse.pointer(real, "silver", "noc").row_count == 822
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "disk"]


# -- plugins from the current directory ---------------------------------------------------
PLANTED = """
from pathlib import Path
Path(__file__).with_name("IMPORTED-" + __name__).write_text("planted code ran")
raise SystemExit("planted module imported")
"""


@pytest.mark.installed_plugins
@pytest.mark.parametrize("module", [False, True], ids=["script", "python-m"])
def test_plugins_are_not_imported_from_the_current_directory(tmp_path: Path, module: bool) -> None:
    project = warehouse.make_project(tmp_path)
    (project / "jobforge_dama.py").write_text(PLANTED)
    (project / "jobforge_readers").mkdir()
    (project / "jobforge_readers" / "__init__.py").write_text(PLANTED)
    (project / "jobforge_example").mkdir()
    (project / "jobforge_example" / "__init__.py").write_text(PLANTED)
    (project / "jobforge_example" / "plugin.py").write_text(PLANTED)
    command = [sys.executable, "-m", "jobforge"] if module else [str(SCRIPT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    for args in (["plugins", "--json"], ["run", "-q", "--table", "noc_structure"]):
        done = subprocess.run(
            [*command, *args],
            cwd=project,
            env=env,  # the installed example plugin is enabled
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    listing = json.loads(
        subprocess.run(
            [*command, "plugins", "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    modules = {p["name"]: p["module"] for p in listing}
    assert modules["example"] == "jobforge_example.plugin"
    assert all(p["status"] == "loaded" for p in listing)
    assert not list(project.glob("**/IMPORTED-*"))
    assert warehouse.pointer(project / "data", "silver", "noc_structure").row_count == 822


# -- secrets ----------------------------------------------------------------------------
@pytest.mark.installed_plugins
def test_no_environment_value_is_written_to_logs_or_catalog(tmp_path: Path) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    project = warehouse.make_project(tmp_path)
    # a gold table whose SQL fails when it runs (the checks before a run pass it):
    # error paths too
    broken = project / "broken.toml"
    broken.write_text(
        (project / "jobforge.toml").read_text()
        + '\n[gold.broken]\ninputs = ["noc_structure"]\n'
        + "sql = \"SELECT error('broken on purpose') AS x, _lineage FROM noc_structure\"\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env.update(
        JOBFORGE_TEST_SECRET=secret,
        AWS_SECRET_ACCESS_KEY=secret,
        DATABASE_URL=f"postgresql://user:{secret}@db/x",
        JOBFORGE_EXAMPLE_LAYOUT_ROOT="",  # the example plugin is loaded and reads env
    )
    outputs = []
    for args in (
        ["--log-level", "debug", "run"],
        ["--log-level", "debug", "--log-console", "run", "--json"],
        ["--debug", "--project", str(broken), "run", "--table", "broken"],
        ["--log-level", "debug", "--project", str(broken), "run", "--json"],
        ["status", "--json"],
        ["plugins", "--json"],
    ):
        done = subprocess.run(
            [str(SCRIPT), *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs.append(done.stdout + done.stderr)
    assert "transition.done" in outputs[0]  # debug logs were written
    assert "Traceback" in outputs[2]  # --debug shows the failing run's traceback
    assert any("broken" in p.name for p in (project / "data" / "catalog" / "lineage").iterdir())
    for text in outputs:
        assert secret not in text
    files = [p for p in warehouse.all_files(tmp_path) if p.is_file()]
    assert len(files) > 50
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
    shutil.rmtree(project / "data")
