"""The real project (tests/projects.py) with ``[storage] format = "delta"`` and
``data_root = "s3://..."`` against moto's S3 server on loopback: every layer
holds the rows the parquet store holds on local disk, lineage, ``verify`` and
the catalog answer the same, a second run makes no commit, and the secret
given in ``[storage.options]`` is in no file written, no object in the bucket
and no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobforge.errors import CatalogError
from jobforge.pipeline.config import PipelineConfig
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config

from .cli_helpers import Result, jobforge
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, real_project
from .s3_server import ACCESS_KEY, SECRET_KEY, S3Server, free_port
from .test_delta_project import _config, _layer_tables, _rows

PREFIX = "warehouse/main"


def s3_project(base: Path, name: str, bucket: str, endpoint: str, fmt: str = "delta") -> Path:
    """The real project with its data root in ``bucket`` and the server's
    settings (the secret too) in ``[storage.options]``."""
    project = real_project(base, name)
    toml = project / "jobforge.toml"
    text = toml.read_text(encoding="utf-8")
    storage = (
        f'[storage]\nformat = "{fmt}"\n\n[storage.options]\nendpoint = "{endpoint}"\n'
        f'region = "us-east-1"\nallow_http = true\naccess_key_id = "{ACCESS_KEY}"\n'
        f'secret_access_key = "{SECRET_KEY}"\n\n'
    )
    text = text.replace('data_root = "data"', f'data_root = "s3://{bucket}/{PREFIX}"', 1)
    toml.write_text(storage + text, encoding="utf-8")
    return project


class Warehouse:
    def __init__(self, parquet: Path, s3: Path, server: S3Server, bucket: str) -> None:
        self.parquet, self.s3, self.server, self.bucket = parquet, s3, server, bucket
        self.outputs: list[Result] = []

    def cli(self, *args: str, project: Path | None = None) -> Result:
        result = jobforge(*args, cwd=project or self.s3, timeout=600)
        self.outputs.append(result)
        return result

    def objects(self) -> dict[str, str]:
        """Every object of the bucket with its ETag."""
        client = self.server.client()
        found: dict[str, str] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        return found


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Warehouse:
    base = tmp_path_factory.mktemp("s3-project")
    bucket = s3_server.bucket()
    parquet = real_project(base, "parquet")
    s3 = s3_project(base, "s3", bucket, s3_server.endpoint)
    found = Warehouse(parquet, s3, s3_server, bucket)
    for project in (parquet, s3):
        result = found.cli("run", "--json", project=project)
        assert result.code == 0, result.err
        steps = json.loads(result.out)
        assert len(steps) == 3 * len(REAL_SOURCE_TABLES) + len(REAL_GOLD_TABLES)
        assert {s["status"] for s in steps} <= {"success", "partial"}
    return found


def _s3_config(project: Path) -> PipelineConfig:
    return project_config(load_project(project / "jobforge.toml"))


def test_every_layer_is_a_delta_table_in_the_bucket_with_the_parquet_rows(
    warehouse: Warehouse,
) -> None:
    parquet, s3 = _config(warehouse.parquet, "parquet"), _s3_config(warehouse.s3)
    assert s3.object_root is not None and s3.store.name == "delta"
    options = s3.object_root.delta_options()
    for layer, table in _layer_tables():
        assert s3.store.tables(layer) == parquet.store.tables(layer)
        assert _rows(s3, layer, table) == _rows(parquet, layer, table), (layer, table)
        uri = f"s3://{warehouse.bucket}/{PREFIX}/{layer}/{table}"
        (commit,) = DeltaTable(uri, storage_options=options).history()
        current = s3.store.current(layer, table)
        assert current is not None and commit["jobforge.record_id"] == current.record_id
        # the catalog entry of every layer names the table in the bucket, not the
        # local state folder that caches its files
        entry = s3.catalog.entry(layer, table)
        assert entry is not None and entry.file_path == uri, (layer, table)
    # noc_onet drops 78 duplicates in silver, og_subgroups 19 (as on local disk)
    for table, dropped in (("noc_onet", 78), ("og_subgroups", 19)):
        uri = f"s3://{warehouse.bucket}/{PREFIX}/quarantine/{table}/duplicates"
        assert DeltaTable(uri, storage_options=options).count() == dropped
    # the catalog is in the bucket too, beside the tables
    keys = warehouse.objects()
    assert any(k.startswith(f"{PREFIX}/catalog/lineage/outlook/") for k in keys)
    assert f"{PREFIX}/catalog/tables/gold/outlook.json" in keys
    entry = s3.catalog.entry("gold", "outlook")
    assert entry is not None
    assert entry.file_path == f"s3://{warehouse.bucket}/{PREFIX}/gold/outlook"
    state = warehouse.s3 / ".jobforge" / warehouse.bucket / "warehouse" / "main"
    assert state.is_dir() and not list(state.rglob("_delta_log"))


def test_lineage_verify_and_catalog_answer_the_same(warehouse: Warehouse) -> None:
    for table in REAL_GOLD_TABLES:
        answers = []
        for project in (warehouse.parquet, warehouse.s3):
            result = warehouse.cli("lineage", table, "--json", project=project)
            assert result.code == 0, result.err
            answers.append(sorted(s["table"] for s in json.loads(result.out)["sources"]))
        assert answers[0] == answers[1] and answers[0], table
    verdicts = []
    for project in (warehouse.parquet, warehouse.s3):
        result = warehouse.cli("verify", "--json", project=project)
        assert result.code == 0, result.out + result.err
        verdicts.append(json.loads(result.out))
    assert verdicts[0]["tables"] == verdicts[1]["tables"]
    for project in (warehouse.parquet, warehouse.s3):
        query = warehouse.cli(
            "query", "--format", "json", "SELECT count(*) AS n FROM gold.outlook", project=project
        )
        assert query.code == 0, query.err
        assert json.loads(query.out) == [{"n": 485}]
        entry = warehouse.cli("catalog", "show", "outlook", "--json", project=project)
        assert entry.code == 0, entry.err


def test_a_second_run_makes_no_commit(warehouse: Warehouse) -> None:
    before = warehouse.objects()
    steps = json.loads(warehouse.cli("run", "--json").out)
    assert {s["status"] for s in steps} == {"up to date"}
    after = warehouse.objects()
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].startswith(f"{PREFIX}/catalog/runs/"), new
    assert {k: after[k] for k in before} == before  # nothing replaced either


def test_the_secret_is_never_written(warehouse: Warehouse) -> None:
    """Every file under the project folder but jobforge.toml, every object of
    the bucket, and every output of every command this module ran."""
    secret = SECRET_KEY.encode()
    for project in (warehouse.s3,):
        for path in project.rglob("*"):
            if path.is_file() and path != project / "jobforge.toml":
                assert secret not in path.read_bytes(), path
    client = warehouse.server.client()
    for key in warehouse.objects():
        body = client.get_object(Bucket=warehouse.bucket, Key=key)["Body"].read()
        assert secret not in body, key
    # its own spread of commands, so that the check does not depend on which of
    # this module's tests ran before it in this process (pytest-xdist splits modules)
    warehouse.cli("run", "--dry-run")
    debug = warehouse.cli("--log-level", "debug", "run")  # every log event of a run
    assert debug.code == 0 and "catalog.pulled" in debug.err
    warehouse.cli("--debug", "status", "--json")
    for args in (
        ("--log-level", "debug", "lineage", "outlook", "--json"),
        ("--log-level", "debug", "verify", "--json"),
        ("--log-level", "debug", "query", "SELECT count(*) AS n FROM gold.outlook"),
        ("--log-level", "debug", "catalog", "show", "outlook", "--json"),
        ("--log-level", "debug", "history", "outlook", "--layer", "gold"),
    ):
        result = warehouse.cli(*args)
        assert result.code == 0, (args, result.err)
    assert len(warehouse.outputs) >= 10  # the fixture's two runs and this test's eight at least
    for result in warehouse.outputs:
        assert SECRET_KEY not in result.out and SECRET_KEY not in result.err


def test_another_machine_reads_the_same_warehouse(warehouse: Warehouse, tmp_path: Path) -> None:
    """A second project folder with the same root (a fresh state folder, as on
    another machine) reads the tables and the catalog from the bucket."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "jobforge.toml").write_bytes((warehouse.s3 / "jobforge.toml").read_bytes())
    (other / "sources").symlink_to(warehouse.s3 / "sources")
    here = json.loads(warehouse.cli("status", "--json").out)
    there = warehouse.cli("status", "--json", project=other)
    assert there.code == 0, there.err
    assert json.loads(there.out) == here
    query = warehouse.cli(
        "query",
        "--format",
        "json",
        "SELECT count(*) AS n FROM silver.noc_structure",
        project=other,
    )
    assert query.code == 0, query.err
    assert json.loads(query.out) == [{"n": 822}]
    verdict = warehouse.cli("verify", "--json", project=other)
    assert verdict.code == 0, verdict.out + verdict.err
    duplicates = warehouse.cli(
        "query",
        "--format",
        "json",
        "SELECT count(*) AS n FROM duplicates.noc_onet",
        project=other,
    )
    assert duplicates.code == 0, duplicates.err
    assert json.loads(duplicates.out) == [{"n": 78}]  # as on local disk
    copies = list((other / ".jobforge").rglob("batch=*.parquet"))
    assert copies  # read through the local cache of this "machine"


