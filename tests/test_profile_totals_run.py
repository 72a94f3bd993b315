"""The catalog entries of an appended table, kept from the profile's running
totals run after run (staged, bronze, silver): the figures of every file of
the version, the latest batch's examples in staged, and one footer read per
step when the footer summaries are gone; a full refresh gives the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobforge.catalog import profile as profile_module
from jobforge.catalog.profile import profile_files, summary_cache_file
from jobforge.catalog.totals import read_totals, totals_file
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project

PROJECT = """[project]
name = "totals"
mode = "append"

[tables.tiny]
source = "sources/tiny.csv"

[tables.tiny.bronze]
cast = { value = "int" }

[tables.tiny.silver]
dedupe = ["code"]
"""

LAYERS = ("staged", "bronze", "silver")


@pytest.fixture
def footer_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The footers the profile reads (the real reads, counted; the steps read
    other footers of their own)."""
    read: list[Path] = []
    real = profile_module._summary

    def counted(path: Path, identity: list[int]):  # type: ignore[no-untyped-def]
        read.append(Path(path))
        return real(path, identity)

    monkeypatch.setattr(profile_module, "_summary", counted)
    return read


def test_the_entries_of_an_appended_table_are_its_versions_figures(
    tmp_path: Path, footer_reads: list[Path]
) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "jobforge.toml").write_text(PROJECT)
    project = load_project(tmp_path / "jobforge.toml")
    config = project_config(project)
    for batch in range(1, 6):
        rows = "".join(f"{code}{batch},{value}\n" for value, code in enumerate("ABC", 1))
        (tmp_path / "sources" / "tiny.csv").write_text("code,value\n" + rows)
        for layer in LAYERS:  # without the summaries, a step that is not an append reads all
            summary_cache_file(config, layer, "tiny").unlink(missing_ok=True)
        footer_reads.clear()
        report = run_project(project, full_refresh=batch == 5)
        assert [s.status for s in report.steps] == ["success"] * 3
        if batch in (2, 3, 4):  # appends: the new file's footer alone, in each layer
            assert len(footer_reads) == 3
        for layer in LAYERS:
            entry = config.catalog.entry(layer, "tiny")
            current = config.store.current(layer, "tiny")
            files = config.store.files(layer, "tiny", current)
            held = batch  # a full refresh publishes every batch again
            assert len(files) == held
            assert entry.row_count == 3 * held
            assert entry.file_size_bytes == sum(f.stat().st_size for f in files)
            full = profile_files("tiny", layer, files)
            assert entry.row_count == full.row_count
            kept = read_totals(totals_file(summary_cache_file(config, layer, "tiny")))
            assert kept is not None and (kept.files, kept.rows) == (held, 3 * held)
        staged = config.catalog.entry("staged", "tiny")
        codes = next(c for c in staged.columns if c.name == "code").example_values
        assert codes == [f"A{batch}", f"B{batch}", f"C{batch}"]  # the latest batch's
