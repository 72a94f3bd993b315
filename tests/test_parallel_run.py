"""Issue 21: a project's independent tables run at once (``[engine] jobs``,
``jobforge run --jobs N``). The layers, the records, the catalog entries and the
report of a run with several jobs are those of a run with one; a failing table
stops only the tables built from it; the report keeps the run order whatever
finishes first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.catalog.entries import load_entry
from jobforge.catalog.lineage import read_records
from jobforge.catalog.runs import read_run_records
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import ConfigError
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import RunReport, project_config, run_jobs, run_project
from jobforge.provenance import LINEAGE, is_provenance, parse_lineage_key

from .cli_helpers import jobforge
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, real_project

VOLATILE_STEP = ("seconds", "batch_id", "source")


def _steps(report: RunReport, root: Path) -> list[dict[str, Any]]:
    """The report without what differs between any two runs (times, random
    batch ids, the project's folder ``root``)."""
    found = []
    for step in report.as_dicts():
        kept = {k: v for k, v in step.items() if k not in VOLATILE_STEP}
        kept["source"] = Path(str(step["source"])).name if step["source"] else None
        if step["error"]:
            kept["error"] = str(step["error"]).replace(str(root), "<project>")
        found.append(kept)
    return found


def _layer_rows(config: PipelineConfig, layer: Layer, table: str) -> list[tuple[Any, ...]]:
    """The current version's rows of ``layer.table``, sorted: the data columns,
    the source row and, for gold, each lineage key without its (random) batch id."""
    engine = PipelineEngine(config)
    current = engine.current(layer, table)
    assert current is not None, f"{layer.value}.{table} not published"
    rows: list[tuple[Any, ...]] = []
    for path in current.files(config.layer_path(layer) / table):
        part = pq.read_table(path)
        names = [c for c in part.column_names if not is_provenance(c) or c == "_source_row"]
        values = part.select(names).to_pylist()
        lineage = part.column(LINEAGE).to_pylist() if LINEAGE in part.column_names else None
        for i, row in enumerate(values):
            keys = ()
            if lineage is not None:
                keys = tuple(sorted((t, r) for t, _, r in map(parse_lineage_key, lineage[i])))
            rows.append((*sorted((k, repr(v)) for k, v in row.items()), keys))
    return sorted(rows)


def _records(config: PipelineConfig, table: str) -> list[tuple[Any, ...]]:
    """A table's transition records in order: layers, status, ledger, totals."""
    return [
        (r.source_layer, r.target_layer, r.status, r.ledger.model_dump(), r.control_totals)
        for r in read_records(config, table)
        if isinstance(r, TransitionRecord)
    ]


def _entry(config: PipelineConfig, layer: str, table: str) -> tuple[Any, ...]:
    entry = load_entry(config, layer, table)
    assert entry is not None, f"{layer}.{table} has no catalog entry"
    return (
        sorted(entry.upstream_tables),
        sorted(entry.downstream_tables),
        [c.name for c in entry.columns],
        entry.row_count,
    )


def _state(project: Path, tables: dict[str, tuple[Layer, ...]]) -> dict[str, Any]:
    config = project_config(load_project(project / "jobforge.toml"))
    return {
        table: {
            "rows": {layer.value: _layer_rows(config, layer, table) for layer in layers},
            "records": _records(config, table),
            "entries": {layer.value: _entry(config, layer.value, table) for layer in layers},
        }
        for table, layers in tables.items()
    }


SOURCE_LAYERS = (Layer.STAGED, Layer.BRONZE, Layer.SILVER)
REAL_TABLES = {
    **{t: SOURCE_LAYERS for t in REAL_SOURCE_TABLES},
    **{t: (Layer.GOLD,) for t in REAL_GOLD_TABLES},
}


def test_two_jobs_give_the_layers_records_and_report_of_one(tmp_path: Path) -> None:
    one, two = real_project(tmp_path, "one"), real_project(tmp_path, "two")
    first = run_project(load_project(one / "jobforge.toml"), jobs=1)
    second = run_project(load_project(two / "jobforge.toml"), jobs=2)
    assert first.ok and second.ok, [s.error for s in [*first.failed, *second.failed]]
    assert _steps(second, two) == _steps(first, one)
    # 9 source tables x 3 steps + 4 gold tables, table by table in run order
    assert len(second.steps) == 31
    order = list(load_project(two / "jobforge.toml").order)
    assert [s.table for s in second.steps] == [
        t for t in order for _ in range(3 if t in REAL_SOURCE_TABLES else 1)
    ]
    assert _state(two, REAL_TABLES) == _state(one, REAL_TABLES)
    # the run record lists the steps as the report does
    (record,) = read_run_records(project_config(load_project(two / "jobforge.toml")))
    assert [(s.table, s.layer, s.status) for s in record.steps] == [
        (s.table, s.layer, s.status) for s in second.steps
    ]
    # and a second run with two jobs finds every step up to date
    again = run_project(load_project(two / "jobforge.toml"), jobs=2)
    assert again.counts()["up to date"] == 31


BROKEN = (
    '\n[tables.broken]\nsource = "sources/broken.csv"\n'
    '\n[gold.broken_summary]\ninputs = ["broken"]\n'
    'sql = "SELECT count(*) AS n, flatten(list(_lineage)) AS _lineage FROM broken"\n'
)


def _with_broken_table(project: Path) -> Path:
    # a header the checks can read, then a NUL byte: the reader refuses the file
    (project / "sources" / "broken.csv").write_bytes(b"code,name\n1,one\n2,t\x00wo\n")
    toml = project / "jobforge.toml"
    toml.write_text(toml.read_text() + BROKEN)
    return project


def test_a_failing_table_with_two_jobs_leaves_every_other_table_published(
    tmp_path: Path,
) -> None:
    one = _with_broken_table(real_project(tmp_path, "one"))
    two = _with_broken_table(real_project(tmp_path, "two"))
    first = run_project(load_project(one / "jobforge.toml"), jobs=1)
    second = run_project(load_project(two / "jobforge.toml"), jobs=2)
    assert _steps(second, two) == _steps(first, one)
    assert [(s.table, s.layer) for s in second.failed] == [("broken", "staged")]
    assert "NUL" in str(second.failed[0].error)
    assert [(s.table, s.reason) for s in second.skipped] == [
        ("broken_summary", "not run because silver.broken failed")
    ]
    assert second.counts()["success"] + second.counts()["partial"] == 31
    assert _state(two, REAL_TABLES) == _state(one, REAL_TABLES)
    assert not (two / "data" / "staged" / "broken").exists()


def test_fail_fast_with_two_jobs_raises_the_failure_and_reports_what_ran(
    tmp_path: Path,
) -> None:
    project = _with_broken_table(real_project(tmp_path))
    loaded = load_project(project / "jobforge.toml")
    assert loaded.order.index("broken") == len(REAL_SOURCE_TABLES)  # the last source
    seen: list[tuple[str, str, str]] = []
    with pytest.raises(Exception, match="NUL"):
        run_project(
            loaded,
            jobs=2,
            fail_fast=True,
            progress=lambda s: seen.append((s.table, s.layer, s.status)),
        )
    # the nine sources before it ran (two at a time), no gold table started after it
    assert ("broken", "staged", "failed") in seen
    assert not [s for s in seen if s[1] == "gold"]
    assert [t for t, layer, _ in seen if layer == "silver"] == list(REAL_SOURCE_TABLES)
    (record,) = read_run_records(project_config(loaded))
    assert [(s.table, s.layer, s.status) for s in record.steps] == seen


def test_jobs_come_from_the_option_the_project_file_or_the_machine(tmp_path: Path) -> None:
    project = real_project(tmp_path)
    toml = project / "jobforge.toml"
    loaded = load_project(toml)
    assert run_jobs(loaded) >= 1
    assert run_jobs(loaded, 3) == 3
    toml.write_text(toml.read_text().replace("[project]", "[engine]\njobs = 1\n\n[project]", 1))
    assert run_jobs(load_project(toml)) == 1
    assert run_jobs(load_project(toml), 2) == 2
    with pytest.raises(ConfigError, match=r"--jobs: expected a whole number of at least 1, got 0"):
        run_jobs(loaded, 0)
    spark = toml.read_text().replace("jobs = 1", 'jobs = 2\nexecutor = "spark"')
    toml.write_text(spark)
    with pytest.raises(ConfigError, match=r"engine\.jobs: the spark executor runs one table"):
        run_jobs(load_project(toml))


def test_the_command_takes_jobs_and_prints_the_same_report(tmp_path: Path) -> None:
    one, two = real_project(tmp_path, "one"), real_project(tmp_path, "two")
    first = jobforge("run", "--json", "--jobs", "1", cwd=one, timeout=600)
    second = jobforge("run", "--json", "-j", "2", cwd=two, timeout=600)
    assert first.code == 0 and second.code == 0, first.err + second.err

    def stable(out: str) -> list[dict[str, Any]]:
        steps = json.loads(out)
        return [
            {**{k: v for k, v in s.items() if k not in VOLATILE_STEP}, "file": s["source"]}
            for s in steps
        ]

    relative = [{**s, "file": s["file"] and Path(s["file"]).name} for s in stable(second.out)]
    assert relative == [
        {**s, "file": s["file"] and Path(s["file"]).name} for s in stable(first.out)
    ]
    bad = jobforge("run", "--jobs", "0", cwd=two)
    assert bad.code == 2 and "--jobs" in bad.err and "Traceback" not in bad.err


# -- a property: random projects, some tables failing -----------------------------------

GOOD = "code,amount\n1,10\n2,20\n2,20\n3,-5\n"
FAILING = b"code,amount\n1,10\n2,\x0020\n"


@st.composite
def projects(draw: st.DrawFn) -> tuple[list[bool], list[list[int]]]:
    """Source tables (``True``: its file is refused) and gold tables, each built
    from earlier sources or gold tables (indexes into sources + gold)."""
    sources = draw(st.lists(st.booleans(), min_size=2, max_size=5))
    gold: list[list[int]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        known = len(sources) + len(gold)
        gold.append(draw(st.lists(st.integers(0, known - 1), min_size=1, max_size=2, unique=True)))
    return sources, gold


def _write_project(root: Path, sources: list[bool], gold: list[list[int]]) -> None:
    (root / "sources").mkdir(parents=True)
    names = [f"s{i}" for i in range(len(sources))] + [f"g{i}" for i in range(len(gold))]
    text = '[project]\nname = "p"\ndata_root = "data"\n'
    for i, failing in enumerate(sources):
        path = root / "sources" / f"s{i}.csv"
        if failing:
            path.write_bytes(FAILING)
        else:
            path.write_text(GOOD, encoding="utf-8")
        text += (
            f'\n[tables.s{i}]\nsource = "sources/s{i}.csv"\n'
            f'[tables.s{i}.bronze]\ncast = {{ amount = "int" }}\n'
            f'[tables.s{i}.silver]\ndedupe = "row"\n'
            f'[tables.s{i}.audit]\ncontrol_totals = ["amount"]\n'
        )
    for j, inputs in enumerate(gold):
        used = [names[k] for k in inputs]
        union = " UNION ALL ".join(f"SELECT amount, _lineage FROM {u}" for u in used)
        text += (
            f"\n[gold.g{j}]\ninputs = {json.dumps(used)}\n"
            f'sql = "SELECT sum(amount) AS amount, flatten(list(_lineage)) AS _lineage '
            f'FROM ({union})"\n'
        )
    (root / "jobforge.toml").write_text(text, encoding="utf-8")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=projects(), jobs=st.integers(min_value=2, max_value=4))
def test_any_project_reports_with_n_jobs_what_it_reports_with_one(
    tmp_path_factory: pytest.TempPathFactory,
    shape: tuple[list[bool], list[list[int]]],
    jobs: int,
) -> None:
    sources, gold = shape
    folder = tmp_path_factory.mktemp("shape")
    reports = []
    for n in (1, jobs):
        root = folder / f"jobs{n}"
        _write_project(root, sources, gold)
        reports.append(run_project(load_project(root / "jobforge.toml"), jobs=n))
    serial, parallel = reports
    assert _steps(parallel, folder / f"jobs{jobs}") == _steps(serial, folder / "jobs1")
    # by hand: a refused source fails at staged, and every gold table built from it,
    # directly or through another gold table, is skipped
    names = [f"s{i}" for i in range(len(sources))] + [f"g{j}" for j in range(len(gold))]
    broken = {f"s{i}" for i, failing in enumerate(sources) if failing}
    for j, inputs in enumerate(gold):
        if any(names[k] in broken for k in inputs):
            broken.add(f"g{j}")
    status = {(s.table, s.layer): s.status for s in parallel.steps}
    for i, failing in enumerate(sources):
        assert status[(f"s{i}", "staged")] == ("failed" if failing else "success")
        if not failing:  # 4 rows, 1 repeated: 3 in silver
            (silver,) = [s for s in parallel.steps if (s.table, s.layer) == (f"s{i}", "silver")]
            assert (silver.rows_out, silver.rows_deduplicated) == (3, 1)
    for j in range(len(gold)):
        assert status[(f"g{j}", "gold")] == ("skipped" if f"g{j}" in broken else "success")
    shutil.rmtree(folder)
