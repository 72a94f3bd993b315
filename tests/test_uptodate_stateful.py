"""The up-to-date index answers as the full check would, whatever a project
lives through between runs (issue 21): a stateful property test.

The index (:mod:`jobforge.project.uptodate`) lets a run skip a table's check
when every file, listing and glob the check read is as it was. It is a cache:
it may only ever save work, never change an answer. Hypothesis drives two twin
projects (two source tables of real files, each with a gold table built from
it) through the same random sequence of changes: a byte of a source changed
with its size and modification time kept, a row appended, a source rewritten
with its own bytes or only touched, a source put back to bytes it held before,
a pointer rewritten with its own bytes, the project file edited. After each
change both are run in process (``run_project``); one keeps its index, the
other has it removed before every run (the full check). Both runs must report
the same steps with the same outcomes and counts, and a run right after, with
nothing changed, must find every step up to date.

CI runs a few examples (``JOBFORGE_STATEFUL_EXAMPLES``, default 5, of up to
``JOBFORGE_STATEFUL_STEPS`` changes, default 6), as tests/test_lineage_stateful.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from jobforge.errors import JobforgeError
from jobforge.project import runner
from jobforge.project.loader import load_project
from jobforge.project.runner import run_project

from .conftest import REAL_DATA
from .test_uptodate_per_table import INDEX, PROJECT

EXAMPLES = int(os.environ.get("JOBFORGE_STATEFUL_EXAMPLES", "5"))
STEPS = int(os.environ.get("JOBFORGE_STATEFUL_STEPS", "6"))
SOURCES = ("noc_structure_en.csv", "noc2021_onet26.csv")
KEYS = ("table", "layer", "status", "rows_in", "rows_out", "rows_quarantined", "error", "reason")


def _build(folder: Path) -> Path:
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(PROJECT)
    for name in SOURCES:
        shutil.copyfile(REAL_DATA / name, folder / "sources" / name)
    return folder


def _outcome(folder: Path, asked: list[str] | None = None) -> list[tuple[object, ...]]:
    """One whole run of the project in ``folder``: each step's outcome and counts,
    with the folder's path taken out of any error (the twins live apart).
    ``asked`` learns each table the run's up-to-date check was run on (the real
    check runs; a table the index answers is not asked about)."""
    real = runner._up_to_date

    def noting(engine, project, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if asked is not None:
            asked.append(name)
        return real(engine, project, name, *args, **kwargs)

    runner._up_to_date = noting
    try:
        report = run_project(load_project(folder / "jobforge.toml"), jobs=1)
    except JobforgeError as exc:  # refused before any step (a header changed, say)
        return [(type(exc).__name__, str(exc).replace(str(folder), "<project>"))]
    finally:
        runner._up_to_date = real
    steps = report.as_dicts()
    return [tuple(str(s[k]).replace(str(folder), "<project>") for k in KEYS) for s in steps]


class IndexedAndFull(RuleBasedStateMachine):
    """Two twins: ``indexed`` keeps its up-to-date index, ``full`` never has one."""

    @initialize()
    def build(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="jobforge-uptodate-"))
        self.indexed = _build(self.root / "indexed")
        self.full = _build(self.root / "full")
        self.history: dict[str, list[bytes]] = {
            name: [(REAL_DATA / name).read_bytes()] for name in SOURCES
        }
        self._run_both()

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _run_both(self) -> None:
        (self.full / INDEX).unlink(missing_ok=True)
        full = _outcome(self.full)
        indexed = _outcome(self.indexed)
        assert indexed == full
        if all(
            len(step) > 2 and step[2] in ("success", "partial", "up to date") for step in indexed
        ):
            # and then nothing changed: every step is up to date, as the full check says
            (self.full / INDEX).unlink(missing_ok=True)
            asked: list[str] = []
            again = _outcome(self.indexed, asked)
            assert again == _outcome(self.full)
            assert {step[2] for step in again} == {"up to date"}
            assert asked == []  # every table answered by the index: it is in use

    def _each(self, name: str) -> list[Path]:
        return [self.indexed / "sources" / name, self.full / "sources" / name]

    def _write(self, name: str, data: bytes, keep_time: bool = False) -> None:
        for path in self._each(name):
            before = path.stat()
            path.write_bytes(data)
            if keep_time:
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.history[name].append(data)

    @rule(name=st.sampled_from(SOURCES), where=st.integers(0, 10_000))
    def change_a_byte_keeping_size_and_time(self, name: str, where: int) -> None:
        current = self._each(name)[0].read_bytes()
        letters = [i for i, b in enumerate(current) if 65 <= b <= 90 or 97 <= b <= 122]
        at = letters[where % len(letters)]
        flipped = current[:at] + bytes([current[at] ^ 0x20]) + current[at + 1 :]
        self._write(name, flipped, keep_time=True)
        self._run_both()

    @rule(name=st.sampled_from(SOURCES), row=st.integers(1, 500))
    def append_a_row_seen_before(self, name: str, row: int) -> None:
        current = self._each(name)[0].read_bytes()
        lines = current.splitlines(keepends=True)
        line = lines[row % (len(lines) - 1) + 1]  # a data row, not the header
        ending = b"" if current.endswith((b"\n", b"\r")) else b"\r\n"
        self._write(name, current + ending + line.rstrip(b"\r\n") + b"\r\n")
        self._run_both()

    @rule(name=st.sampled_from(SOURCES), rewrite=st.booleans())
    def rewrite_or_touch_with_the_same_bytes(self, name: str, rewrite: bool) -> None:
        for path in self._each(name):
            if rewrite:  # a new file (another inode) with the same bytes
                copy = path.with_name(path.name + ".new")
                copy.write_bytes(path.read_bytes())
                copy.replace(path)
            else:
                os.utime(path)
        self._run_both()

    @rule(name=st.sampled_from(SOURCES), back=st.integers(0, 20))
    def put_back_bytes_held_before(self, name: str, back: int) -> None:
        earlier = self.history[name]
        self._write(name, earlier[back % len(earlier)])
        self._run_both()

    @rule(
        layer=st.sampled_from(["staged", "bronze", "silver"]),
        name=st.sampled_from(["structure", "onet"]),
    )
    def rewrite_a_pointer_with_its_own_bytes(self, layer: str, name: str) -> None:
        for folder in (self.indexed, self.full):
            pointer = folder / "data" / layer / name / "_current.json"
            if pointer.exists():
                copy = pointer.with_name("pointer.copy")
                copy.write_bytes(pointer.read_bytes())
                copy.replace(pointer)
        self._run_both()

    @rule()
    def edit_the_project_file(self) -> None:
        for folder in (self.indexed, self.full):
            toml = folder / "jobforge.toml"
            text = toml.read_text()
            edited = (
                text.replace("level 1 to 5", "a level from 1 to 5")
                if "level 1 to 5" in text
                else text.replace("a level from 1 to 5", "level 1 to 5")
            )
            toml.write_text(edited)
        self._run_both()


def test_the_index_answers_as_the_full_check_whatever_happens() -> None:
    run_state_machine_as_test(
        IndexedAndFull,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
