"""A project of many small tables, built deterministically from the real sample files.

:func:`build` writes ``jobforge.toml`` and ``sources/`` under a folder: ``tables``
source tables, each a variant of one of the six real CSV files in
``tests/data/real`` (table ``i`` is variant ``i // 6`` of file ``i % 6``), with
renames, casts, one error rule, de-duplication (by key or whole row) and the
control totals of the cast (number) columns, and gold tables that join two of
them. A variant ``v > 0`` drops every 13th row (starting at ``v % 13``);
every variant breaks its rule in one row and repeats ``1 + v % 3`` earlier
rows exactly at its end, so each table quarantines and de-duplicates
something. What every step must count is computed here with Python's ``csv``
module, independently of jobforge, and returned with the project
(:class:`Expected`), so the runner can check a run before it reports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"

Row = list[str]


@dataclass(frozen=True)
class Kind:
    """One real file and how a project declares a table built from it."""

    key: str
    file: str
    rename: dict[str, str]
    cast: dict[str, object]
    dedupe: list[str] | str
    rule: str
    passes: Callable[[Row], bool]
    """The rule, on a source row (as the CSV holds it)."""
    breaks: Callable[[Row], None]
    """Make a row break the rule (in place)."""
    dedupe_column: int | None
    """Index of the de-duplication key (``None``: the whole row)."""


def _int_between(index: int, low: int, high: int) -> Callable[[Row], bool]:
    return lambda row: low <= int(row[index]) <= high


def _set(index: int, value: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row[index] = value

    return apply


KINDS: tuple[Kind, ...] = (
    Kind(
        key="noc_structure",
        file="noc_structure_en.csv",
        rename={
            "Level": "level",
            "Hierarchical structure": "hierarchy",
            "Code - NOC 2021 V1.0": "noc_code",
            "Class title": "class_title",
            "Class definition": "class_definition",
        },
        cast={"level": "int"},
        dedupe=["noc_code"],
        rule="level BETWEEN 1 AND 5",
        passes=_int_between(0, 1, 5),
        breaks=_set(0, "7"),
        dedupe_column=2,
    ),
    Kind(
        key="employment",
        file="employment_emploi_2024_2033_noc2021.csv",
        rename={
            "Code": "noc_code",
            "Occupation Name": "occupation_name",
            "Nom de la profession": "occupation_name_fr",
            **{str(year): f"y{year}" for year in range(2023, 2034)},
        },
        cast={year: {"type": "int", "null_values": ["N/A"]} for year in ("y2023", "y2033")},
        dedupe=["noc_code"],
        rule="y2023 IS NULL OR y2023 >= 0",
        passes=lambda row: row[3] in ("", "N/A") or int(row[3]) >= 0,
        breaks=_set(3, "-5"),
        dedupe_column=0,
    ),
    Kind(
        key="abilities",
        file="abilities_oasis_2023_v1.0.csv",
        rename={
            "OaSIS Code - Final": "oasis_code",
            "OaSIS Label - Final": "oasis_label",
            "Deductive Reasoning ": "deductive_reasoning",
        },
        cast={"deductive_reasoning": "int"},
        dedupe=["oasis_code"],
        rule="deductive_reasoning BETWEEN 0 AND 5",
        passes=_int_between(3, 0, 5),
        breaks=_set(3, "8"),
        dedupe_column=0,
    ),
    Kind(
        key="skills",
        file="skills_oasis_2023_v1.0.csv",
        rename={
            "OaSIS Code - Final": "oasis_code",
            "OaSIS Label - Final": "oasis_label",
            "Reading Comprehension": "reading_comprehension",
        },
        cast={"reading_comprehension": "int"},
        dedupe=["oasis_code"],
        rule="reading_comprehension BETWEEN 0 AND 5",
        passes=_int_between(2, 0, 5),
        breaks=_set(2, "9"),
        dedupe_column=0,
    ),
    Kind(
        key="main_duties",
        file="main-duties_oasis-2023_v1.0.csv",
        rename={"OaSIS profile code": "oasis_code", "Main duties": "main_duty"},
        cast={},
        dedupe="row",
        rule="length(oasis_code) >= 5",
        passes=lambda row: len(row[0]) >= 5,
        breaks=_set(0, "0001"),
        dedupe_column=None,
    ),
    Kind(
        key="onet",
        file="noc2021_onet26.csv",
        rename={"noc": "noc_code"},
        cast={},
        dedupe="row",
        rule="length(onet) = 10",
        passes=lambda row: len(row[2]) == 10,
        breaks=_set(2, "11-1031"),
        dedupe_column=None,
    ),
)

GOLD_SQL = {
    # noc_structure x employment: the unit groups with their 2033 projection.
    "outlook": """
