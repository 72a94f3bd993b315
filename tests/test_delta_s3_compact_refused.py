"""A compaction on an ``s3://`` data root (moto's S3 server on loopback) whose
bucket refuses writes to the table's folder (a bucket policy denying
``s3:PutObject`` there, which moto enforces): the upload of the compacted file
is refused, and maintain ends as on local disk: one line, exit 1, no
traceback, the staged version unchanged, no compacted object in the bucket or
on local disk, a ``failed`` compaction record (the catalog's folder still takes
writes). With the policy removed, the next maintain compacts and verify holds.
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
from .test_delta_s3_compact_failure import PREFIX, PROJECT, _history, _objects


def _deny_writes(server: S3Server, bucket: str, folder: str) -> None:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{folder}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    server.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_a_bucket_refusing_writes_fails_the_compaction_and_changes_nothing(
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
    log_folder = f"{PREFIX}/staged/codes/_delta_log/"
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=log_folder)["Contents"]
    commits = sorted(o["Key"] for o in listed)

    _deny_writes(s3_server, bucket, f"{PREFIX}/staged/codes")
    result = jobforge("maintain", "codes", "--layer", "staged", cwd=project, timeout=300)
    assert result.code == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    (line,) = lines
    assert line.startswith("error: maintain: compaction of staged.codes failed: "), line
    assert line.endswith("nothing was committed (version 3 unchanged)"), line

    # the version and the Delta log unchanged; no compacted file in the bucket or locally
    assert [v["version"] for v in _history(project)] == [1, 2, 3]
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=log_folder)["Contents"]
    assert sorted(o["Key"] for o in listed) == commits
    assert _objects(s3_server, bucket) == before
    config = project_config(load_project(project / "jobforge.toml"))
    local = config.store.table_dir("staged", "codes")
    assert not list(local.glob("compact=*"))
    # the failed record, with the error the line gives
    last = CatalogManager(config).lineage_records("codes")[-1]
    assert isinstance(last, TransitionRecord)
    assert (last.transforms_applied, last.status) == (["compact"], "failed")
    ((error),) = last.errors
    assert error in line

    # writes allowed again: the next maintain compacts the three batches
    s3_server.client().delete_bucket_policy(Bucket=bucket)
    again = jobforge("maintain", "codes", "--layer", "staged", "--json", cwd=project, timeout=300)
    assert again.code == 0, again.err
    ((merged,),) = [r["compacted"] for r in json.loads(again.out)]
    assert (merged["batches"], merged["rows"]) == (3, 3)
    assert [v["version"] for v in _history(project)] == [1, 2, 3, 4]
    verified = jobforge("verify", cwd=project, timeout=300)
    assert verified.code == 0, verified.out + verified.err
