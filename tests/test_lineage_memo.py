"""The column lineage of gold SQL, kept per gold table so that a build from the
same SQL over the same columns does not analyse it again
(:mod:`jobforge.engine.lineage_memo`).

The expected lineage of the small query below was worked out by hand from its
SQL; the demo's gold tables are compared with their own first build, whose
lineage ``tests/test_column_lineage_catalog.py`` checks by hand.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobforge
from jobforge.catalog.derivation import Derivation, StepLineage
from jobforge.engine import lineage_memo
from jobforge.engine.column_lineage import sql_lineage
from jobforge.engine.lineage_memo import lineage_json, lineage_key, read_lineage, remembered
from jobforge.pipeline.models import LINEAGE_KINDS
from jobforge.storage.stamps import code_stamp

from .cli_helpers import jobforge as run_jobforge

SQL = "SELECT a.code, a.v + 1 AS w, b.name FROM a JOIN b ON a.code = b.code"
COLUMNS = {"a": ["code", "v", "_lineage"], "b": ["code", "name", "_lineage"]}
LAYERS = {"a": "silver.a", "b": "silver.b"}
BY_HAND = StepLineage(
    {
        "code": Derivation("identity", ("silver.a.code",), "a.code"),
        "w": Derivation("expression", ("silver.a.v",), "a.v + 1"),
        "name": Derivation("identity", ("silver.b.name",), "b.name"),
    }
)


class Counted:
    """The real analysis, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, sql: str, columns: Mapping[str, Sequence[str]], layers: Mapping[str, str]
    ) -> StepLineage:
        self.calls += 1
        return sql_lineage(sql, columns, layers)


def test_the_first_build_analyses_and_keeps_the_next_takes_what_was_kept(tmp_path: Path) -> None:
    memo = tmp_path / "lineage" / "g.json"
    analyse = Counted()
    first = remembered(memo, SQL, COLUMNS, LAYERS, analyse)
    assert first == BY_HAND
    assert analyse.calls == 1 and memo.is_file()
    again = remembered(memo, SQL, COLUMNS, LAYERS, analyse)
    assert again == BY_HAND
    assert list(again.columns) == ["code", "w", "name"]  # the query's order
    assert analyse.calls == 1  # not analysed again
    # a fresh object each time: the caller adds the stamped columns to it
    assert again is not first and again.columns is not first.columns


def test_without_a_memo_file_the_sql_is_always_analysed(tmp_path: Path) -> None:
    analyse = Counted()
    assert remembered(None, SQL, COLUMNS, LAYERS, analyse) == BY_HAND
    assert remembered(None, SQL, COLUMNS, LAYERS, analyse) == BY_HAND
    assert analyse.calls == 2
    assert list(tmp_path.iterdir()) == []


Query = tuple[str, dict[str, list[str]], dict[str, str]]