def test_a_catalog_write_from_elsewhere_is_never_overwritten(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    options = {
        "endpoint": s3_server.endpoint,
        "allow_http": True,
        "region": "us-east-1",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
    }

    def machine(name: str) -> PipelineConfig:
        return PipelineConfig(
            f"s3://{bucket}/shared",
            storage_format="delta",
            storage_options=options,
            state_dir=tmp_path / name,
            entry_points=False,
        )

    first, second = machine("a"), machine("b")
    first.catalog.save_chain_head("t", "head-1")
    assert second.catalog.chain_head("t") == "head-1"  # pulled from the bucket
    second.catalog.save_chain_head("t", "head-2")
    with pytest.raises(CatalogError) as caught:
        first.catalog.save_chain_head("t", "head-from-a-stale-copy")
    message = str(caught.value)
    assert "written from elsewhere" in message and "\n" not in message
    assert f"s3://{bucket}/shared/catalog/chain/t.json" in message
    assert SECRET_KEY not in message
    assert machine("c").catalog.chain_head("t") == "head-2"  # nothing was overwritten


def test_a_bad_endpoint_is_one_line(tmp_path: Path, s3_server: S3Server) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    project = s3_project(tmp_path, "p", "no-such-bucket", closed)
    for command in (("run",), ("status",)):
        result = jobforge(*command, cwd=project, timeout=300)
        assert result.code != 0
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert "Traceback" not in result.err and SECRET_KEY not in result.err + result.out
        assert "127.0.0.1" in lines[0], lines[0]


def test_object_storage_with_the_parquet_store_is_one_line(
    tmp_path: Path, s3_server: S3Server
) -> None:
    project = s3_project(tmp_path, "p", "some-bucket", s3_server.endpoint, fmt="parquet")
    result = jobforge("run", cwd=project)
    assert result.code != 0
    (line,) = result.err.strip().splitlines()
    assert 'format = "delta"' in line and "s3://some-bucket/warehouse/main" in line


def test_an_unknown_storage_option_is_named(tmp_path: Path, s3_server: S3Server) -> None:
    project = s3_project(tmp_path, "p", "some-bucket", s3_server.endpoint)
    toml = project / "jobforge.toml"
    toml.write_text(
        toml.read_text().replace("region = ", 'regoin = "x"\nregion = ', 1), encoding="utf-8"
    )
    result = jobforge("run", cwd=project)
    assert result.code != 0
    assert "storage.options.regoin: unknown key" in result.err
    assert SECRET_KEY not in result.err
