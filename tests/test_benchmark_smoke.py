"""The benchmark's generator and runner, on a small N, so they cannot rot.

The large figures come from running ``benchmarks/run.py`` by hand (see
docs/performance.md); here only the shape of its output and its checks are
tested, in real subprocesses.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
LAST_LINE = re.compile(
    r"^rows=(\d+) floor_s=\d+\.\d{3} jobforge_s=\d+\.\d{3} ratio=\d+\.\d{2} "
    r"floor_peak_mib=\d+ jobforge_peak_mib=\d+$"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=REPO
    )


def _runner(workdir: Path, rows: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``benchmarks/run.py`` for ``rows`` rows, one timed run and no warm-up."""
    return _run(
        str(BENCH / "run.py"),
        "--rows",
        str(rows),
        "--repeat",
        "1",
        "--warmup",
        "0",
        *args,
        "--workdir",
        str(workdir),
    )


def _generate(path: Path, rows: int, seed: int = 8) -> dict:
    done = _run(
        str(BENCH / "generate.py"), "--rows", str(rows), "--out", str(path), "--seed", str(seed)
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_generator_is_deterministic_and_says_what_it_made(tmp_path: Path) -> None:
    meta = _generate(tmp_path / "a.csv", 5000)
    _generate(tmp_path / "b.csv", 5000)
    _generate(tmp_path / "c.csv", 5000, seed=9)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    # 5000 rows: 2 % copies (100), 0.5 % of the 4900 originals break the rule (24).
    assert (meta["rows"], meta["duplicates"], meta["bad_wage_rows"]) == (5000, 100, 24)

    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle, strict=True))
    header, rows = records[0], records[1:]
    assert len(header) == 12 and header[0] == "noc_code"
    assert len(rows) == 5000 and all(len(r) == 12 for r in rows)
    seen: set[tuple[str, ...]] = set()
    copies = 0
    for row in rows:
        copies += tuple(row) in seen
        seen.add(tuple(row))
    assert copies == meta["duplicates"]
    wage = header.index("median_wage")
    assert sum(r[wage].startswith("-") for r in rows) == meta["bad_wage_rows"]
    assert sum(r[wage] == "" for r in rows) == meta["empty_wages"] > 0
    # Five-digit codes keep their leading zeros; free text has commas.
    assert all(len(r[0]) == 5 and r[0].isdigit() for r in rows)
    assert any(r[0].startswith("0") for r in rows)
    assert any("," in r[-1] for r in rows)


def test_runner_checks_counts_and_prints_the_summary_last(tmp_path: Path) -> None:
    done = _runner(tmp_path, 20000)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("generating 20000 rows into ")
    dataset = [line for line in lines if line.startswith("dataset: 20000 rows")]
    assert len(dataset) == 1 and "400 duplicates, 98 negative wages" in dataset[0]
    assert "checks: counts of every run and rows of the last run are as generated" in lines
    # The bound of the four layer copies alone, measured in the same run.
    copies = [line for line in lines if line.startswith("copies: four layer copies alone ")]
    assert len(copies) == 1 and re.search(r"copies_ratio=\d+\.\d{2};", copies[0]), copies
    assert lines.index(copies[0]) == len(lines) - 2
    match = LAST_LINE.match(lines[-1])
    assert match is not None, lines[-1]
    assert match.group(1) == "20000"
    # The measured runs' outputs are removed; the dataset is kept for the next run.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run-")) == []
    assert len(list(tmp_path.glob("occupations-20000-seed8-v*.csv"))) == 1


@pytest.mark.parametrize(
    ("only", "field", "shift", "message"),
    [
        ("jobforge", "duplicates", 1, "silver rows_deduplicated: got 400, expected 401"),
        ("jobforge", "bad_wage_rows", -1, "silver rows_quarantined: got 98, expected 97"),
        # 20 000 rows less the 98 negative wages; the copies do not de-duplicate.
        ("copies", "bad_wage_rows", -1, "copies silver rows: got 19902, expected 19903"),
    ],
)
def test_runner_refuses_to_report_counts_that_do_not_match(
    tmp_path: Path, only: str, field: str, shift: int, message: str
) -> None:
    done = _runner(tmp_path, 20000, "--only", "floor")
    assert done.returncode == 0, done.stderr
    meta_file = next(tmp_path.glob("occupations-20000-*.csv.json"))
    meta = json.loads(meta_file.read_text())
    meta[field] += shift
    meta_file.write_text(json.dumps(meta))
    done = _runner(tmp_path, 20000, "--only", only)
    assert done.returncode == 1
    assert f"CHECK FAILED: {message}" in done.stderr
    assert "rows=20000" not in done.stdout


