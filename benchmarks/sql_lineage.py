"""How long the column-lineage analysis of the demo's gold SQL takes.

``python benchmarks/sql_lineage.py`` runs ``jobforge demo`` in a temporary
folder (not measured), reads each gold table's SQL from the demo's
``jobforge.toml`` and its inputs' columns from the catalog the run wrote
(silver tables for sources, gold tables for gold inputs), then measures:

- ``import_ms``: ``import jobforge.sql`` in a fresh process;
- ``first_ms``: the first ``analyse_query`` of each table in that fresh process
  (it includes making the in-memory DuckDB connection the analysis asks for
  ``COLUMNS(...)`` regular expressions and unaliased names, when it needs one);
- ``parse_ms`` and ``analyse_ms``: the median of ``--repeat`` calls of
  ``parse_query`` (sqlglot alone) and ``analyse_query`` (parse and resolve) in
  a warm process.

Before anything is reported, the analysed output columns of each table are
checked against the columns the run catalogued for it (less ``_layer`` and
``_processed_at``, which the gold step adds).

The last line printed is::

    tables=3 analyse_ms_max=... parse_ms_max=... first_ms_max=... import_ms=...
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

GOLD = ("dim_noc", "fact_employment_projection", "occupation_outlook")

_COLD = """
import json, sys, time
t = time.perf_counter()
from jobforge.sql import analyse_query
imported = time.perf_counter() - t
cases = json.loads(sys.stdin.read())
first = {}
for name, (sql, inputs) in cases.items():
    t = time.perf_counter()
    analyse_query(sql, inputs)
    first[name] = time.perf_counter() - t
print(json.dumps({"import": imported, "first": first}))
"""


def demo_cases(workdir: Path) -> tuple[dict[str, tuple[str, dict[str, list[str]]]], dict]:
    """``{gold table: (sql, {input: [columns]})}`` from a real run of the demo, and
    each gold table's catalogued columns."""
    jobforge = shutil.which("jobforge", path=str(Path(sys.executable).parent)) or "jobforge"
    done = subprocess.run(
        [jobforge, "demo"], cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"jobforge demo failed: {done.stderr.strip()}")
    project = workdir / "jobforge-demo"
    with (project / "jobforge.toml").open("rb") as fh:
        config = tomllib.load(fh)
    tables = project / "data" / "catalog" / "tables"

    def columns(layer: str, table: str) -> list[str]:
        entry = json.loads((tables / layer / f"{table}.json").read_text(encoding="utf-8"))
        return [c["name"] for c in entry["columns"]]

    cases = {}
    outputs = {name: columns("gold", name) for name in GOLD}
    for name in GOLD:
        spec = config["gold"][name]
        inputs = {}
        for table in spec["inputs"]:
            inputs[table] = columns("gold" if table in config["gold"] else "silver", table)
        cases[name] = (spec["sql"], inputs)
    return cases, outputs


def cold(cases: dict[str, tuple[str, dict[str, list[str]]]]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _COLD],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout)


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls per figure (median)")
    args = parser.parse_args()
    from jobforge.sql import analyse_query, parse_query

    with tempfile.TemporaryDirectory(prefix="jobforge-sql-bench-") as tmp:
        cases, outputs = demo_cases(Path(tmp))
    for name, (sql, inputs) in cases.items():
        analysed = list(analyse_query(sql, inputs).columns)
        built = [c for c in outputs[name] if c not in ("_layer", "_processed_at")]
        if analysed != built:
            print(f"CHECK FAILED: {name}: analysed {analysed}, built {built}", file=sys.stderr)
            raise SystemExit(1)
    print("checks: the analysed columns of every table are the ones the demo built")
    first = cold(cases)
    figures = {}
    for name, (sql, inputs) in cases.items():
        analyse_query(sql, inputs)
        figures[name] = {
            "parse_ms": median_ms(lambda s=sql: parse_query(s), args.repeat),
            "analyse_ms": median_ms(lambda s=sql, i=inputs: analyse_query(s, i), args.repeat),
            "first_ms": first["first"][name] * 1000,
            "columns": len(analyse_query(sql, inputs).columns),
        }
        f = figures[name]
        print(
            f"{name}: columns={f['columns']} parse_ms={f['parse_ms']:.2f} "
            f"analyse_ms={f['analyse_ms']:.2f} first_ms={f['first_ms']:.1f}"
        )
    print(
        f"tables={len(figures)} "
        f"analyse_ms_max={max(f['analyse_ms'] for f in figures.values()):.2f} "
        f"parse_ms_max={max(f['parse_ms'] for f in figures.values()):.2f} "
        f"first_ms_max={max(f['first_ms'] for f in figures.values()):.1f} "
        f"import_ms={first['import'] * 1000:.0f}"
    )


if __name__ == "__main__":
    main()
