"""Used as a library, jobforge writes nothing on stdout or stderr: its events go
to the standard ``logging`` module (logger ``jobforge``, a ``NullHandler``), and
appear only where the application configures logging. The command line keeps
its JSON (or console) lines on stderr. No event carries a row value.

Every case runs in a fresh Python process, so that nothing configured by the
test session (pytest's own log capture) hides or adds output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .cli_helpers import jobforge

# Every cell is a distinctive string, so that finding one in a log line means a
# row value leaked (no count, id or name can contain one by chance).
HEADER = "code,name,level"
ROWS = [
    "cQx7-alpha,Name Vbq1 Alpha,lvl-Wm3",
    "cQx7-bravo,Name Vbq2 Bravo,lvl-Wm4",
    "cQx7-bravo,Name Vbq2 Bravo,lvl-Wm4",  # a duplicate: silver de-duplicates it
    "cQx7-quarantined,Name Vbq3 Gone,lvl-BAD",  # breaks the rule: quarantined
]
CELLS = sorted({cell for row in ROWS for cell in row.split(",")} | {"Vbq1", "Wm3", "Vbq3"})

SCRIPT = """
import logging, sys
{setup}
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec, Rule, SilverSpec
from jobforge.errors import JobforgeError
from jobforge.pipeline.config import PipelineConfig

engine = PipelineEngine(PipelineConfig(sys.argv[1]))
result = engine.run_full_pipeline(
    sys.argv[2],
    "people",
    silver=SilverSpec(
        dedupe="row", rules=[Rule(id="level_known", expression="level LIKE 'lvl-Wm%'")]
    ),
)
assert result.silver.record.ledger.rows_out == 2, result.silver.record.ledger
try:  # a gold build DuckDB refuses, quoting a value in its message
    engine.promote_to_gold(
        GoldSpec(name="bad", inputs=["people"], sql="SELECT CAST(name AS INTEGER) AS n, "
                 "_lineage FROM people")
    )
except JobforgeError as exc:
    assert "Vbq" in str(exc), exc  # the exception keeps the whole message
else:
    raise SystemExit("the gold build was expected to fail")
try:  # a source refused as malformed
    engine.ingest(sys.argv[3], "broken")
except JobforgeError as exc:
    pass
else:
    raise SystemExit("the broken source was expected to be refused")
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    tmp_path.mkdir(exist_ok=True)
    source = tmp_path / "people.csv"
    source.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"code": "cQx7-json", "name": "Name Vbq9 Json"', encoding="utf-8")
    return source, broken


