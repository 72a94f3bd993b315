"""The bundled ``openlineage`` plugin: the events of real `jobforge run`s,
validated against the OpenLineage JSON Schemas of spec 2-0-2 (shipped in
``tests/data/openlineage``), sent through the file, http (to a receiver on
loopback) and console transports; a failing step gives a FAIL event with
the error; no section, no events.

The figures are those of the project ``jobforge init`` writes, counted by hand
from its ``sources/occupations.csv`` (7 records: record 3 repeats record 2,
record 5 has a wage of -1, record 6 the date "not a date")."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from jobforge_openlineage.emitter import facet_schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from jobforge import hookimpl
from jobforge.engine.events import TransitionEvent
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import SilverSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project

from .cli_helpers import jobforge
from .conftest import REPO

SCHEMAS = REPO / "tests" / "data" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
JOBS = ["occupations.staged", "occupations.bronze", "occupations.silver", "wage_by_teer.gold"]


# -- validation against the spec ---------------------------------------------------------------
def _registry() -> tuple[Registry, set[str]]:
    schemas = [json.loads(p.read_text("utf-8")) for p in sorted(SCHEMAS.rglob("*.json"))]
    schemas.append(facet_schema())
    registry: Registry = Registry()
    for schema in schemas:
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return registry, {s["$id"] for s in schemas}


REGISTRY, KNOWN = _registry()


def _validate(schema_url: str, instance: object) -> None:
    validator = Draft202012Validator(
        {"$ref": schema_url}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{schema_url}: {errors[0].message} at {list(errors[0].path)}"


def _facets(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from event["run"].get("facets", {}).values()
    yield from event["job"].get("facets", {}).values()
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        yield from dataset.get("facets", {}).values()
        yield from dataset.get("inputFacets", {}).values()
        yield from dataset.get("outputFacets", {}).values()


def validate_event(event: dict[str, Any]) -> None:
    """The event against RunEvent, then each facet against the schema its
    ``_schemaURL`` names (every one of which must be shipped)."""
    assert event["schemaURL"] == RUN_EVENT
    _validate(RUN_EVENT, event)
    for facet in _facets(event):
        url = facet["_schemaURL"]
        assert url.split("#")[0] in KNOWN, f"no schema shipped for {url}"
        _validate(url, facet)


def test_the_validator_rejects_what_the_spec_forbids() -> None:
    good = {
        "eventTime": "2026-01-01T00:00:00+00:00",
        "eventType": "COMPLETE",
        "producer": "urn:jobforge:2.0.0",
        "schemaURL": RUN_EVENT,
        "run": {"runId": str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": "n", "name": "t.bronze", "facets": {}},
        "inputs": [],
        "outputs": [],
    }
    validate_event(good)
    for broken in (
        {**good, "eventType": "DONE"},
        {**good, "run": {"runId": "not-a-uuid"}},
        {k: v for k, v in good.items() if k != "job"},
    ):
        with pytest.raises(AssertionError):
            validate_event(broken)
    stats = {
        "_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
        "rowCount": "seven",
    }
    with pytest.raises(AssertionError):
        validate_event(
            {
                **good,
                "outputs": [
                    {"namespace": "file", "name": "/x", "outputFacets": {"outputStatistics": stats}}
                ],
            }
        )


# -- projects ------------------------------------------------------------------------------
def _init_project(root: Path, section: str) -> Path:
    result = jobforge("init", "p", cwd=root)
    assert result.code == 0, result.err
    project = root / "p"
    toml = project / "jobforge.toml"
    toml.write_text(toml.read_text("utf-8") + "\n" + section, encoding="utf-8")
    return project


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def _records(project: Path) -> dict[str, dict[str, Any]]:
    """Lineage records of the catalog by their id."""
    found = {}
    for path in (project / "data" / "catalog" / "lineage").rglob("*.json"):
        record = json.loads(path.read_text("utf-8"))
        found[record.get("transition_id") or record["ingestion_id"]] = record
    return found


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


@pytest.fixture(scope="module")
def file_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    project = _init_project(
        tmp_path_factory.mktemp("ol-file"),
        '[openlineage]\ntransport = "file"\npath = "lineage/events.ndjson"\n',
    )
    result = jobforge("run", "--quiet", cwd=project)
    assert result.code == 0, result.err
    return project, _events(project / "lineage" / "events.ndjson")


def test_file_transport_writes_valid_start_and_complete_events(
    file_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    project, events = file_run
    assert len(events) == 8
    for event in events:
        validate_event(event)
    jobs = _by_job(events)
    assert list(jobs) == JOBS
    for name, pair in jobs.items():
        assert [e["eventType"] for e in pair] == ["START", "COMPLETE"], name
        assert pair[0]["run"]["runId"] == pair[1]["run"]["runId"]
        assert pair[0]["eventTime"] <= pair[1]["eventTime"]
        assert pair[1]["job"]["namespace"] == "my-pipeline"  # the project's name
    # one run id per step, one parent: the jobforge run
    assert len({e["run"]["runId"] for e in events}) == 4
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 1
    parent = events[0]["run"]["facets"]["parent"]
    assert parent["job"] == {"namespace": "my-pipeline", "name": "jobforge-run", "facets": {}}
    assert uuid.UUID(parents.pop())
    records = _records(project)
    for event in events[1::2]:
        facet = event["run"]["facets"]["jobforge"]
        record = records[facet["recordId"]]
        assert facet["batchId"] == record["batch_id"]
        assert facet["status"] == record["status"]
        assert event["eventTime"] == record["completed_at"].replace("Z", "+00:00")


def test_complete_events_carry_ledgers_statistics_lineage_and_rules(
    file_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    project, events = file_run
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    source = project / "sources" / "occupations.csv"
    data = project / "data"

    staged = complete["occupations.staged"]
    [source_input] = staged["inputs"]
    assert (source_input["namespace"], source_input["name"]) == ("file", str(source))
    assert source_input["inputFacets"]["inputStatistics"] == {
        "_producer": "urn:jobforge:2.0.0",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
        "rowCount": 7,
        "size": source.stat().st_size,
        "fileCount": 1,
    }
    assert [f["name"] for f in source_input["facets"]["schema"]["fields"]] == [
        "NOC",
        "Title",
        "Median wage",
        "Survey date",
    ]
    [staged_out] = staged["outputs"]
    assert staged_out["name"] == str(data / "staged" / "occupations")
    assert staged_out["facets"]["symlinks"]["identifiers"] == [
        {"namespace": "my-pipeline", "name": "staged.occupations", "type": "TABLE"}
    ]
    assert staged_out["outputFacets"]["outputStatistics"]["rowCount"] == 7

    bronze = complete["occupations.bronze"]
    assert bronze["run"]["facets"]["jobforge"]["ledger"] == {
        "rows_in": 7,
        "rows_out": 6,
        "rows_quarantined": 1,  # record 6: "not a date"
        "rows_deduplicated": 0,
        "rows_filtered": 0,
        "rows_generated": 0,
        "rows_warned": 0,
    }
    [out] = bronze["outputs"]
    stats = out["outputFacets"]["outputStatistics"]
    target = Path(bronze["run"]["facets"]["jobforge"]["targetFile"])
    assert (stats["rowCount"], stats["size"], stats["fileCount"]) == (6, target.stat().st_size, 1)
    lineage = out["facets"]["columnLineage"]["fields"]
    staged_dir = str(data / "staged" / "occupations")
    assert lineage["noc_code"]["inputFields"] == [
        {"namespace": "file", "name": staged_dir, "field": "NOC", "transformations": []}
    ]
    assert lineage["median_wage"]["inputFields"][0]["field"] == "Median wage"
    [bronze_in] = bronze["inputs"]
    assert bronze_in["name"] == staged_dir
    assert bronze_in["inputFacets"]["inputStatistics"]["rowCount"] == 7

    silver = complete["occupations.silver"]
    ledger = silver["run"]["facets"]["jobforge"]["ledger"]
    assert (ledger["rows_in"], ledger["rows_out"], ledger["rows_quarantined"]) == (6, 4, 1)
    assert ledger["rows_deduplicated"] == 1  # record 3
    [silver_in] = silver["inputs"]
    assertions = silver_in["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions == [
        {
            "assertion": "custom_sql",
            "success": False,  # record 5: a wage of -1
            "name": "wage_not_negative",
            "severity": "error",
            "expected": "0",
            "actual": "1",
            "description": "rows failing rule wage_not_negative",
            "params": {},
        }
    ]
    assert silver["run"]["facets"]["jobforge"]["ruleCounts"] == {"wage_not_negative": 1}
    assert silver["run"]["facets"]["jobforge"]["inputBatchIds"] == [
        silver["run"]["facets"]["jobforge"]["batchId"]
    ]
    [silver_out] = silver["outputs"]
    assert silver_out["facets"]["documentation"]["description"] == (
        "Occupations with their median hourly wage."
    )
    assert silver_out["facets"]["ownership"]["owners"] == [
        {"name": "Workforce analytics", "type": "OWNER"}
    ]
    assert silver_out["facets"]["version"]["datasetVersion"] == "1"

    gold = complete["wage_by_teer.gold"]
    assert gold["job"]["facets"]["jobType"]["jobType"] == "GOLD_BUILD"
    assert [i["name"] for i in gold["inputs"]] == [str(data / "silver" / "occupations")]
    [gold_out] = gold["outputs"]
    # silver keeps 00010, 21211, 31301 and 65201: TEER 0, 1, 1 and 5
    assert gold_out["outputFacets"]["outputStatistics"]["rowCount"] == 3
    entry = json.loads((data / "catalog" / "tables" / "gold" / "wage_by_teer.json").read_text())
    assert [f["name"] for f in gold_out["facets"]["schema"]["fields"]] == [
        c["name"] for c in entry["columns"]
    ]


def test_http_transport_posts_every_event_to_a_loopback_receiver(tmp_path: Path) -> None:
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        project = _init_project(
            tmp_path,
            f'[openlineage]\ntransport = "http"\nurl = "http://127.0.0.1:{port}"\n'
            'api_key_env = "JOBFORGE_TEST_OL_KEY"\nnamespace = "workforce"\n',
        )
        result = jobforge("run", "--quiet", cwd=project, env={"JOBFORGE_TEST_OL_KEY": "s3cret"})
        assert result.code == 0, result.err
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 8
    events = [json.loads(body) for _, _, body in received]
    for (path, headers, _), event in zip(received, events, strict=True):
        assert path == "/api/v1/lineage"
        assert headers["Authorization"] == "Bearer s3cret"
        assert headers["Content-Type"] == "application/json"
        validate_event(event)
        assert event["job"]["namespace"] == "workforce"
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (job, state) for job in JOBS for state in ("START", "COMPLETE")
    ]
    # the key is read from the environment: it is in no file of the project
    for path in project.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".toml", ".ndjson"):
            assert "s3cret" not in path.read_text("utf-8", errors="replace"), path


def test_a_failing_step_sends_fail_with_the_error(tmp_path: Path) -> None:
    project = _init_project(tmp_path, '[openlineage]\ntransport = "file"\npath = "events.ndjson"\n')
    toml = project / "jobforge.toml"
    # SQL that fails when it runs (the checks before a run find nothing wrong in it)
    toml.write_text(
        toml.read_text("utf-8").replace(
            "FROM occupations\n", "FROM occupations WHERE error('broken on purpose') IS NULL\n"
        ),
        "utf-8",
    )
    result = jobforge("run", "--quiet", cwd=project)
    assert result.code == 1
    assert "broken on purpose" in result.err
    events = _events(project / "events.ndjson")
    for event in events:
        validate_event(event)
    gold = _by_job(events)["wage_by_teer.gold"]
    assert [e["eventType"] for e in gold] == ["START", "FAIL"]
    assert gold[0]["run"]["runId"] == gold[1]["run"]["runId"]
    error = gold[1]["run"]["facets"]["errorMessage"]
    assert "broken on purpose" in error["message"]
    assert error["programmingLanguage"] == "python"
    assert "Traceback" in error["stackTrace"]
    # the failed record of the catalog holds the same error
    failed = [r for r in _records(project).values() if r["status"] == "failed"]
    assert [r["table_name"] for r in failed] == ["wage_by_teer"]
    assert error["message"] in failed[0]["errors"][0]
    # the steps before it completed
    assert [e["eventType"] for e in events[:6]] == ["START", "COMPLETE"] * 3


def test_console_transport_writes_events_to_stderr_and_keeps_stdout_json(tmp_path: Path) -> None:
    project = _init_project(tmp_path, '[openlineage]\ntransport = "console"\n')
    result = jobforge("run", "--json", cwd=project)
    assert result.code == 0, result.err
    steps = json.loads(result.out)
    assert [s["layer"] for s in steps] == ["staged", "bronze", "silver", "gold"]
    events = [
        json.loads(line) for line in result.err.splitlines() if line.startswith('{"eventTime"')
    ]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (job, state) for job in JOBS for state in ("START", "COMPLETE")
    ]
    for event in events:
        validate_event(event)


def test_no_section_no_events_and_no_client(tmp_path: Path) -> None:
    project = _init_project(tmp_path, "")
    result = jobforge("run", "--quiet", cwd=project)
    assert result.code == 0, result.err
    assert not any(p.suffix == ".ndjson" for p in project.rglob("*"))
    code = (
        "import sys\n"
        "from jobforge.engine.pipeline import PipelineEngine\n"
        "from jobforge.pipeline.config import PipelineConfig\n"
        f"engine = PipelineEngine(PipelineConfig({str(tmp_path / 'lib')!r}, entry_points=False))\n"
        f"engine.ingest({str(project / 'sources' / 'occupations.csv')!r}, 'occupations')\n"
        "assert 'openlineage' in [i.name for i in engine.config.plugins.infos]\n"
        "print(sorted(m for m in sys.modules if m.startswith('openlineage')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"  # (structlog prints before it)


def test_settings_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    project = _init_project(tmp_path, '[openlineage]\ntransport = "http"\n')
    result = jobforge("run", cwd=project)
    assert result.code == 2
    assert 'openlineage: url: required when transport = "http"' in result.err
    assert "Traceback" not in result.err

    other = tmp_path / "other"
    other.mkdir()
    project = _init_project(
        other,
        '[openlineage]\ntransport = "http"\nurl = "http://127.0.0.1:9"\n'
        'api_key_env = "JOBFORGE_TEST_NO_SUCH_KEY"\n',
    )
    result = jobforge("run", "--quiet", cwd=project)
    assert result.code == 1
    assert (
        "plugin 'openlineage' (jobforge 2.0.0) raised in jobforge_before_transition" in result.err
    )
    assert "the environment variable JOBFORGE_TEST_NO_SUCH_KEY is not set" in result.err
    assert "Traceback" not in result.err
    # nothing was published: the first step stopped before it read anything
    assert not (project / "data" / "staged" / "occupations" / "_current.json").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_receiver_warns_or_fails_as_configured(tmp_path: Path) -> None:
    port = _closed_port()
    section = f'[openlineage]\ntransport = "http"\nurl = "http://127.0.0.1:{port}"\n'
    warn = _init_project(tmp_path, section)
    result = jobforge("run", "--quiet", cwd=warn)
    assert result.code == 0, result.err
    warnings = [json.loads(line) for line in result.err.splitlines() if "emit_failed" in line]
    assert len(warnings) == 8
    assert {w["event"] for w in warnings} == {"openlineage.emit_failed"}
    assert warnings[0]["job"] == "occupations.staged" and warnings[0]["event_type"] == "START"

    strict = tmp_path / "strict"
    strict.mkdir()
    project = _init_project(strict, section + 'on_error = "fail"\n')
    result = jobforge("run", "--quiet", cwd=project)
    assert result.code == 1
    assert "openlineage: could not send the START event of occupations.staged" in result.err


# -- the run id and plugin settings in Python ------------------------------------------------------
class Observer:
    jobforge_plugin_name = "observer"

    def __init__(self) -> None:
        self.events: list[TransitionEvent] = []

    @hookimpl
    def jobforge_before_transition(self, event: TransitionEvent) -> None:
        self.events.append(event)


def test_every_step_of_a_run_has_the_run_id_of_the_report(tmp_path: Path) -> None:
    project = _init_project(tmp_path, "")
    observer = Observer()
    loaded = load_project(project / "jobforge.toml")
    config = project_config(loaded, plugins=[observer])
    first = run_project(loaded, config=config)
    second = run_project(loaded, config=config, full_refresh=True)
    assert uuid.UUID(first.run_id) and uuid.UUID(second.run_id)
    assert first.run_id != second.run_id
    ids = [e.run_id for e in observer.events]
    assert ids == [first.run_id] * 4 + [second.run_id] * 4
    # outside a project run, an engine's steps have the id it was given, or none
    engine = PipelineEngine(
        PipelineConfig(tmp_path / "lib", plugins=[observer], entry_points=False)
    )
    engine.ingest(project / "sources" / "occupations.csv", "occupations")
    assert observer.events[-1].run_id is None


def test_plugin_settings_reach_the_plugin_from_python(tmp_path: Path) -> None:
    events_file = tmp_path / "events.ndjson"
    settings = {"openlineage": {"transport": "file", "path": str(events_file)}}
    config = PipelineConfig(tmp_path / "data", entry_points=False, plugin_settings=settings)
    assert config.settings_for("openlineage") == settings["openlineage"]
    with pytest.raises(TypeError):
        config.settings_for("openlineage")["transport"] = "http"  # type: ignore[index]
    engine = PipelineEngine(config, run_id=str(uuid.uuid4()))
    source = tmp_path / "codes.csv"
    source.write_text("code,label\n1,one\n2,two\n", encoding="utf-8")
    engine.run_full_pipeline(source, "codes", silver=SilverSpec(dedupe="row"))
    events = _events(events_file)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (f"codes.{layer}", state)
        for layer in ("staged", "bronze", "silver")
        for state in ("START", "COMPLETE")
    ]
    assert {e["job"]["namespace"] for e in events} == {"jobforge"}
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in events} == {engine.run_id}
    for event in events:
        validate_event(event)


def test_project_settings_resolve_the_path_and_default_the_namespace(tmp_path: Path) -> None:
    project = _init_project(tmp_path, '[openlineage]\ntransport = "file"\npath = "out/ol.ndjson"\n')
    settings = project_config(load_project(project / "jobforge.toml")).settings_for("openlineage")
    assert settings is not None
    assert settings["path"] == str(project.resolve() / "out" / "ol.ndjson")
    assert settings["namespace"] == "my-pipeline"
    assert os.path.isabs(settings["path"])
