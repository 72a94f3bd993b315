"""A data root jobforge must not write is refused with one line, before anything
is created: a NUL, a file, the filesystem root, a system folder, and, in a
project, the project folder, a parent of it, a folder holding sources or one
inside a folder sources are read from; a source inside a folder jobforge
writes is not read.

Each case through the library (``PipelineConfig``, ``project_config``, the
engine) and through the real ``jobforge`` script, for every origin of a data
root: ``--data-root``, ``jobforge.toml``'s ``data_root`` and
``$JOBFORGE_DATA_ROOT``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from jobforge import hookimpl
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import ConfigError, DataRootError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project
from jobforge.testing import isolated_config

from .cli_helpers import jobforge
from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
NOC_ROWS = 516  # data lines of noc_structure_en.csv (wc -l: 517, minus the header)


def tree(root: Path) -> list[str]:
    """Every path under ``root``, relative, sorted (folders included)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def make_project(folder: Path, data_root: str, source: str = "sources/noc.csv") -> Path:
    """A project in ``folder`` with one source table ``noc`` (``sources/noc.csv``,
    the real NOC structure file) and the given ``data_root`` (a TOML string)."""
    (folder / "sources").mkdir(parents=True)
    shutil.copyfile(NOC, folder / "sources" / "noc.csv")
    (folder / "afile").write_text("not a folder\n", encoding="utf-8")
    path = folder / "jobforge.toml"
    path.write_text(
        f'[project]\ndata_root = "{data_root}"\n\n[tables.noc]\nsource = "{source}"\n',
        encoding="utf-8",
    )
    return path


# -- the data root itself ---------------------------------------------------------------


def test_a_nul_character_is_refused() -> None:
    with pytest.raises(DataRootError) as caught:
        PipelineConfig("da\x00ta")
    assert str(caught.value) == (
        "data_root 'da\\x00ta': contains a NUL character; expected a folder path"
    )
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, ConfigError)


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(DataRootError, match=r"^data_root '': empty; expected a folder path$"):
        PipelineConfig("")