SELECT s.noc_code, s.class_title, e.occupation_name, e.y2023, e.y2033,
       s._lineage || e._lineage AS _lineage
FROM {a} AS s JOIN {b} AS e ON e.noc_code = s.noc_code
WHERE s.level = 5
""",
    # abilities x skills: one row per OaSIS profile rated in both.
    "profile": """
SELECT a.oasis_code, a.oasis_label, a.deductive_reasoning, s.reading_comprehension,
       a._lineage || s._lineage AS _lineage
FROM {a} AS a JOIN {b} AS s ON s.oasis_code = a.oasis_code
""",
}
GOLD_PAIRS = {"outlook": (0, 1), "profile": (2, 3)}
"""Which two kinds (indexes into :data:`KINDS`) each gold table joins."""


@dataclass
class TableCounts:
    staged: int
    quarantined: int
    deduplicated: int
    silver: int


@dataclass
class Expected:
    """What a correct run of the project counts, step by step."""

    sources: dict[str, TableCounts] = field(default_factory=dict)
    gold: dict[str, int] = field(default_factory=dict)
    gold_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    silver_rows: dict[str, list[Row]] = field(default_factory=dict, repr=False)
    """Each source table's silver rows (source values), for the gold counts."""
    totalled: list[str] = field(default_factory=list)
    """The source tables that declare control totals (their silver steps measure them)."""


def table_name(index: int) -> str:
    return f"{KINDS[index % len(KINDS)].key}_{index // len(KINDS):03d}"


def _read(path: Path) -> tuple[Row, list[Row], bool]:
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), strict=True))
    return records[0], records[1:], bom


def _write(path: Path, header: Row, rows: list[Row], bom: bool) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig" if bom else "utf-8", newline="")


def variant(kind: Kind, number: int) -> tuple[Row, list[Row], bool, TableCounts, list[Row]]:
    """Variant ``number`` of a kind's file: (header, rows, BOM, its counts, its silver rows)."""
    header, rows, bom = _read(REAL / kind.file)
    if not all(kind.passes(row) for row in rows):
        raise ValueError(f"{kind.file}: a real row breaks the rule {kind.rule!r}")
    kept = [list(r) for i, r in enumerate(rows) if number == 0 or i % 13 != number % 13]
    broken = (5 + number) % len(kept)
    kind.breaks(kept[broken])
    copies = 1 + number % 3
    copied = [(broken + 1 + 7 * k) % len(kept) for k in range(copies)]
    final = kept + [list(kept[i]) for i in copied]
    # Expected silver: rule breakers out, then the first row of each key (or whole row).
    seen: set[object] = set()
    silver: list[Row] = []
    quarantined = deduplicated = 0
    for row in final:
        if not kind.passes(row):
            quarantined += 1
            continue
        key = tuple(row) if kind.dedupe_column is None else row[kind.dedupe_column]
        if key in seen:
            deduplicated += 1
            continue
        seen.add(key)
        silver.append(row)
    counts = TableCounts(len(final), quarantined, deduplicated, len(silver))
    return header, final, bom, counts, silver


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ "
            + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items())
            + " }"
        )
    raise TypeError(value)


