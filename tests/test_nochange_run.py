"""A run in which nothing changed (issue 21): it finds every table up to date
without taking the tables' locks, skips the project checks that passed before
for the same project file, headers and plugins, and imports neither polars,
DuckDB nor sqlglot; whatever changed is still found and run (or checked).

Real subprocesses of the ``jobforge`` command on a small project of real files;
a lock is held by a real second process (``filelock``, as the engine takes it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobforge.storage.atomic import temporary_path_for

from .cli_helpers import jobforge
from .conftest import REAL_DATA

PROJECT = """\
[project]
name = "nochange"
lock_timeout_s = 2

[tables.structure]
source = "sources/noc_structure_en.csv"

[tables.structure.bronze]
rename = { "Level" = "level", "Code - NOC 2021 V1.0" = "code" }
cast = { level = "int" }

[tables.structure.silver]
dedupe = "row"
rules = [{ id = "level", expression = "level BETWEEN 1 AND 5", message = "level 1 to 5" }]

[gold.levels]
inputs = ["structure"]
sql = '''
SELECT level, count(*) AS codes, flatten(list(_lineage)) AS _lineage
FROM structure GROUP BY level
'''
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(PROJECT)
    shutil.copyfile(
        REAL_DATA / "noc_structure_en.csv", project / "sources" / "noc_structure_en.csv"
    )
    return project


def _run(project: Path, *args: str) -> tuple[int, list[dict], str]:
    result = jobforge("run", "--json", *args, cwd=project)
    steps = json.loads(result.out) if result.out.strip().startswith("[") else []
    return result.code, steps, result.err


@pytest.fixture
def built(tmp_path: Path) -> Path:
    project = _project(tmp_path)
    code, steps, err = _run(project)
    assert code == 0, err
    assert {s["status"] for s in steps} <= {"success", "partial"} and len(steps) == 4
    return project


HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from jobforge.storage.locks import table_lock
    with table_lock(Path(sys.argv[1]), sys.argv[2], timeout=30):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