def test_runner_measures_the_csv_module_path_on_a_messy_file(tmp_path: Path) -> None:
    done = _runner(tmp_path, 5000, "--messy", "--only", "jobforge")
    assert done.returncode == 0, done.stdout + done.stderr
    # The counts were checked, the csv module's reader among them.
    assert "checks: counts of every run and rows of the last run are as generated" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("rows=5000 jobforge_s=")
    assert len(list(tmp_path.glob("occupations-5000-seed8-v*-messy.csv"))) == 1


def test_sql_lineage_benchmark_checks_the_demo_and_prints_its_figures() -> None:
    done = _run(str(BENCH / "sql_lineage.py"), "--repeat", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "checks: the analysed columns of every table are the ones the demo built"
    assert lines[1].startswith("dim_noc: columns=8 ")
    assert lines[2].startswith("fact_employment_projection: columns=4 ")
    assert lines[3].startswith("occupation_outlook: columns=9 ")
    assert re.fullmatch(
        r"tables=3 analyse_ms_max=\d+\.\d\d parse_ms_max=\d+\.\d\d first_ms_max=\d+\.\d "
        r"import_ms=\d+",
        lines[-1],
    )


def test_governance_benchmark_checks_its_lineage_and_prints_its_figures() -> None:
    done = _run(str(BENCH / "governance.py"), "--columns", "50", "--repeat", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(
        r"columns=50 bronze_ms=\d+\.\d silver_ms=\d+\.\d gold_sql_ms=\d+\.\d "
        r"gold_function_ms=\d+\.\d labels_ms=\d+\.\d",
        done.stdout.strip().splitlines()[-1],
    )


PROJECT_LAST_LINE = re.compile(
    r"^tables=(\d+) floor_s=\d+\.\d{3} cold_s=\d+\.\d{3} cold_ratio=\d+\.\d{2} "
    r"nochange_s=\d+\.\d{3} onechange_s=\d+\.\d{3} alone_s=\d+\.\d{3} onechange_ratio=\d+\.\d{2} "
    r"nochange_files=\d+ cold_peak_mib=\d+$"
)


def test_project_runner_checks_every_step_and_prints_the_summary_last(tmp_path: Path) -> None:
    done = _run(
        str(BENCH / "run.py"),
        "--project",
        "--tables",
        "6",
        "--repeat",
        "1",
        "--warmup",
        "0",
        "--batches",
        "3",
        "--workdir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("project: 6 source tables, 2 gold tables, load average ")
    # The runner compared every step's counts with the ones computed from the files.
    assert "checks: counts of every step of every run are as the project's files give" in lines
    runs = [line for line in lines if line.startswith("run: floor ")]
    assert len(runs) == 1
    # the one-change run and the changed table alone, each with its steps' seconds
    assert re.search(
        r"onechange [\d.]+ s \(cpu [\d.]+ s, steps [\d.]+ s\), "
        r"alone [\d.]+ s \(cpu [\d.]+ s, steps [\d.]+ s\)$",
        runs[0],
    ), runs[0]
    for layer in ("staged", "bronze", "silver"):
        assert any(line.startswith(f"step {layer}: first ten tables ") for line in lines)
    # The audit features' own cost, timed inside the cold run (both ran: counted calls).
    audit = [re.match(r"audit (\S+): [\d.]+ s \([\d.]+ s cpu, (\d+) calls\)", x) for x in lines]
    calls = {m.group(1): int(m.group(2)) for m in audit if m is not None}
    assert set(calls) == {"chain", "control_totals"}, lines
    # every step's record is chained (its seal, its head written); the silver steps of
    # the four tables with number columns (noc_structure, employment, abilities,
    # skills) measure their totals
    assert calls["chain"] >= 2 * (3 * 6 + 2) and calls["control_totals"] == 4, calls
    batch_lines = [line for line in lines if line.startswith("batch ")]
    assert [line.split(":")[0] for line in batch_lines] == ["batch 1", "batch 3"]
    for line in batch_lines:  # the record's seconds, and the whole bronze and silver steps
        assert re.fullmatch(
            r"batch \d: staged [\d.]+ ms, bronze [\d.]+ ms, silver [\d.]+ ms, "
            r"bronze whole [\d.]+ ms, silver whole [\d.]+ ms",
            line,
        ), line
    match = PROJECT_LAST_LINE.match(lines[-1])
    assert match is not None, lines[-1]
    assert match.group(1) == "6"
    # The project and its data roots are removed afterwards.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("project-") and p.is_dir()]


def test_project_generator_counts_match_the_real_files(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import project
    finally:
        sys.path.remove(str(BENCH))
    expected = project.build(tmp_path, 7)
    # noc_structure_en.csv has 822 rows; variant 0 keeps them all, breaks the rule in
    # one (quarantined) and repeats one row at its end (de-duplicated).
    counts = expected.sources["noc_structure_000"]
    assert (counts.staged, counts.quarantined, counts.deduplicated, counts.silver) == (
        823,
        1,
        1,
        821,
    )
    # Variant 1 drops every 13th row from the second (822 -> 758), repeats two.
    counts = expected.sources["noc_structure_001"]
    assert (counts.staged, counts.quarantined, counts.deduplicated) == (760, 1, 2)
    with (tmp_path / "sources" / "noc_structure_001.csv").open(encoding="utf-8-sig") as handle:
        assert len(list(csv.reader(handle))) == 761
    assert sorted(expected.gold) == ["outlook_000", "profile_000"]
    assert "[gold.outlook_000]" in (tmp_path / "jobforge.toml").read_text()


def test_the_arrow_reader_benchmark_stages_every_row(tmp_path: Path) -> None:
    """benchmarks/arrow_reader.py on two small files under the polars executor: it
    checks itself that every row was staged, and ends with its figures' line."""
    done = _run(
        str(BENCH / "arrow_reader.py"),
        "--rows",
        "2000,3000",
        "--executors",
        "polars",
        "--workdir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"rows=2000,3000 polars_stream_mib=\d+,\d+ polars_whole_mib=\d+,\d+ "
        r"ratio_polars_stream=\d+\.\d\d ratio_polars_whole=\d+\.\d\d",
        last,
    ), last


APPEND_LAST = re.compile(
    r"batches (\d+) to (\d+): median bronze step [\d.]+ ms \(record [\d.]+ ms\), "
    r"silver step [\d.]+ ms \(record [\d.]+ ms\), whole run [\d.]+ ms; "
    r"cpu [\d.]+ s; load .+ -> .+"
)


def test_append_steps_measures_whole_steps_and_continues_a_history(tmp_path: Path) -> None:
    folder = tmp_path / "appended"
    done = _run(str(BENCH / "append_steps.py"), str(folder), "--batches", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["batch 1", "batch 2"]
    match = APPEND_LAST.fullmatch(lines[-1])
    assert match is not None and match.groups() == ("1", "2"), lines[-1]
    # the same folder again: its history goes on at batch 3
    done = _run(str(BENCH / "append_steps.py"), str(folder), "--batches", "1", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    match = APPEND_LAST.fullmatch(done.stdout.strip())
    assert match is not None and match.groups() == ("3", "3"), done.stdout
    pointer = json.loads((folder / "data" / "silver" / "tiny" / "_current.json").read_text())
    assert len(pointer["batches"]) == 3


def test_append_parts_times_each_part_of_the_steps(tmp_path: Path) -> None:
    done = _run(str(BENCH / "append_parts.py"), str(tmp_path / "a"), "--batches", "2", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    # one batch not counted, then the two measured
    first, measured = (APPEND_LAST.fullmatch(line) for line in lines[:2])
    assert first is not None and first.groups() == ("1", "1"), lines[0]
    assert measured is not None and measured.groups() == ("2", "3"), lines[1]
    parts = dict(
        re.fullmatch(r"(.+): [\d.]+ ms a batch, ([\d.]+) calls", line).groups()  # type: ignore[union-attr]
        for line in lines[2:]
    )
    # each wrapped function was called by the steps: once a step (staged, bronze,
    # silver) for the pointer, the profile, the entry and the record; the index once a run
    for part in (
        "pointer written",
        "profile of the version's files",
        "catalog entry built (with the profile)",
        "record sealed and written",
        "catalog entry written",
        "journal and renames",
    ):
        assert parts[part] == "3.0", (part, parts)
    assert parts["(run) up-to-date index kept"] == "1.0", parts
    assert float(parts["pointer read"]) > 3 and float(parts["batch files listed"]) >= 1, parts


SILVER_LAST_LINE = re.compile(
    r"^rows=20000 silver_cpu_s=\d+\.\d{3} silver_s=\d+\.\d{3} plans_cpu_s=\d+\.\d{3} "
    r"silver_peak_mib=\d+$"
)


def test_the_silver_step_benchmark_lists_its_plans_and_checks_the_ledger(tmp_path: Path) -> None:
    args = ("--rows", "20000", "--repeat", "2", "--workdir", str(tmp_path))
    done = _run(str(BENCH / "silver_passes.py"), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert SILVER_LAST_LINE.match(lines[-1]), lines[-1]
    # Each plan once per step, silver's data written by silver.py and the
    # hashes collected by dedupe.py (20 000 rows are held in memory).
    plans = [line.split()[-2:] for line in lines if re.match(r"^\s+\d+\.\d{3} ", line)]
    assert ["sink_parquet", "silver.py"] in [[k, w.split(":")[0]] for k, w in plans]
    assert ["collect", "dedupe.py"] in [[k, w.split(":")[0]] for k, w in plans]
    assert not (tmp_path / "silver-passes").exists()
    # A ledger that does not match what the generator made is refused.
    meta_file = next(tmp_path.glob("occupations-20000-*.csv.json"))
    meta = json.loads(meta_file.read_text())
    meta["duplicates"] += 1
    meta_file.write_text(json.dumps(meta))
    done = _run(str(BENCH / "silver_passes.py"), *args)
    assert done.returncode == 1
    assert "CHECK FAILED: silver ledger (in, out, deduplicated, quarantined) " in done.stderr
    assert "rows=20000" not in done.stdout


NOCHANGE_LAST = re.compile(
    r"median ms over 2 processes: imports [\d.]+, load [\d.]+, config [\d.]+, checks [\d.]+, "
    r"key [\d.]+, glossary [\d.]+, lookup [\d.]+; sum [\d.]+"
)


def test_nochange_parts_times_a_run_the_index_answers_and_refuses_one_it_does_not(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import project
    finally:
        sys.path.remove(str(BENCH))
    project.build(tmp_path, 6)
    script = str(BENCH / "nochange_parts.py")
    # never run: no index to answer
    done = _run(script, str(tmp_path), "--repeat", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the up-to-date index did not answer" in done.stdout
    for _ in range(2):  # the first run builds, the second keeps the index
        run = subprocess.run(
            [sys.executable, "-m", "jobforge", "run", "-q"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    done = _run(script, str(tmp_path), "--repeat", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert NOCHANGE_LAST.fullmatch(done.stdout.strip()), done.stdout
    # a changed source: the index no longer answers
    source = next((tmp_path / "sources").glob("noc_structure_*.csv"))
    source.write_bytes(source.read_bytes() + b"\n")
    done = _run(script, str(tmp_path), "--repeat", "2")
    assert done.returncode == 1, done.stdout + done.stderr


FIXED = re.compile(
    r"  fixed \(step - write - totals - seal - chain head\): ([\d.]+) ms cpu, ([\d.]+) ms wall"
)


@pytest.mark.parametrize("again", [False, True], ids=["cold", "again"])
def test_step_parts_times_each_part_of_every_step_by_layer(again: bool) -> None:
    options = ["--again"] if again else []
    done = _run(str(BENCH / "step_parts.py"), "--tables", "6", "--by-position", "3", *options)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    which = "second run" if again else "run"
    assert re.fullmatch(rf"{which}: exit 0, [\d.]+ s wall, [\d.]+ s cpu \(in-process\)", lines[0])
    layers: dict[str, dict[str, int]] = {}
    step_wall: dict[str, float] = {}
    fixed_wall: dict[str, float] = {}
    groups: dict[str, list[tuple[float, float]]] = {}
    for line in lines[1:]:
        heading = re.fullmatch(r"(\w+): (\d+) steps", line)
        if heading:
            layers[heading[1]] = {"steps": int(heading[2])}
            continue
        if line == "  fixed by position (median ms cpu / wall, 3 groups):":
            continue
        if line.startswith("    "):  # the groups' medians, cpu/wall, in run order
            pairs = [re.fullmatch(r"([\d.]+)/([\d.]+)", g) for g in line.split()]
            assert all(pairs), line
            groups[list(layers)[-1]] = [(float(p[1]), float(p[2])) for p in pairs if p]
            continue
        fixed = FIXED.fullmatch(line)  # a negative figure would not match
        if fixed:
            fixed_wall[list(layers)[-1]] = float(fixed[2])
            continue
        part = re.fullmatch(r"  (.+): (\d+) calls, [\d.]+ ms cpu, ([\d.]+) ms wall", line)
        assert part is not None, line
        layers[list(layers)[-1]][part[1]] = int(part[2])
        if part[1] == "step":
            step_wall[list(layers)[-1]] = float(part[3])
    assert set(fixed_wall) == set(groups) == set(layers)
    # three groups of the 6 steps of a source layer; gold's 2 steps make two
    assert {name: len(g) for name, g in groups.items()} == {
        "staged": 3,
        "bronze": 3,
        "silver": 3,
        "gold": 2,
    }
    assert all(wall > 0 for g in groups.values() for _, wall in g), groups
    for name, wall in fixed_wall.items():
        assert 0 < wall < step_wall[name], (name, wall, step_wall[name])
    # 6 source tables, 2 gold tables (at least two: benchmarks/project.py)
    assert {k: v["steps"] for k, v in layers.items()} == {
        "staged": 6,
        "bronze": 6,
        "silver": 6,
        "gold": 2,
    }
    for name, parts in layers.items():
        for part in ("step", "write", "record", "entry", "stage", "switch", "publish", "finish"):
            assert parts[part] == parts["steps"], (name, part, parts)
        assert parts["fsync"] > 10 * parts["steps"], (name, parts)
        # every record is sealed into its table's chain and the chain head moved
        assert parts["seal"] == parts["chain head"] == parts["steps"], (name, parts)
    # the project declares control totals: bronze and silver measure them each step
    assert layers["bronze"]["totals"] == layers["silver"]["totals"] == 6


def test_step_parts_groups_steps_in_run_order_and_takes_each_groups_median() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import step_parts
    finally:
        sys.path.remove(str(BENCH))
    # seven steps' (cpu, wall) seconds in run order: groups of 2, 2 and 3 steps
    values = [(0.001, 0.002), (0.003, 0.004), (0.005, 0.010), (0.007, 0.006)]
    values += [(0.002, 0.003), (0.009, 0.020), (0.004, 0.005)]
    assert step_parts._groups(values, 3) == ["2.0/3.0", "6.0/8.0", "4.0/5.0"]
    # more groups than steps: no empty group is printed
    assert step_parts._groups(values[:2], 3) == ["1.0/2.0", "3.0/4.0"]
    assert step_parts._groups(values[:1], 3) == ["1.0/2.0"]
    assert step_parts._groups(values[:2], 1) == ["2.0/3.0"]


@pytest.mark.parametrize("unwritten", [True, False])
def test_the_runner_says_when_modules_are_compiled_in_every_process(unwritten: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if unwritten:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    # no --rows: the runner refuses to run, after the note (which is on stderr)
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 2 and "--rows N (N >= 1) is required" in done.stderr
    noted = "note: PYTHONDONTWRITEBYTECODE is set: each measured process compiles" in done.stderr
    assert noted is unwritten
    assert "PYTHONDONTWRITEBYTECODE" not in done.stdout