def test_a_file_and_a_folder_below_a_file_are_refused(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    with pytest.raises(DataRootError) as caught:
        PipelineConfig(afile)
    assert str(caught.value) == f"data_root {str(afile)!r}: is a file; expected a folder"
    with pytest.raises(DataRootError) as caught:
        PipelineConfig(afile / "sub" / "data")
    assert str(caught.value) == (
        f"data_root {str(afile / 'sub' / 'data')!r}: {afile} is a file; expected a folder"
    )
    with pytest.raises(DataRootError) as caught:
        PipelineConfig(afile / ".." / "data")  # the system does not go up through a file
    assert str(caught.value) == (
        f"data_root {str(afile / '..' / 'data')!r}: {afile} is a file; expected a folder"
    )
    assert tree(tmp_path) == ["afile"]


def test_the_filesystem_root_is_refused_also_through_a_link_or_dots(tmp_path: Path) -> None:
    link = tmp_path / "to-root"
    link.symlink_to("/")
    dots = "/".join([str(tmp_path), *[".."] * len(tmp_path.parts)])
    for value in ("/", str(link), dots, "//"):
        with pytest.raises(DataRootError) as caught:
            PipelineConfig(value)
        assert str(caught.value) == (
            f"data_root {value!r}: is the filesystem root; "
            "expected a folder of its own (such as ./data)"
        )


@pytest.mark.skipif(os.name != "posix", reason="POSIX system folders")
@pytest.mark.parametrize("system", ["/proc", "/sys", "/dev"])
def test_system_folders_are_refused(tmp_path: Path, system: str) -> None:
    target = f"{system}/jobforge-test-data"
    link = tmp_path / "link"
    link.symlink_to(system)
    for value in (system, target, str(link / "x")):
        with pytest.raises(DataRootError) as caught:
            PipelineConfig(value)
        assert str(caught.value) == (
            f"data_root {value!r}: is under {system}, a system folder; expected a folder of its own"
        )
    assert not Path(target).exists()


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc")
def test_a_magic_link_of_proc_is_refused_though_it_resolves_elsewhere(tmp_path: Path) -> None:
    """``/proc/self/cwd/data`` resolves to ``./data``; it is refused by its name."""
    value = "/proc/self/cwd/data"
    with pytest.raises(DataRootError, match="is under /proc, a system folder"):
        PipelineConfig(value)


def test_a_link_to_a_missing_target_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(DataRootError) as caught:
        PipelineConfig(link / "data")
    assert str(caught.value) == (
        f"data_root {str(link / 'data')!r}: {link} is a link to a missing target; expected a folder"
    )
    assert tree(tmp_path) == ["dangling"]


def test_the_environment_variable_is_checked_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    monkeypatch.setenv("JOBFORGE_DATA_ROOT", str(afile))
    with pytest.raises(DataRootError) as caught:
        PipelineConfig()
    assert str(caught.value) == (
        f"$JOBFORGE_DATA_ROOT {str(afile)!r}: is a file; expected a folder"
    )


def test_a_good_data_root_is_accepted_and_nothing_is_created_by_the_config(
    tmp_path: Path,
) -> None:
    config = PipelineConfig(tmp_path / "new" / "data")
    assert config.data_root == tmp_path / "new" / "data"
    assert tree(tmp_path) == []


class _LayerAt:
    """A layout that puts one layer at a given folder."""

    def __init__(self, layer: Layer, folder: Path) -> None:
        self.layer, self.folder = layer, folder

    @hookimpl
    def jobforge_resolve_layer_path(self, config: PipelineConfig, layer: Layer) -> Path | None:
        return self.folder if layer is self.layer else None


def test_a_layout_folder_is_checked_before_any_folder_is_created(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    for folder, reason in (
        (afile, "is a file; expected a folder"),
        (Path("/"), "is the filesystem root; expected a folder of its own (such as ./data)"),
    ):
        config = isolated_config(tmp_path / "data", plugins=[_LayerAt(Layer.GOLD, folder)])
        with pytest.raises(DataRootError) as caught:
            PipelineEngine(config)
        assert str(caught.value) == f"layout folder {str(folder)!r}: {reason}"
        assert tree(tmp_path) == ["afile"]


# -- a project's data root --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_root", "reason"),
    [
        ("/", "is the filesystem root; expected a folder of its own (such as ./data)"),
        (".", "is the project folder; expected a folder of its own inside it (such as {p}/data)"),
        ("..", "contains the project folder {p}"),
        ("../..", "contains the project folder {p}"),
        ("sources", "contains tables.noc.source 'sources/noc.csv'"),
        (
            "sources/data",
            "is inside {p}/sources, the folder of tables.noc.source 'sources/noc.csv'; "
            "expected a folder apart from the sources",
        ),
        ("afile", "is a file; expected a folder"),
        ("", "empty; expected a folder path"),
        ("\\u0000", "contains a NUL character; expected a folder path"),
    ],
)
def test_a_project_data_root_that_is_not_a_folder_of_its_own_is_refused(
    tmp_path: Path, data_root: str, reason: str
) -> None:
    folder = tmp_path / "p"
    path = make_project(folder, data_root)
    project = load_project(path)
    declared = project.spec.project.data_root
    before = tree(tmp_path)
    with pytest.raises(DataRootError) as caught:
        project_config(project)
    assert str(caught.value) == (
        f"{path}: project.data_root {declared!r}: {reason.format(p=folder)}"
    )
    # the same refusal through the command line, for a command that reads
    # (status) and one that writes (run): exit 2, one line, nothing created
    for command in (["status"], ["run"]) if data_root != "/" else (["status"],):
        result = jobforge(*command, cwd=folder)
        assert (result.code, result.out) == (2, ""), result.err
        assert result.err.splitlines() == [f"error: {caught.value}"]
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("**/*.csv", True),  # reaches every folder below the project, the data root too
        ("*/*.csv", True),  # can match data/x.csv
        ("*/*/*.parquet", True),
        ("d*/*.json", True),
        ("s*/*.csv", False),  # can only match below sources/
        ("*.csv", False),  # the project folder's own files
        ("sources/**/*.csv", False),
    ],
)
def test_a_source_pattern_that_can_reach_into_the_data_root_is_refused(
    tmp_path: Path, source: str, refused: bool
) -> None:
    folder = tmp_path / "p"
    path = make_project(folder, "data", source)
    project = load_project(path)
    if not refused:
        assert project_config(project).data_root == folder / "data"
        return
    with pytest.raises(DataRootError) as caught:
        project_config(project)
    assert str(caught.value) == (
        f"{path}: project.data_root 'data': tables.noc.source {source!r} can match files "
        "inside it; expected a pattern that stays outside the data root"
    )