def gold_count(tables: int) -> int:
    """Gold tables of a project of ``tables`` source tables: one per 25, at least 2."""
    return max(2, tables // 25)


def _table_section(name: str, kind: Kind) -> list[str]:
    """The lines of ``jobforge.toml`` that declare source table ``name``."""
    lines = [
        f"[tables.{name}]",
        f'source = "sources/{name}.csv"',
        f'domain = "{kind.key}"',
        "",
        f"[tables.{name}.bronze]",
        f"rename = {_toml_value(kind.rename)}",
        f"cast = {_toml_value(kind.cast)}",
        "",
        f"[tables.{name}.silver]",
        f"dedupe = {_toml_value(kind.dedupe)}",
        f'rules = [{{ id = "rule", expression = {_toml_value(kind.rule)}, '
        'message = "breaks the benchmark rule", severity = "error" }]',
        "",
    ]
    if kind.cast:
        lines += [
            f"[tables.{name}.audit]",
            f"control_totals = {_toml_value(sorted(kind.cast))}",
            "",
        ]
    return lines


def build(folder: Path, tables: int) -> Expected:
    """Write the project (``jobforge.toml``, ``sources/``) into ``folder``."""
    if tables < len(KINDS):
        raise ValueError(f"--tables: at least {len(KINDS)} (one of each real file), got {tables}")
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    expected = Expected()
    lines = ["[project]", 'name = "bench-project"', 'data_root = "data"', 'mode = "replace"', ""]
    for index in range(tables):
        kind, number, name = KINDS[index % len(KINDS)], index // len(KINDS), table_name(index)
        header, rows, bom, counts, silver = variant(kind, number)
        _write(sources / f"{name}.csv", header, rows, bom)
        expected.sources[name] = counts
        expected.silver_rows[name] = silver
        lines += _table_section(name, kind)
        if kind.cast:  # numbers: silver records and reconciles their control totals
            expected.totalled.append(name)
    for number in range(gold_count(tables)):
        which = "outlook" if number % 2 == 0 else "profile"
        group = number // 2
        first, second = GOLD_PAIRS[which]
        a, b = table_name(group * len(KINDS) + first), table_name(group * len(KINDS) + second)
        name = f"{which}_{group:03d}"
        expected.gold[name] = _gold_rows(which, expected.silver_rows[a], expected.silver_rows[b])
        expected.gold_inputs[name] = (a, b)
        lines += [
            f"[gold.{name}]",
            f"inputs = [{_toml_value(a)}, {_toml_value(b)}]",
            f'domain = "{which}"',
            f'sql = """{GOLD_SQL[which].format(a=a, b=b)}"""',
            "",
        ]
    (folder / "jobforge.toml").write_text("\n".join(lines), encoding="utf-8")
    return expected


def _gold_rows(which: str, first: list[Row], second: list[Row]) -> int:
    if which == "outlook":
        codes = {row[0] for row in second}
        return sum(row[0] == "5" and row[2] in codes for row in first)
    codes = {row[0] for row in second}
    return sum(row[0] in codes for row in first)


def build_alone(folder: Path, project: Path, name: str, expected: Expected) -> Expected:
    """Write into ``folder`` a project of source table ``name`` of the project in
    ``project`` alone: its source file as it is now and its declaration, no gold
    table. Its cold run is one table's work in a process of its own (what a run
    after one change is measured against). Returns what that run must count."""
    kind = next(k for k in KINDS if name.rsplit("_", 1)[0] == k.key)
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / f"{name}.csv").write_bytes((project / "sources" / f"{name}.csv").read_bytes())
    lines = ["[project]", 'name = "bench-alone"', 'data_root = "data"', 'mode = "replace"', ""]
    (folder / "jobforge.toml").write_text("\n".join(lines + _table_section(name, kind)))
    return Expected(
        sources={name: expected.sources[name]},
        totalled=[name] if name in expected.totalled else [],
    )


def change_one(folder: Path, expected: Expected) -> str:
    """Change the first table's source: one more (level 5) group at its end, which
    every later step keeps (its gold join finds no projection for it). Updates
    ``expected``; returns the table changed."""
    name = table_name(0)
    path = folder / "sources" / f"{name}.csv"
    header, rows, bom = _read(path)
    rows.append(["5", "Unit group", "99999", "Benchmark changed group", "Added by the benchmark."])
    _write(path, header, rows, bom)
    counts = expected.sources[name]
    counts.staged += 1
    counts.silver += 1
    return name
