"""A guard for the up-to-date index (:mod:`jobforge.project.uptodate`): the
index keeps what the full up-to-date check *read* (files opened, folders listed,
globs), seen through Python's audit events. A check that decided from a
``stat`` alone (``Path.exists``, ``is_file``, a size or a time) raises no such
event, so a change it would notice could go unseen by the index. Every path
the check stats must therefore be one whose state the index holds: a file it
read, a folder it listed, a name in a folder it listed, a glob's match, or a
table's journal (which :func:`~jobforge.project.uptodate.answered` checks itself).

In process, on a small project of a real file; ``os.stat`` and ``os.lstat`` are
wrapped (they note the path, then call the real function) only around the check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import Layer
from jobforge.project import uptodate
from jobforge.project.loader import load_project
from jobforge.project.runner import _up_to_date, project_config, run_project
from jobforge.storage.reads import Reads

from .test_nochange_run import _project


def _stats_during(monkeypatch: pytest.MonkeyPatch, under: Path) -> list[str]:
    """A list that learns each path below ``under`` that ``os.stat`` or
    ``os.lstat`` is asked about from now on."""
    noted: list[str] = []
    real_stat, real_lstat = os.stat, os.lstat
    root = str(under)

    def note(path: object) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            full = os.path.abspath(os.fsdecode(path))
            if full.startswith(root):
                noted.append(full)

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        note(path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    def lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        note(path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "lstat", lstat)
    return noted


def test_every_path_the_up_to_date_check_stats_is_one_the_index_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(_project(tmp_path) / "jobforge.toml")
    config = project_config(project)
    report = run_project(project, config=config)
    assert {s.status for s in report.steps} <= {"success", "partial"}
    engine = PipelineEngine(config)
    reads: dict[str, Reads] = {}
    found: list[object] = []
    statted = _stats_during(monkeypatch, tmp_path)
    for name in project.order:
        assert _up_to_date(engine, project, name, Layer.GOLD, found.append, reads), name
    monkeypatch.undo()
    assert len(found) == 4  # staged, bronze, silver of structure; gold levels
    files = {p for r in reads.values() for p in r.files}
    folders = {p for r in reads.values() for p, state in r.folders.items() if state}
    matches = {m for r in reads.values() for ms in r.globs.values() for m in ms}
    # a resolved path was resolved by lstat-ing each folder on its way: the index
    # holds the answer (the real path), so those stats are its
    resolved = {str(a) for r in reads.values() for p in r.resolved for a in Path(p).parents}
    resolved |= {p for r in reads.values() for p in r.resolved}
    locks = config.locks_path()
    journals = {str(locks / j) for j in uptodate.journal_names(list(project.order))}

    def held(path: str) -> bool:
        if path in files or path in folders or os.path.dirname(path) in folders:
            return True
        if path in matches or path in resolved or path in journals:
            return True
        # the locks folder and its lock files (taking a lock stats them; their
        # state decides nothing the check reports)
        return path == str(locks) or (
            os.path.dirname(path) == str(locks) and path.endswith((".lock", ".holder"))
        )

    assert statted  # the check does stat (the guard sees it)
    assert sorted({p for p in statted if not held(p)}) == []
    assert any(r.resolved for r in reads.values())  # the source's real path, say