def test_sources_beside_the_project_folder_are_fine_unless_a_pattern_reaches_in(
    tmp_path: Path,
) -> None:
    """``source = "../noc.csv"``: the data root is inside the source's folder,
    but so is the project: a literal file, or a pattern that cannot match
    inside the data root, is fine."""
    shutil.copyfile(NOC, tmp_path / "noc.csv")
    for index, (source, refused) in enumerate(
        [
            ("../noc.csv", False),
            ("../*.csv", False),
            ("../*/x.csv", False),  # p/x.csv at most, never p/data/...
            ("../**/*.csv", True),
            ("../*/*/*.csv", True),  # p/data/*.csv
        ]
    ):
        folder = tmp_path / f"p{index}"
        project = load_project(make_project(folder, "data", source))
        if refused:
            with pytest.raises(DataRootError, match="can match files inside it"):
                project_config(project)
        else:
            assert project_config(project).data_root == folder / "data"


def test_a_data_root_inside_a_source_folder_elsewhere_is_refused(tmp_path: Path) -> None:
    """An absolute source folder that holds the data root, the project being
    elsewhere."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(NOC, inbox / "noc.csv")
    folder = tmp_path / "p"
    project = load_project(make_project(folder, str(inbox / "jobforge"), str(inbox / "*.csv")))
    with pytest.raises(DataRootError) as caught:
        project_config(project)
    assert str(caught.value) == (
        f"{project.path}: project.data_root {str(inbox / 'jobforge')!r}: is inside {inbox}, "
        f"the folder of tables.noc.source {str(inbox / '*.csv')!r}; "
        "expected a folder apart from the sources"
    )


def test_the_data_root_option_is_checked_against_the_project(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_project(folder, "data")
    before = tree(tmp_path)
    for value, reason in (
        (
            str(folder),
            f"is the project folder; expected a folder of its own inside it "
            f"(such as {folder}/data)",
        ),
        (
            "sources/out",
            f"is inside {folder}/sources, the folder of tables.noc.source "
            "'sources/noc.csv'; expected a folder apart from the sources",
        ),
        ("afile", "is a file; expected a folder"),
    ):
        result = jobforge("--data-root", value, "run", cwd=folder)
        assert (result.code, result.out) == (2, ""), result.err
        assert result.err.splitlines() == [f"error: --data-root {value!r}: {reason}"]
    assert tree(tmp_path) == before
    # a good one is used, and the project's own data root is left alone
    result = jobforge("--data-root", str(tmp_path / "elsewhere"), "run", cwd=folder)
    assert result.code == 0, result.err
    assert not (folder / "data").exists()
    assert (tmp_path / "elsewhere" / "silver" / "noc").is_dir()


def test_a_layout_plugin_that_puts_a_layer_among_the_sources_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "p"
    project = load_project(make_project(folder, "data"))
    staged = folder / "sources" / "staged"
    config = project_config(project, plugins=[_LayerAt(Layer.STAGED, staged)])
    before = tree(tmp_path)
    with pytest.raises(DataRootError) as caught:
        run_project(project, config=config)
    assert str(caught.value) == (
        f"layout folder {str(staged)!r}: is inside {folder}/sources, the folder of "
        "tables.noc.source 'sources/noc.csv'; expected a folder apart from the sources"
    )
    assert tree(tmp_path) == before


# -- every command, every origin --------------------------------------------------------

COMMANDS = [
    ["ingest", str(NOC), "--table", "noc"],
    ["promote", "noc", "--to", "silver"],
    ["status"],
    ["query", "SELECT 1"],
    ["lineage", "noc"],
    ["catalog", "list"],
    ["quarantine", "list"],
    ["plugins"],
    ["verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_a_bad_data_root_from_the_option_and_the_environment(
    tmp_path: Path, command: list[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    before = tree(tmp_path)
    result = jobforge("--data-root", "afile/data", *command, cwd=tmp_path)
    assert (result.code, result.out) == (2, ""), result.err
    assert result.err.splitlines() == [
        f"error: --data-root 'afile/data': {afile} is a file; expected a folder"
    ]
    result = jobforge(*command, cwd=tmp_path, env={"JOBFORGE_DATA_ROOT": "/proc/jobforge"})
    assert (result.code, result.out) == (2, ""), result.err
    assert result.err.splitlines() == [
        "error: $JOBFORGE_DATA_ROOT '/proc/jobforge': is under /proc, a system folder; "
        "expected a folder of its own"
    ]
    assert tree(tmp_path) == before


def test_the_filesystem_root_is_refused_on_the_command_line(tmp_path: Path) -> None:
    before = sorted(os.listdir("/"))
    for command in (["status"], ["query", "SELECT 1"]):
        result = jobforge("--data-root", "/", *command, cwd=tmp_path)
        assert (result.code, result.out) == (2, ""), result.err
        assert result.err.splitlines() == [
            "error: --data-root '/': is the filesystem root; "
            "expected a folder of its own (such as ./data)"
        ]
    assert sorted(os.listdir("/")) == before
    assert tree(tmp_path) == []


# -- sources inside the folders jobforge writes ----------------------------------------


def test_a_source_inside_a_layer_folder_is_not_read(tmp_path: Path) -> None:
    engine = PipelineEngine(isolated_config(tmp_path / "data"))
    staged = engine.ingest(NOC, "noc").path
    assert staged.parent == tmp_path / "data" / "staged" / "noc"
    before = tree(tmp_path)
    with pytest.raises(DataRootError) as caught:
        engine.ingest(staged, "copy")
    assert str(caught.value) == (
        f"{staged}: is inside {tmp_path / 'data' / 'staged'}, a folder jobforge writes; "
        "expected a source file outside the data root's folders"
    )
    assert tree(tmp_path) == before


def test_a_link_to_a_layer_file_among_the_sources_is_not_read(tmp_path: Path) -> None:
    """A link in ``sources/`` to a lineage record: the run is refused before it
    starts (the first table is not run again either)."""
    folder = tmp_path / "p"
    path = make_project(folder, "data")
    assert jobforge("run", cwd=folder).code == 0
    [record] = (folder / "data" / "catalog" / "lineage" / "noc").glob("*-ingest-*.json")
    link = folder / "sources" / "records" / "zz.json"
    link.parent.mkdir()
    link.symlink_to(record)
    with path.open("a", encoding="utf-8") as file:
        file.write('\n[tables.records]\nsource = "sources/records/*.json"\n')
    before = tree(tmp_path)
    result = jobforge("run", cwd=folder)
    assert (result.code, result.out) == (2, ""), result.err
    lineage = folder / "data" / "catalog" / "lineage"
    assert result.err.splitlines() == [
        f"error: {link}: is inside {lineage}, a folder jobforge writes; "
        "expected a source file outside the data root's folders"
    ]
    assert tree(tmp_path) == before