CHANGES: dict[str, tuple[Query, Query, StepLineage]] = {
    "the sql": (
        (SQL, COLUMNS, LAYERS),
        (SQL.replace("a.v + 1", "a.v * 2"), COLUMNS, LAYERS),
        StepLineage({**BY_HAND.columns, "w": Derivation("expression", ("silver.a.v",), "a.v * 2")}),
    ),
    "an input's columns": (
        ("SELECT * FROM a", {"a": ["code", "v"]}, LAYERS),
        ("SELECT * FROM a", COLUMNS, LAYERS),
        StepLineage(
            {
                "code": Derivation("identity", ("silver.a.code",), "code"),
                "v": Derivation("identity", ("silver.a.v",), "v"),
                "_lineage": Derivation("identity", ("silver.a._lineage",), "_lineage"),
            }
        ),
    ),
    "the layer an input is in": (
        (SQL, COLUMNS, LAYERS),
        (SQL, COLUMNS, {"a": "gold.a", "b": "silver.b"}),
        StepLineage(
            {
                "code": Derivation("identity", ("gold.a.code",), "a.code"),
                "w": Derivation("expression", ("gold.a.v",), "a.v + 1"),
                "name": Derivation("identity", ("silver.b.name",), "b.name"),
            }
        ),
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_another_sql_other_columns_or_layers_are_analysed_again(
    tmp_path: Path, change: str
) -> None:
    memo = tmp_path / "g.json"
    analyse = Counted()
    before, after, expected = CHANGES[change]
    remembered(memo, *before, analyse)
    assert analyse.calls == 1
    assert remembered(memo, *after, analyse) == expected
    assert analyse.calls == 2
    # the memo holds the last key only: the query before it is analysed again
    assert read_lineage(memo, lineage_key(*after)) == expected
    assert read_lineage(memo, lineage_key(*before)) is None


def _valid(key: str) -> dict[str, Any]:
    return json.loads(lineage_json(key, BY_HAND))


BROKEN: dict[str, Any] = {
    "empty": "",
    "not json": "{not json",
    "a list": "[]",
    "another format": {**_valid("KEY"), "format": 2},
    "another key": {**_valid("KEY"), "key": "0" * 64},
    "an unknown kind": {
        **_valid("KEY"),
        "columns": {"code": {"kind": "guessed", "sources": [], "expression": None}},
    },
    "sources not a list": {
        **_valid("KEY"),
        "columns": {"code": {"kind": "identity", "sources": "silver.a.code", "expression": None}},
    },
    "a source not text": {
        **_valid("KEY"),
        "columns": {"code": {"kind": "identity", "sources": [1], "expression": None}},
    },
    "an expression not text": {
        **_valid("KEY"),
        "columns": {"code": {"kind": "identity", "sources": [], "expression": 3}},
    },
    "a field more": {
        **_valid("KEY"),
        "columns": {"code": {"kind": "identity", "sources": [], "expression": None, "x": 1}},
    },
    "no otherwise": {k: v for k, v in _valid("KEY").items() if k != "otherwise"},
    "columns not an object": {**_valid("KEY"), "columns": []},
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_memo_is_analysed_again_and_made_whole(tmp_path: Path, broken: str) -> None:
    memo = tmp_path / "g.json"
    content = BROKEN[broken]
    if isinstance(content, dict):
        key = lineage_key(SQL, COLUMNS, LAYERS)
        content = json.dumps({k: (key if v == "KEY" else v) for k, v in content.items()})
    memo.write_text(content, encoding="utf-8")
    analyse = Counted()
    assert remembered(memo, SQL, COLUMNS, LAYERS, analyse) == BY_HAND
    assert analyse.calls == 1
    assert read_lineage(memo, lineage_key(SQL, COLUMNS, LAYERS)) == BY_HAND


def test_lineage_not_read_from_the_sql_is_kept_with_its_reason(tmp_path: Path) -> None:
    memo = tmp_path / "g.json"
    analyse = Counted()
    first = remembered(memo, "SELECT nope FROM a", COLUMNS, LAYERS, analyse)
    assert first.columns == {}
    assert first.otherwise.kind == "unknown"
    assert first.otherwise.expression is not None
    assert first.otherwise.expression.startswith("lineage not read from the SQL: ")
    assert "nope" in first.otherwise.expression
    assert remembered(memo, "SELECT nope FROM a", COLUMNS, LAYERS, analyse) == first
    assert analyse.calls == 1


def test_the_analysis_code_and_jobforge_version_are_in_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "column_lineage.py"
    code.write_text("# one\n")
    package = tmp_path / "sql"
    package.mkdir()
    (package / "lineage.py").write_text("# two\n")
    monkeypatch.setattr(lineage_memo, "_COLUMN_LINEAGE", code)
    monkeypatch.setattr(lineage_memo, "_SQL_PACKAGE", package)
    keys = [lineage_key(SQL, COLUMNS, LAYERS)]
    assert lineage_key(SQL, COLUMNS, LAYERS) == keys[0]
    code.write_text("# one, changed\n")
    keys.append(lineage_key(SQL, COLUMNS, LAYERS))
    (package / "lineage.py").write_text("# two, changed\n")
    keys.append(lineage_key(SQL, COLUMNS, LAYERS))
    (package / "scope.py").write_text("# a module more\n")
    keys.append(lineage_key(SQL, COLUMNS, LAYERS))
    monkeypatch.setattr(jobforge, "__version__", "0.0.0-other")
    keys.append(lineage_key(SQL, COLUMNS, LAYERS))
    assert len(set(keys)) == len(keys)  # each change is another key


def test_the_real_analysis_files_are_the_sql_package_and_column_lineage() -> None:
    assert lineage_memo._COLUMN_LINEAGE.is_file()
    assert lineage_memo._COLUMN_LINEAGE.name == "column_lineage.py"
    names = {Path(str(path)).name for path, *_ in code_stamp(lineage_memo._SQL_PACKAGE)}
    assert {"lineage.py", "parse.py", "scope.py", "__init__.py"} <= names
    origin, stamp, version = lineage_memo._sqlglot_stamp()
    assert Path(origin).name == "__init__.py" and Path(origin).parent.name == "sqlglot"
    assert stamp is not None and version is not None


texts = st.text(max_size=12)
derivations = st.builds(
    Derivation,
    kind=st.sampled_from(LINEAGE_KINDS),
    sources=st.lists(texts, max_size=3).map(tuple),
    expression=st.none() | texts,
)


@given(
    columns=st.dictionaries(texts, derivations, max_size=5),
    otherwise=derivations,
    key=st.text(min_size=1, max_size=64),
)
def test_any_lineage_is_read_back_as_it_was_kept(
    tmp_path_factory: pytest.TempPathFactory,
    columns: dict[str, Derivation],
    otherwise: Derivation,
    key: str,
) -> None:
    memo = tmp_path_factory.mktemp("memo") / "g.json"
    lineage = StepLineage(columns, otherwise)
    memo.write_text(lineage_json(key, lineage), encoding="utf-8")
    read = read_lineage(memo, key)
    assert read == lineage
    assert read is not None and list(read.columns) == list(columns)  # in the same order
    assert read_lineage(memo, key + "x") is None


# -- a real project, through the command ------------------------------------------------------

GOLD = ("dim_noc", "fact_employment_projection", "occupation_outlook")


def _gold_lineage(project: Path) -> dict[str, list[tuple[str, list[str], str, str | None]]]:
    found = {}
    for table in GOLD:
        entry = json.loads((project / "data/catalog/tables/gold" / f"{table}.json").read_text())
        found[table] = [
            (c["name"], c["source_columns"], c["lineage_kind"], c["lineage_expression"])
            for c in entry["columns"]
        ]
    return found


def _rebuilt(project: Path) -> tuple[list[str], bool]:
    """Run every step again; (the gold tables that ran, whether sqlglot was imported)."""
    done = run_jobforge(
        "run",
        "-q",
        "--full-refresh",
        "--json",
        cwd=project,
        env={"PYTHONPROFILEIMPORTTIME": "1"},
        timeout=300,
    )
    assert done.code == 0, done.err[-3000:]
    steps = json.loads(done.out)
    ran = [s["table"] for s in steps if s["layer"] == "gold" and s["status"] == "success"]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.err.splitlines()]
    return ran, any(name.split(".")[0] == "sqlglot" for name in imported)


def test_the_demo_built_again_takes_its_gold_lineage_from_what_was_kept(tmp_path: Path) -> None:
    done = run_jobforge("demo", "warehouse", "--quiet", cwd=tmp_path, timeout=300)
    assert done.code == 0, done.err
    project = tmp_path / "warehouse"
    memos = project / "data" / ".locks" / "lineage"
    assert sorted(p.name for p in memos.iterdir()) == sorted(f"{t}.json" for t in GOLD)
    first = _gold_lineage(project)
    teer = next(c for c in first["dim_noc"] if c[0] == "teer")
    assert teer[1:] == (
        ["silver.noc_structure.noc_code"],
        "expression",
        "CAST(SUBSTRING(u.noc_code, 2, 1) AS INT)",
    )

    ran, imported = _rebuilt(project)
    assert sorted(ran) == sorted(GOLD)
    assert not imported  # every gold table's lineage came from what was kept
    assert _gold_lineage(project) == first

    shutil.rmtree(memos)  # nothing kept: the SQL is analysed again, with the same lineage
    ran, imported = _rebuilt(project)
    assert sorted(ran) == sorted(GOLD)
    assert imported
    assert _gold_lineage(project) == first
    assert sorted(p.name for p in memos.iterdir()) == sorted(f"{t}.json" for t in GOLD)
