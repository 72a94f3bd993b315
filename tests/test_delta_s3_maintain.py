"""``jobforge maintain`` on an ``s3://`` data root (moto's S3 server on
loopback): the compaction and the vacuum happen in the bucket, through
delta-rs with the root's storage options.

Three deliveries of ``codes.csv`` with ``retention_days = 0``: staged holds
three small files (merged into one, then removed), bronze and silver three
versions of one file each (the two older removed). Values by hand from the
sources.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_helpers import jobforge
from .s3_server import ACCESS_KEY, SECRET_KEY, S3Server

PREFIX = "lake/maintained"

SOURCES = [
    "code,label\n1,one\n2,two\n",
    "code,label\n1,one\n2,deux\n3,three\n",
    "code,label\n4,four\n",
]


def _project(folder: Path, bucket: str, endpoint: str) -> Path:
    (folder / "sources").mkdir(parents=True)
    (folder / "jobforge.toml").write_text(
        f"""\
[storage]
format = "delta"

[storage.options]
endpoint = "{endpoint}"
region = "us-east-1"
allow_http = true
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"

[project]
name = "maintained"
data_root = "s3://{bucket}/{PREFIX}"

[tables.codes]
source = "sources/codes.csv"
domain = "reference"
[tables.codes.metadata]
retention_days = 0

[gold.code_list]
inputs = ["codes"]
sql = "SELECT code, label, _lineage FROM codes"
""",
        encoding="utf-8",
    )
    return folder


def _json(project: Path, *args: str) -> object:
    result = jobforge(*args, cwd=project, timeout=300)
    assert result.code == 0, result.err
    return json.loads(result.out)


class Bucket:
    def __init__(self, server: S3Server, name: str) -> None:
        self.server, self.name = server, name

    def sizes(self, layer: str) -> dict[str, int]:
        """Data file name -> size of every object of ``layer``'s codes table."""
        client = self.server.client()
        folder = f"{PREFIX}/{layer}/codes/"
        found: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=folder
        ):
            for o in page.get("Contents", []):
                name = o["Key"][len(folder) :]
                if "/" not in name:
                    found[name] = int(o["Size"])
        return found


@pytest.fixture(scope="module")
def maintained(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> tuple[Path, Bucket, dict[str, dict[str, int]], list[dict]]:
    bucket = Bucket(s3_server, s3_server.bucket())
    project = _project(tmp_path_factory.mktemp("s3-maintain"), bucket.name, s3_server.endpoint)
    for text in SOURCES:
        (project / "sources" / "codes.csv").write_text(text, encoding="utf-8")
        result = jobforge("run", "--json", cwd=project, timeout=300)
        assert result.code == 0, result.err
    before = {layer: bucket.sizes(layer) for layer in ("staged", "bronze", "silver")}
    report = _json(project, "maintain", "codes", "--json")
    assert isinstance(report, list)
    return project, bucket, before, report


def test_compaction_and_vacuum_happen_in_the_bucket(
    maintained: tuple[Path, Bucket, dict[str, dict[str, int]], list[dict]],
) -> None:
    project, bucket, before, report = maintained
    by_layer = {r["layer"]: r for r in report}
    assert sorted(by_layer) == ["bronze", "silver", "staged"]
    # staged: three batch files (one per delivery) merged into one, then removed
    assert len(before["staged"]) == 3 and all(n.startswith("batch=") for n in before["staged"])
    staged = by_layer["staged"]
    ((merged),) = staged["compacted"]
    assert (merged["batches"], merged["rows"]) == (3, 6)  # 2 + 3 + 1 rows
    into = Path(merged["into"]).name
    assert sorted(Path(p).name for p in merged["replaced"]) == sorted(before["staged"])
    assert bucket.sizes("staged").keys() == {into}
    assert sorted(Path(f).name for f in staged["files"]) == sorted(before["staged"])
    assert staged["bytes_removed"] == sum(before["staged"].values())
    assert (staged["kept"].keys(), staged["removed_versions"]) == ({"4"}, [1, 2, 3])
    # bronze, silver: replace, one file per version; the two older ones removed
    for layer in ("bronze", "silver"):
        found = by_layer[layer]
        assert found["compacted"] == [] and "not compacted" in found["compaction"]
        assert (found["kept"].keys(), found["removed_versions"]) == ({"3"}, [1, 2])
        left = bucket.sizes(layer)
        assert len(before[layer]) == 3 and len(left) == 1
        gone = {n: s for n, s in before[layer].items() if n not in left}
        assert sorted(Path(f).name for f in found["files"]) == sorted(gone)
        assert found["bytes_removed"] == sum(gone.values())
    # the files are named by their local copies in the state folder: none is left
    state = project / ".jobforge" / bucket.name / "lake" / "maintained"
    removed = [Path(f) for r in report for f in r["files"]]
    assert len(removed) == 7 and all(p.is_relative_to(state) for p in removed)
    assert not [p for p in removed if p.exists()]


def test_the_bucket_answers_as_before(
    maintained: tuple[Path, Bucket, dict[str, dict[str, int]], list[dict]],
) -> None:
    project, _, _, _ = maintained
    rows = _json(
        project,
        "query",
        "--format",
        "json",
        "SELECT CAST(code AS VARCHAR) AS code, label FROM staged.codes ORDER BY code, label",
    )
    assert rows == [
        {"code": "1", "label": "one"},
        {"code": "1", "label": "one"},
        {"code": "2", "label": "deux"},
        {"code": "2", "label": "two"},
        {"code": "3", "label": "three"},
        {"code": "4", "label": "four"},
    ]
    silver = "SELECT CAST(code AS VARCHAR) AS code FROM silver.codes"
    assert _json(project, "query", "--format", "json", silver) == [{"code": "4"}]
    verified = jobforge("verify", cwd=project, timeout=300)
    assert verified.code == 0, verified.out + verified.err
    assert verified.out.strip().endswith("all holds")
    history = _json(project, "history", "codes", "--layer", "silver", "--json")
    assert isinstance(history, list)
    assert [v["readable"] for v in history] == [False, False, True]
    gone = jobforge("query", "--as-of", "1", "SELECT * FROM silver.codes", cwd=project)
    assert "silver.codes: skipped: its version 1 is no longer readable" in gone.err
    again = _json(project, "maintain", "codes", "--json")
    assert isinstance(again, list)
    assert all(r["files"] == [] and r["compacted"] == [] for r in again)


def test_another_machine_sees_the_same_history(
    maintained: tuple[Path, Bucket, dict[str, dict[str, int]], list[dict]], tmp_path: Path
) -> None:
    """A fresh state folder (another machine, no local copies) reads which
    versions are readable from the bucket."""
    project, _, _, _ = maintained
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "jobforge.toml").write_bytes((project / "jobforge.toml").read_bytes())
    for layer, readable in (
        ("staged", [False, False, False, True]),
        ("silver", [False, False, True]),
    ):
        history = _json(other, "history", "codes", "--layer", layer, "--json")
        assert isinstance(history, list)
        assert [v["readable"] for v in history] == readable, layer