def _run_library(tmp_path: Path, setup: str = "") -> subprocess.CompletedProcess[str]:
    source, broken = _files(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    env["JOBFORGE_LOAD_PLUGINS"] = ""  # bundled plugins only
    return subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT.format(setup=textwrap.dedent(setup)),
            str(tmp_path / "data"),
            str(source),
            str(broken),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_library_run_prints_nothing(tmp_path: Path) -> None:
    """Info events and the error-level ``transition.failed`` alike: nothing on
    stdout, and nothing on stderr either (no last-resort handler)."""
    done = _run_library(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_an_application_structlog_configuration_does_not_receive_jobforge_events(
    tmp_path: Path,
) -> None:
    """An application that prints its own structlog events on stdout: jobforge's
    do not join them (they go through ``logging``, which is not configured)."""
    done = _run_library(
        tmp_path,
        """
        import structlog
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stdout))
        structlog.get_logger().info("application.started")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [line] = done.stdout.splitlines()
    assert "application.started" in line


def _logged(stderr: str) -> list[str]:
    """The lines of the ``jobforge`` logger in ``logging.basicConfig``'s format."""
    prefixes = tuple(f"{level}:jobforge:" for level in ("DEBUG", "INFO", "WARNING", "ERROR"))
    return [line for line in stderr.splitlines() if line.startswith(prefixes)]


def test_with_logging_configured_the_events_appear_on_stderr(tmp_path: Path) -> None:
    done = _run_library(tmp_path, "logging.basicConfig(level=logging.INFO)")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = _logged(done.stderr)
    assert len(lines) == len(done.stderr.splitlines()), done.stderr
    events = [line.split(" ")[0] for line in lines]
    assert events == [
        "INFO:jobforge:ingest.done",
        "INFO:jobforge:transition.done",  # bronze
        "INFO:jobforge:transition.done",  # silver
        "ERROR:jobforge:transition.failed",  # gold "bad"
        "INFO:jobforge:ingest.refused",  # broken.json
    ]
    fields = [dict(part.split("=", 1) for part in line.split(" ")[1:]) for line in lines]
    # the counts, checked by hand against ROWS: 4 rows staged and in bronze, one
    # duplicate removed and one quarantined in silver
    assert (fields[0]["table"], fields[0]["rows"], fields[0]["rows_quarantined"]) == (
        "people",
        "4",
        "0",
    )
    assert (fields[1]["target_layer"], fields[1]["rows_in"], fields[1]["rows_out"]) == (
        "bronze",
        "4",
        "4",
    )
    assert {k: fields[2][k] for k in ("rows_in", "rows_out", "rows_quarantined")} == {
        "rows_in": "4",
        "rows_out": "2",
        "rows_quarantined": "1",
    }
    assert fields[2]["rows_deduplicated"] == "1"
    assert (fields[3]["table"], fields[3]["target_layer"], fields[3]["error_type"]) == (
        "bad",
        "gold",
        "ContractError",
    )
    [record] = (tmp_path / "data" / "catalog" / "lineage" / "bad").glob("*.json")
    failed = json.loads(record.read_text(encoding="utf-8"))
    assert failed["status"] == "failed"
    assert failed["transition_id"] == fields[3]["record_id"]
    assert "Vbq" in failed["errors"][0]  # the message is on record, not in the log
    assert (fields[4]["table"], fields[4]["source"]) == ("broken", str(tmp_path / "broken.json"))
    assert fields[4]["error_type"] == "SourceError"


def test_the_structured_fields_reach_a_handler_that_wants_them(tmp_path: Path) -> None:
    """A handler of the application reads ``record.jobforge`` (a dict)."""
    done = _run_library(
        tmp_path,
        """
        import json
        class Fields(logging.Handler):
            def emit(self, record):
                print(json.dumps(record.jobforge), file=sys.stderr)
        logging.getLogger("jobforge").addHandler(Fields())
        logging.getLogger("jobforge").setLevel(logging.DEBUG)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in events] == [
        "ingest.done",
        "transition.done",
        "transition.done",
        "transition.failed",
        "ingest.refused",
    ]
    assert events[0]["rows"] == 4 and events[0]["level"] == "info"
    assert events[2]["rows_out"] == 2 and events[2]["rows_quarantined"] == 1
    assert events[3]["level"] == "error"


def test_log_events_never_carry_row_values(tmp_path: Path) -> None:
    """At debug level, through the library and the command line (JSON and
    console), a run with quarantined and duplicate rows, a gold build whose
    database error quotes a value and a refused source: no cell value in any
    log line."""
    library = _run_library(tmp_path / "lib", "logging.basicConfig(level=logging.DEBUG)")
    assert library.returncode == 0, library.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "people.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    (project / "jobforge.toml").write_text(
        textwrap.dedent(
            """
            [tables.people]
            source = "people.csv"
            [tables.people.silver]
            rules = [{ id = "level_known", expression = "level LIKE 'lvl-Wm%'" }]
            [gold.bad]
            inputs = ["people"]
            sql = "SELECT CAST(name AS INTEGER) AS n, _lineage FROM people"
            """
        ),
        encoding="utf-8",
    )
    outputs = []
    for args in (["--log-level", "debug"], ["--log-level", "debug", "--log-console"]):
        result = jobforge(*args, "run", cwd=project)
        assert result.code == 1, result.err
        *events, error = result.err.splitlines()
        assert error.startswith("error: silver -> gold of 'bad' failed: ")
        assert "Vbq" in error  # the command's own error line names the value
        assert len(events) == 4, result.err  # ingest.done, 2 transition.done, failed
        outputs.append("\n".join(events))
    assert len(_logged(library.stderr)) == 5  # the other lines are filelock's debug lines
    for text in [library.stderr, *outputs]:
        assert "transition.failed" in text
        leaked = [cell for cell in CELLS if cell in text]
        assert leaked == [], text


def test_the_command_line_keeps_its_json_lines_on_stderr(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "people.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    (project / "jobforge.toml").write_text(
        '[tables.people]\nsource = "people.csv"\n', encoding="utf-8"
    )
    quiet = jobforge("run", cwd=project)  # default level: warning
    assert quiet.code == 0, quiet.err
    assert quiet.err == ""
    result = jobforge("--log-level", "info", "run", "--full-refresh", cwd=project)
    assert result.code == 0, result.err
    # the same steps and counts (the reasons differ: "new file", then "forced")
    steps = [line.split("; ")[0] for line in result.out.splitlines()[:3]]
    assert steps == [line.split("; ")[0] for line in quiet.out.splitlines()[:3]]
    events = [json.loads(line) for line in result.err.splitlines()]
    assert [e["event"] for e in events] == ["ingest.done", "transition.done", "transition.done"]
    assert list(events[0]) == [
        "table",
        "batch_id",
        "rows",
        "rows_quarantined",
        "seconds",
        "event",
        "level",
        "timestamp",
    ]
    assert (events[0]["rows"], events[2]["rows_out"], events[2]["rows_deduplicated"]) == (4, 3, 1)
    assert events[0]["timestamp"].endswith("Z")
    console = jobforge("--log-level", "info", "--log-console", "run", "--full-refresh", cwd=project)
    assert console.code == 0, console.err
    lines = console.err.splitlines()
    assert len(lines) == 3
    assert "ingest.done" in lines[0] and "transition.done" in lines[2]
    assert not lines[0].lstrip().startswith("{")
