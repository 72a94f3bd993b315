"""Where a source pattern's fixed folder ends (``roots._pattern_parts``, which
joins and normalises the pattern as strings): for any pattern, what the
component-wise working it replaced (``Path`` joins, then each component
searched for a wildcard) gives."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from jobforge.storage.roots import _MAGIC, _pattern_parts

PIECES = st.sampled_from(["a", "b.csv", ".", "..", "", "*", "*.csv", "x?", "[ab]", "**", "c d"])
PATTERNS = st.builds(
    lambda lead, pieces, tail: lead + "/".join(pieces) + tail,
    st.sampled_from(["", "/", "//", "./", "../"]),
    st.lists(PIECES, max_size=5),
    st.sampled_from(["", "/"]),
)
BASES = st.sampled_from([Path("/project"), Path("/projects/[2026]"), Path("/a b/c")])


def _by_components(pattern: str, base: Path) -> tuple[Path, list[str], bool]:
    """The pattern's parts as ``_pattern_parts`` worked them out before: from
    ``Path`` objects, component by component (the reference it is held to)."""
    path = Path(pattern)
    if not path.is_absolute():
        path = base / path
    parts = Path(os.path.normpath(path)).parts
    for index, part in enumerate(parts):
        if _MAGIC.search(part):
            return Path(*parts[:index]), list(parts[index:]), False
    return Path(*parts), [], True


@given(pattern=PATTERNS, base=BASES)
def test_a_pattern_splits_as_its_components_say(pattern: str, base: Path) -> None:
    assert _pattern_parts(pattern, base) == _by_components(pattern, base)


def test_a_literal_path_and_a_glob() -> None:
    base = Path("/project")
    assert _pattern_parts("sources/noc.csv", base) == (Path("/project/sources/noc.csv"), [], True)
    assert _pattern_parts("../shared/x.csv", base) == (Path("/shared/x.csv"), [], True)
    assert _pattern_parts("sources/*/x.csv", base) == (
        Path("/project/sources"),
        ["*", "x.csv"],
        False,
    )
    # a wildcard in the project's own folder name counts, as a component would
    assert _pattern_parts("x.csv", Path("/p[1]")) == (Path("/"), ["p[1]", "x.csv"], False)
