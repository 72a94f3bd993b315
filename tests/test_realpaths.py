"""``reads.RealPaths`` resolves many paths as ``os.path.realpath`` does.

The project checks resolve every source of a project (hundreds) with one
resolver, each folder once: whatever the tree (links to files, to folders, to
nothing, chains and loops of links, ``..`` after a link), every answer must be
the one ``os.path.realpath`` gives, and the recording must note it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.storage import reads

NAMES = ["a", "b", "c", "d"]

# what each name in each of three folders is: absent, a file, a folder, or a link
# to one of a few targets (relative or absolute, some of them links themselves)
KIND = st.sampled_from(["absent", "file", "folder", "link"])
TARGETS = [
    "a",
    "../f1/b",
    "../f2",
    "missing",
    "{root}/f0/c",
    "{root}/f1",
    "{root}/loop1",
    "..",
    ".",
]


def build(root: Path, layout: list[tuple[str, str, str]]) -> None:
    for folder in ("f0", "f1", "f2"):
        (root / folder).mkdir()
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("f1", root / "linked")
    for folder, name, what in layout:
        path = root / folder / name
        if os.path.lexists(path):
            continue
        if what == "file":
            path.write_text("x")
        elif what == "folder":
            path.mkdir()
        elif what.startswith("link:"):
            os.symlink(what[5:].format(root=root), path)


ENTRY = st.tuples(
    st.sampled_from(["f0", "f1", "f2"]),
    st.sampled_from(NAMES),
    st.one_of(
        st.sampled_from(["absent", "file", "folder"]),
        st.sampled_from(TARGETS).map(lambda t: f"link:{t}"),
    ),
)

QUERIES = [
    f"{folder}/{name}"
    for folder in ("f0", "f1", "f2", "linked", "loop1", "f0/a", "f1/b", "f2/c")
    for name in NAMES
] + ["f0", "linked", "loop1", "f0/../f1/a", "linked/../f2/b", "f0/./a", "f1/"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layout=st.lists(ENTRY, max_size=12))
def test_every_path_resolves_as_realpath_does(tmp_path_factory, layout) -> None:
    root = tmp_path_factory.mktemp("tree")
    build(root, layout)
    resolve = reads.RealPaths()
    for query in QUERIES + QUERIES:  # twice: the second pass answers from the kept folders
        path = f"{root}/{query}"
        assert resolve(path) == os.path.realpath(path), query


def test_a_link_in_the_folder_is_followed(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.csv").write_text("a\n")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    os.symlink(tmp_path / "real" / "x.csv", tmp_path / "real" / "y.csv")
    resolve = reads.RealPaths()
    assert resolve(tmp_path / "alias" / "x.csv") == str(tmp_path / "real" / "x.csv")
    assert resolve(tmp_path / "alias" / "y.csv") == str(tmp_path / "real" / "x.csv")
    assert resolve(tmp_path / "alias" / "z.csv") == str(tmp_path / "real" / "z.csv")
    monkeypatch.chdir(tmp_path)
    assert resolve("alias/y.csv") == str(tmp_path / "real" / "x.csv")
    assert resolve("alias/../real/x.csv") == os.path.realpath("alias/../real/x.csv")


@pytest.mark.parametrize("query", ["alias/x.csv", "real/x.csv", "alias/../real/x.csv"])
def test_the_recording_notes_what_realpath_notes(tmp_path: Path, query: str) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.csv").write_text("a\n")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    path = str(tmp_path / query)
    one, other = reads.Reads(), reads.Reads()
    with reads.recording(one):
        reads.RealPaths()(path)
    with reads.recording(other):
        reads.realpath(path)
    assert one.resolved == other.resolved == {os.path.abspath(path): os.path.realpath(path)}
