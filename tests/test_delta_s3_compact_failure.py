"""A compaction that fails on an ``s3://`` data root (moto's S3 server on
loopback) behaves as on local disk: one line naming the table and the missing
file, exit 1, no traceback, the staged version unchanged, no compacted object
left in the bucket, a ``failed`` compaction record in the bucket's catalog; with
the object back, the next maintain compacts.

The failure is real: one staged object the current version lists is deleted from
the bucket, and maintain runs from a fresh state folder (another machine: no
local copy of it to read instead).
"""

from __future__ import annotations

import json
from pathlib import Path

from jobforge.catalog.manager import CatalogManager
from jobforge.pipeline.models import TransitionRecord
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config

from .cli_helpers import jobforge
from .s3_server import ACCESS_KEY, SECRET_KEY, S3Server

PREFIX = "lake/failing"

PROJECT = """\
[storage]
format = "delta"

[storage.options]
endpoint = "{endpoint}"
region = "us-east-1"
allow_http = true
access_key_id = "{key}"
secret_access_key = "{secret}"

[project]
name = "failing"
data_root = "s3://{bucket}/{prefix}"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
"""


def _objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    """Data file name -> bytes of every object of the staged codes table."""
    client = server.client()
    folder = f"{PREFIX}/staged/codes/"
    found = {}
    listed = client.list_objects_v2(Bucket=bucket, Prefix=folder).get("Contents", [])
    for o in listed:
        name = o["Key"][len(folder) :]
        if "/" not in name:
            found[name] = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return found


def _history(project: Path) -> list[dict]:
    result = jobforge("history", "codes", "--layer", "staged", "--json", cwd=project, timeout=300)
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert isinstance(found, list)
    return found


def test_a_deleted_object_fails_the_compaction_and_changes_nothing(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    text = PROJECT.format(
        endpoint=s3_server.endpoint, key=ACCESS_KEY, secret=SECRET_KEY, bucket=bucket, prefix=PREFIX
    )
    project = tmp_path / "project"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(text, encoding="utf-8")
    for n in range(1, 4):
        (project / "sources" / "codes.csv").write_text(f"code,label\n{n},label {n}\n", "utf-8")
        result = jobforge("run", "--to", "bronze", cwd=project, timeout=300)
        assert result.code == 0, result.err
    batches = _history(project)[-1]["batches"]
    assert len(batches) == 3
    before = _objects(s3_server, bucket)
    assert sorted(before) == sorted(f"batch={b}.parquet" for b in batches)

    # another machine (no local copies), the second batch's object gone
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "jobforge.toml").write_text(text, encoding="utf-8")
    second = f"batch={batches[1]}.parquet"
    key = f"{PREFIX}/staged/codes/{second}"
    s3_server.client().delete_object(Bucket=bucket, Key=key)

    result = jobforge("maintain", "codes", "--layer", "staged", cwd=other, timeout=300)
    assert result.code == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    (line,) = lines
    assert line.startswith("error: maintain: compaction of staged.codes failed: "), line
    assert second in line and "version 3 unchanged" in line, line

    # the version unchanged, no compacted object; the two other objects as they were
    assert [v["version"] for v in _history(other)] == [1, 2, 3]
    left = _objects(s3_server, bucket)
    assert sorted(left) == sorted(n for n in before if n != second)
    assert all(left[n] == before[n] for n in left)
    # a failed compaction record naming the missing file, chained in the bucket's catalog
    config = project_config(load_project(other / "jobforge.toml"))
    last = CatalogManager(config).lineage_records("codes")[-1]
    assert isinstance(last, TransitionRecord)
    assert (last.transforms_applied, last.status) == (["compact"], "failed")
    ((error),) = last.errors
    assert second in error and error in line

    # with the object back, the next maintain compacts the three batches
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=before[second])
    again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=other, timeout=300)
    assert again.code == 0, again.err
    ((merged,),) = [r["compacted"] for r in json.loads(again.out)]
    assert (merged["batches"], merged["rows"]) == (3, 3)
    assert [v["version"] for v in _history(other)] == [1, 2, 3, 4]
    verified = jobforge("verify", cwd=other, timeout=300)
    assert verified.code == 0, verified.out + verified.err