class _Held:
    """A second process holding ``table``'s lock until closed."""

    def __init__(self, project: Path, table: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(project / "data" / ".locks"), table, "60"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "held"

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def test_a_no_change_run_takes_no_table_lock(built: Path) -> None:
    first = _run(built)[1]
    held = [_Held(built, "structure"), _Held(built, "levels")]
    try:
        code, steps, err = _run(built)
    finally:
        for lock in held:
            lock.close()
    assert code == 0, err
    assert [(s["table"], s["layer"], s["status"]) for s in steps] == [
        ("structure", "staged", "up to date"),
        ("structure", "bronze", "up to date"),
        ("structure", "silver", "up to date"),
        ("levels", "gold", "up to date"),
    ]
    # the counts are the records' (as a run under the lock reports them)
    assert steps == first


def test_a_changed_source_waits_for_the_lock(built: Path) -> None:
    source = built / "sources" / "noc_structure_en.csv"
    lines = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    source.write_text("".join(lines[:-1]), encoding="utf-8")  # one row fewer
    lock = _Held(built, "structure")
    try:
        code, steps, err = _run(built)
    finally:
        lock.close()
    assert code == 1
    by = {(s["table"], s["layer"]): s for s in steps}
    assert by[("structure", "staged")]["status"] == "failed"
    assert "is locked by" in by[("structure", "staged")]["error"]
    assert by[("levels", "gold")]["status"] == "skipped"
    # and once the lock is free, the change runs
    code, steps, err = _run(built)
    assert code == 0, err
    assert {s["status"] for s in steps if s["table"] == "structure"} <= {"success", "partial"}


def test_a_journal_left_behind_sends_the_table_to_its_lock(built: Path) -> None:
    journal = built / "data" / ".locks" / "structure.journal"
    assert not journal.exists()
    journal.write_text("{}")  # what recovery must read: only under the lock
    lock = _Held(built, "structure")
    try:
        code, steps, _ = _run(built)
    finally:
        lock.close()
    assert code == 1
    assert "is locked by" in steps[0]["error"]
    # the table that has no journal is still found up to date without its lock
    assert steps[-1]["table"] == "levels" and steps[-1]["status"] == "skipped"


HEAVY = ("polars", "duckdb", "sqlglot", "pyarrow", "structlog", "rich")
"""The data libraries, and what only a log event or a terminal needs (structlog
imports rich, and rich draws the live table)."""

ENGINE = (
    "jobforge.engine.pipeline",
    "jobforge.engine.ingestion",
    "jobforge.engine.promotion",
    "jobforge.engine.sequence",
    "jobforge.project.checks",
)
"""What only a step that must do work (or the full up-to-date check) needs:
a run that the up-to-date index answers imports none of them."""

NO_HEAVY = textwrap.dedent(
    f"""
    import sys
    from jobforge.cli.app import main
    sys.argv = ["jobforge", *sys.argv[1:], "run", "-q", "--json"]
    code = main()
    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
    print("ENGINE", ",".join(m for m in {ENGINE!r} if m in sys.modules), file=sys.stderr)
    print("HEAVY", ",".join(heavy), file=sys.stderr)
    sys.exit(code)
    """
)


def _engine_line(err: str) -> str:
    return next(x for x in err.splitlines() if x.startswith("ENGINE"))


def _heavy_modules(project: Path, *options: str) -> tuple[int, str, str, str]:
    """Run with the global ``options``: (exit code, stdout, the HEAVY line, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", NO_HEAVY, *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")},
            "JOBFORGE_DISABLE_PLUGINS": "example",
        },
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("HEAVY")]
    return done.returncode, done.stdout, line[-1] if line else done.stderr, done.stderr


def test_a_no_change_run_imports_no_data_library(built: Path) -> None:
    code, out, heavy, err = _heavy_modules(built)
    assert code == 0, heavy
    assert {s["status"] for s in json.loads(out)} == {"up to date"}
    assert heavy == "HEAVY ", heavy
    # the up-to-date index answered: not even the engine was imported
    assert _engine_line(err) == "ENGINE ", err
    # an event at an enabled level imports structlog (and, through it, rich),
    # and is written as before: one JSON line per event
    code, out, heavy, err = _heavy_modules(built, "--log-level", "info")
    assert code == 0, heavy
    assert heavy == "HEAVY rich,structlog", heavy
    events = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    skipped = [e for e in events if e["event"] == "ingest.skipped"]
    assert [(e["table"], e["level"], e["reason"]) for e in skipped] == [
        ("structure", "info", "up to date")
    ]
    assert [e["table"] for e in events if e["event"] == "transition.up_to_date"] == [
        "structure",
        "structure",
        "levels",
    ]
    # a run with something to do imports the data libraries (the line above can tell)
    toml = built / "jobforge.toml"
    toml.write_text(toml.read_text().replace("level 1 to 5", "a level from 1 to 5"))
    code, out, heavy, _ = _heavy_modules(built)
    assert code == 0, heavy
    assert "polars" in heavy and "duckdb" in heavy, heavy


def test_the_checks_run_again_when_a_header_or_the_project_changes(built: Path) -> None:
    assert (built / "data" / ".locks" / "project-check.json").is_file()
    source = built / "sources" / "noc_structure_en.csv"
    text = source.read_text(encoding="utf-8-sig")
    source.write_text(text.replace("Level", "Tier", 1), encoding="utf-8")
    code, steps, err = _run(built)
    assert code == 2 and steps == []
    assert "tables.structure.bronze.rename: 'Level' is not a column" in err
    source.write_text(text, encoding="utf-8")
    assert _run(built)[0] == 0
    # a mistake in the project file is found, though the headers are as before
    toml = built / "jobforge.toml"
    toml.write_text(toml.read_text().replace("count(*) AS codes", "count(nope) AS codes"))
    code, steps, err = _run(built)
    assert code == 2 and steps == []
    assert "gold.levels.sql" in err and "nope" in err


def test_a_killed_write_of_the_remembered_check_leaves_nothing(built: Path) -> None:
    memo = built / "data" / ".locks" / "project-check.json"
    memo.unlink()
    left = temporary_path_for(memo)  # what a run killed while writing it leaves
    left.write_text('{"passed": "')
    code, steps, err = _run(built)
    assert code == 0, err
    assert {s["status"] for s in steps} == {"up to date"}
    assert not left.exists() and memo.is_file()


def test_the_catalog_schemas_come_with_the_first_step_that_writes(built: Path) -> None:
    schemas = built / "data" / "catalog" / "schemas"
    names = sorted(p.name for p in schemas.iterdir())
    assert "TableMetadata.schema.json" in names and "TransitionRecord.schema.json" in names
    shutil.rmtree(schemas)
    # nothing to do: no step writes, and the schemas are not worked out again
    code, steps, err = _run(built)
    assert code == 0, err
    assert {s["status"] for s in steps} == {"up to date"}
    assert not schemas.exists()
    # a step that runs (under its lock) writes them all again
    code, steps, err = _run(built, "--full-refresh")
    assert code == 0, err
    assert sorted(p.name for p in schemas.iterdir()) == names


# -- the up-to-date index (jobforge.project.uptodate) ------------------------------------

INDEX = Path("data") / ".locks" / "up-to-date.json"


def _engine_run(project: Path) -> tuple[int, list[dict], str]:
    """A run through :data:`NO_HEAVY`: (exit code, steps, the ENGINE line)."""
    code, out, _, err = _heavy_modules(project)
    return code, json.loads(out) if out.strip().startswith("[") else [], _engine_line(err)


def _twin(tmp_path: Path) -> Path:
    """The same project built the same way in another folder, without its index:
    what it answers after the same change is the full check's answer."""
    twin = _project(tmp_path / "twin")
    code, _, err = _run(twin)
    assert code == 0, err
    (twin / INDEX).unlink()
    return twin


def _full_answer(twin: Path, project: Path) -> tuple[int, list[dict]]:
    code, steps, engine = _engine_run(twin)
    assert engine != "ENGINE ", engine  # it ran the check
    return code, json.loads(json.dumps(steps).replace(str(twin), str(project)))


def _answered_as_the_full_check(project: Path, twin: Path) -> list[dict]:
    """Run ``project`` after a change made to it and to ``twin``: it must run the
    check (not answer from its index) and end as ``twin`` does; its steps."""
    full_code, full = _full_answer(twin, project)
    code, steps, engine = _engine_run(project)
    assert engine != "ENGINE "
    assert (code, _outcome(steps)) == (full_code, _outcome(full))
    return steps


def _outcome(steps: list[dict]) -> list[tuple[object, ...]]:
    """What a step ended as and counted (batch ids and seconds differ between twins)."""
    keys = ("table", "layer", "status", "rows_in", "rows_out", "rows_quarantined")
    return [(*(s[k] for k in keys), s["rows_deduplicated"], s["reason"], s["error"]) for s in steps]


def test_the_index_gives_the_full_checks_report(built: Path, tmp_path: Path) -> None:
    assert (built / INDEX).is_file()  # kept by the run that built the tables
    code, steps, engine = _engine_run(built)
    assert code == 0 and engine == "ENGINE "
    (built / INDEX).unlink()  # the full check, on the same data root
    full_code, full, full_engine = _engine_run(built)
    assert full_engine != "ENGINE "
    assert (code, steps) == (full_code, full)  # byte for byte, batch ids included
    assert (built / INDEX).is_file()  # kept again
    assert [s["status"] for s in steps] == ["up to date"] * 4
    assert steps[2]["rows_out"] == 822 and steps[3]["rows_out"] == 5  # silver rows, gold levels
    # the run record lists the same steps
    runs = sorted((built / "data" / "catalog" / "runs").glob("*.json"))
    record = json.loads(runs[-1].read_text())
    assert [s["status"] for s in record["steps"]] == ["up to date"] * 4
    assert record["counts"] == {"up to date": 4}


def test_a_byte_changed_with_the_same_size_and_time_is_found(built: Path, tmp_path: Path) -> None:
    source = built / "sources" / "noc_structure_en.csv"
    before = source.stat()
    data = source.read_bytes()
    changed = data.replace(b"1,Broad Category,0,Legislative", b"1,Broad Category,0,legislative", 1)
    assert changed != data and len(changed) == len(data)
    source.write_bytes(changed)
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (source.stat().st_size, source.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )
    twin = _twin(tmp_path)
    (twin / "sources" / "noc_structure_en.csv").write_bytes(changed)
    steps = _answered_as_the_full_check(built, twin)
    assert steps[0]["status"] == "success" and steps[0]["rows_out"] == 822


def test_an_edited_project_file_is_found(built: Path, tmp_path: Path) -> None:
    toml = built / "jobforge.toml"
    toml.write_text(toml.read_text().replace("level 1 to 5", "a level from 1 to 5"))
    twin = _twin(tmp_path)
    (twin / "jobforge.toml").write_text(toml.read_text())
    steps = _answered_as_the_full_check(built, twin)
    by = {(s["table"], s["layer"]): s["status"] for s in steps}
    assert by[("structure", "staged")] == "up to date"
    assert by[("structure", "silver")] in {"success", "partial"}


def test_a_pointer_changed_by_another_writer_is_found(built: Path, tmp_path: Path) -> None:
    # another process replaces structure's versions (a run of that table only
    # keeps no index, and leaves the one the last whole run kept)
    kept = (built / INDEX).read_bytes()
    other = jobforge("run", "-q", "--table", "structure", "--full-refresh", cwd=built)
    assert other.code == 0, other.err
    assert (built / INDEX).read_bytes() == kept
    twin = _twin(tmp_path)
    assert jobforge("run", "-q", "--table", "structure", "--full-refresh", cwd=twin).code == 0
    steps = _answered_as_the_full_check(built, twin)
    by = {(s["table"], s["layer"]): s["status"] for s in steps}
    assert by[("structure", "silver")] == "up to date"
    assert by[("levels", "gold")] == "success"  # its input's version is another one now
    # and that run kept the index again: the next one is answered by it
    code, again, engine = _engine_run(built)
    assert code == 0 and engine == "ENGINE "
    assert {s["status"] for s in again} == {"up to date"}


def test_a_corrupt_pointer_gives_the_same_error(built: Path) -> None:
    pointer = built / "data" / "silver" / "structure" / "_current.json"
    pointer.write_text("{")
    code, steps, engine = _engine_run(built)
    assert code == 1 and engine != "ENGINE "
    failed = [s for s in steps if s["status"] == "failed"]
    assert [(s["table"], s["layer"]) for s in failed] == [("structure", "silver")]
    assert failed[0]["error"].startswith(f"{pointer}: not valid JSON"), failed[0]["error"]
    assert steps[-1]["table"] == "levels" and steps[-1]["status"] == "skipped"
    assert not (built / INDEX).exists()  # a run with a failure keeps none


def test_a_pointer_that_is_not_utf8_is_an_error_naming_it(built: Path) -> None:
    pointer = built / "data" / "bronze" / "structure" / "_current.json"
    data = pointer.read_bytes()
    at = data.index(b'"structure"') + 1
    pointer.write_bytes(data[:at] + b"\xff" + data[at + 1 :])
    code, steps, err = _run(built)
    assert code == 1 and "Traceback" not in err, err
    failed = [s for s in steps if s["status"] == "failed"]
    assert [(s["table"], s["layer"]) for s in failed] == [("structure", "bronze")]
    assert failed[0]["error"] == f"{pointer}: not valid JSON (byte {at} is not UTF-8)"
    status = jobforge("status", cwd=built)
    assert status.code == 1 and "Traceback" not in status.err, status.err
    assert status.err.strip() == f"error: {pointer}: not valid JSON (byte {at} is not UTF-8)"


def test_no_index_for_a_project_with_python_functions(built: Path) -> None:
    from jobforge.project.loader import load_project
    from jobforge.project.runner import project_config
    from jobforge.project.uptodate import index_key

    toml = built / "jobforge.toml"
    project = load_project(toml)
    assert index_key(project, project_config(project)) is not None
    # a transform's fingerprint is its code: the index could not see it change
    toml.write_text(
        toml.read_text().replace(
            'dedupe = "row"', 'dedupe = "row"\ntransforms = ["os.path:basename"]'
        )
    )
    project = load_project(toml)
    assert project.spec.tables["structure"].silver.transforms == ["os.path:basename"]
    assert index_key(project, project_config(project)) is None


def _link_bronze_elsewhere(project: Path, elsewhere: Path) -> None:
    """The bronze folder moved out of the data root and a link left in its place."""
    bronze = project / "data" / "bronze"
    os.replace(bronze, elsewhere)
    bronze.symlink_to(elsewhere)


def test_a_layer_folder_turned_into_a_link_is_refused_as_the_full_check_does(
    built: Path, tmp_path: Path
) -> None:
    twin = _twin(tmp_path)
    (twin / INDEX).unlink(missing_ok=True)
    _link_bronze_elsewhere(built, tmp_path / "bronze-of-built")
    _link_bronze_elsewhere(twin, tmp_path / "bronze-of-twin")
    full = jobforge("run", "--json", cwd=twin)
    code = jobforge("run", "--json", cwd=built)
    link = built / "data" / "bronze"
    assert code.code == full.code == 1
    assert code.err.replace(str(built), "P") == full.err.replace(str(twin), "P")
    assert f"{link} is a symbolic link" in code.err, code.err
    assert "Traceback" not in code.err


def test_a_moved_project_is_answered_by_the_index_once_its_delivery_is_recorded(
    built: Path, tmp_path: Path
) -> None:
    """A project copied to another folder reads its sources from other paths:
    the staged batch's bytes come again from a path it was not read from, a
    duplicate delivery, recorded once. From then on nothing is written, and the
    index answers the runs, as it does for an unmoved project."""
    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(built, moved, symlinks=True)
    (moved / INDEX).unlink()
    code, first, engine = _engine_run(moved)
    assert code == 0 and engine != "ENGINE "
    staged = first[0]
    assert (staged["layer"], staged["status"]) == ("staged", "duplicate")
    old_source = built / "sources" / "noc_structure_en.csv"
    assert staged["reason"].endswith(f"({old_source.as_posix()})"), staged["reason"]
    assert [s["status"] for s in first[1:]] == ["up to date"] * 3
    assert (moved / INDEX).is_file()  # kept: the run after the record writes nothing
    code, again, engine = _engine_run(moved)
    assert code == 0 and engine == "ENGINE "  # answered by the index
    (moved / INDEX).unlink()
    full_code, full, full_engine = _engine_run(moved)  # the full check's answer
    assert full_engine != "ENGINE "
    assert (code, again) == (full_code, full)
    assert again[0]["status"] == "duplicate" and again[0]["rows_out"] == 822
    # the delivery was recorded once, by the first run
    records = [
        json.loads(p.read_text())
        for p in (moved / "data" / "catalog" / "lineage" / "structure").rglob("*.json")
    ]
    skipped = [r for r in records if r.get("status") == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["source_file"] == (moved / "sources" / "noc_structure_en.csv").as_posix()
