"""Lineage holds whatever happened before (issue 12): a stateful property test.

Hypothesis drives a small real project (the NOC structure and the COPS
employment files, a glob of daily files appended as batches, a gold join)
through random sequences of what a project lives through: runs, runs with
nothing changed, a changed source, ``--full-refresh``, new daily files (some
with the bytes of an earlier one), ``replay``, promotions by hand, a failing
step, and a run killed with SIGKILL and recovered. After every action:

- every current row of every layer resolves through the lineage records to a
  source file's sha256 and a source record that holds those values (staged),
  or to a staged batch and row of its chain (bronze, silver) or to the silver
  rows of its ``_lineage`` (gold);
- every ledger balances; ``status``, the parquet footers and the catalog agree
  on row counts; no record points at a file that is not there (and the checks
  of tests/reliability/warehouse.py hold).

CI runs a few examples (``JOBFORGE_STATEFUL_EXAMPLES``, default 5, of up to
``JOBFORGE_STATEFUL_STEPS`` actions, default 6); for a soak run, raise both
(for example 200 and 20; see CONTRIBUTING.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from jobforge.catalog.manager import CatalogManager
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.provenance import data_columns, parse_lineage_key
from jobforge.engine.status import warehouse_status
from jobforge.pipeline.config import Layer
from jobforge.pipeline.models import TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project, silver_spec

from .conftest import REAL_DATA
from .reliability import warehouse

EXAMPLES = int(os.environ.get("JOBFORGE_STATEFUL_EXAMPLES", "5"))
STEPS = int(os.environ.get("JOBFORGE_STATEFUL_STEPS", "6"))
KILL_SCRIPT = Path(__file__).parent / "reliability" / "kill_at_rename.py"

PROJECT = """
[project]
name = "stateful"
mode = "replace"

[tables.noc]
source = "sources/noc.csv"
[tables.noc.bronze]
rename = { "Level" = "level", "Code - NOC 2021 V1.0" = "code", "Class title" = "title" }
cast = { level = "int" }
[tables.noc.silver]
dedupe = ["code"]
rules = [{ id = "level_ok", expression = "level BETWEEN 1 AND 5", message = "%(message)s" }]

[tables.employment]
source = "sources/employment.csv"
[tables.employment.bronze]
rename = { "Code" = "code", "2023" = "y2023" }
cast = { y2023 = { type = "int", null_values = ["N/A"] } }

[tables.daily]
source = "sources/daily/*.csv"
[tables.daily.bronze]
cast = { n = "int" }
[tables.daily.silver]
rules = [{ id = "n_positive", expression = "n > 0" }]

[gold.outlook]
inputs = ["noc", "employment"]
sql = \"\"\"
SELECT n.code, n.title, e.y2023, n._lineage || e._lineage AS _lineage
FROM noc AS n JOIN employment AS e ON e.code = n.code WHERE n.level = 5 %(extra)s
\"\"\"
"""


def _parse(content: bytes) -> list[list[str]]:
    """Records of a CSV as Python's csv module reads them (the fidelity reference)."""
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


class ProjectLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.base = Path(os.environ["JOBFORGE_STATEFUL_TMP"]) / f"p{id(self)}"
        self.project = self.base / "project"
        self.archive: dict[str, bytes] = {}
        """sha256 -> bytes of every source content ever written (sources change)."""
        self.message = "level must be 1 to 5"
        self.extra = ""
        self.days = 0

    # -- the project ---------------------------------------------------------------
    def _write(self, path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        self.archive[hashlib.sha256(content).hexdigest()] = content

    def _toml(self) -> None:
        text = PROJECT % {"message": self.message, "extra": self.extra}
        (self.project / "jobforge.toml").write_text(text, encoding="utf-8")

    def _config(self):
        return project_config(load_project(self.project / "jobforge.toml"))

    def _run(self, **options: object) -> None:
        project = load_project(self.project / "jobforge.toml")
        run_project(project, config=project_config(project), **options)

    @initialize()
    def start(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        (self.project / "sources").mkdir(parents=True)
        self._write(
            self.project / "sources" / "noc.csv", (REAL_DATA / "noc_structure_en.csv").read_bytes()
        )
        employment = REAL_DATA / "employment_emploi_2024_2033_noc2021.csv"
        self._write(self.project / "sources" / "employment.csv", employment.read_bytes())
        self._add_day(b"1,2\n3,4\n")
        self._toml()
        self._run()

    def _add_day(self, rows: bytes) -> None:
        self.days += 1
        self._write(
            self.project / "sources" / "daily" / f"day-{self.days:03d}.csv", b"k,n\n" + rows
        )

    # -- what a project lives through -------------------------------------------------
    @rule()
    def run(self) -> None:
        self._run()

    @rule()
    def run_again_with_nothing_changed(self) -> None:
        self._run()
        root = self.project / "data"
        before = warehouse.all_files(root)
        self._run()
        new = [p for p in warehouse.all_files(root) if p not in before]
        # nothing but the run record: no data file, no lineage record, no pointer
        assert [p.parent.name for p in new] == ["runs"], new

    @rule(row=st.integers(min_value=1, max_value=822), title=st.sampled_from(["Alpha", "Béta"]))
    def change_a_source(self, row: int, title: str) -> None:
        path = self.project / "sources" / "noc.csv"
        records = _parse(path.read_bytes())
        records[row][3] = f"{records[row][3]} {title}"
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\r\n").writerows(records)
        self._write(path, out.getvalue().encode("utf-8"))
        self._run()

    @rule()
    def full_refresh(self) -> None:
        self._run(full_refresh=True)

    @rule(n=st.integers(min_value=-2, max_value=9), duplicate=st.booleans())
    def a_new_daily_file(self, n: int, duplicate: bool) -> None:
        daily = self.project / "sources" / "daily"
        if duplicate:  # the same bytes delivered again under a new name
            first = sorted(daily.iterdir())[0].read_bytes()
            self.days += 1
            self._write(daily / f"day-{self.days:03d}.csv", first)
        else:
            self._add_day(f"{n},{n}\nz,{n + 1}\n".encode())
        self._run()

    @rule()
    def replay(self) -> None:
        project = load_project(self.project / "jobforge.toml")
        engine = PipelineEngine(self._config(), mode="replace")
        table = project.spec.tables["noc"]
        engine.replay("noc", table.bronze, silver_spec(table))

    @rule(force=st.booleans())
    def promote_by_hand(self, force: bool) -> None:
        project = load_project(self.project / "jobforge.toml")
        engine = PipelineEngine(self._config())
        engine.promote_to_silver(
            "employment", silver_spec(project.spec.tables["employment"]), force=force
        )

    @rule(message=st.sampled_from(["level is 1 to 5", "between 1 and 5"]))
    def a_changed_rule(self, message: str) -> None:
        self.message = message
        self._toml()
        self._run()

    @rule()
    def a_failing_step(self) -> None:
        # a gold query that fails when it runs: the run goes on, the table fails
        self.extra = "AND error('failed on purpose') IS NULL"
        self._toml()
        self._run()
        self.extra = ""
        self._toml()

    @rule(at=st.integers(min_value=1, max_value=60))
    def killed_and_recovered(self, at: int) -> None:
        self.message = f"level must be 1 to 5 ({at})"  # so that the run publishes
        self._toml()
        env = warehouse.subprocess_env(JOBFORGE_TEST_KILL_AT_RENAME=str(at))
        done = subprocess.run(
            [sys.executable, str(KILL_SCRIPT), "run", "-q"],
            cwd=self.project,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        self._run()  # recovers what the kill left, then runs

    # -- what must hold after each -------------------------------------------------------
    @invariant()
    def every_row_resolves_to_its_source(self) -> None:
        config = self._config()
        catalog = CatalogManager(config)
        staged_rows: dict[tuple[str, str, int], dict[str, str]] = {}
        for status in warehouse_status(config):
            layer, table = status.layer, status.table
            chain = catalog.upstream(layer, table)
            sources = {(s.table, s.batch_id): s for s in chain.sources}
            for source in chain.sources:
                assert source.sha256 in self.archive, source
            current = warehouse.pointer(config.data_root, layer, table)
            assert current is not None
            folder = config.data_root / layer / table
            rows = [
                row for b in current.batches for row in pq.read_table(folder / b.file).to_pylist()
            ]
            if layer == "staged":
                for row in rows:
                    source = sources[(table, row["_batch_id"])]
                    records = _parse(self.archive[source.sha256])
                    header, record = records[0], records[row["_source_row"]]
                    values = {k: row[k] for k in data_columns(list(row))}
                    assert values == dict(zip(header, record, strict=True)), (table, row)
                    staged_rows[(table, row["_batch_id"], row["_source_row"])] = values
            elif layer in ("bronze", "silver"):
                for row in rows:
                    assert (table, row["_batch_id"]) in sources, (layer, table, row)
            else:
                staged = {(s.table, s.batch_id) for s in chain.sources}
                for row in rows:
                    for key in row["_lineage"]:
                        source_table, batch, _ = parse_lineage_key(key)
                        assert (source_table, batch) in staged, (table, key)
        for (table, batch, row), values in staged_rows.items():
            assert values, (table, batch, row)

    @invariant()
    def ledgers_counts_and_files_agree(self) -> None:
        config = self._config()
        root = config.data_root
        catalog = CatalogManager(config)
        for record in catalog.lineage_records():
            if isinstance(record, TransitionRecord) and record.status != "failed":
                assert record.ledger.balanced
            if record.status not in ("failed",):
                assert (self.project / record.target_file).exists() or Path(
                    record.target_file
                ).exists(), record
        for status in warehouse_status(config):
            layer = Layer(status.layer)
            current = warehouse.pointers(root)[(status.layer, status.table)]
            footers = sum(
                pq.read_metadata(root / status.layer / status.table / b.file).num_rows
                for b in current.batches
            )
            entry = catalog.get(layer, status.table)
            assert status.rows == footers == entry.row_count, (status, footers, entry.row_count)
        warehouse.check_consistency(root, recovered=True, cwd=self.project)


@pytest.mark.slow
def test_lineage_holds_whatever_happened_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFORGE_STATEFUL_TMP", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    run_state_machine_as_test(
        ProjectLife,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("JOBFORGE_STATEFUL_RANDOM") is None,
        ),
    )
