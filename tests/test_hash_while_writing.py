"""Issue 17: the sha256 and size a lineage record holds of each published file
come from the bytes as the step wrote them (:meth:`PendingFiles.sink_for`), not
from reading the written file a second time.

How "not read again" is shown: after the step wrote a file through its sink, the
test overwrites the temporary on disk with other bytes of the same length; the
digest the record would hold is still that of the bytes written (a read-back
would give the new bytes', as the path-written case shows). And a whole project
run (staged, bronze with a cast that fails, silver with a rule that fails and
duplicates, gold) on the polars, duckdb and spark (local[2]) executors never calls the one
function that hashes a file by reading it (counted through a wrapper that calls
it) except, on spark, exactly once for each part file Spark wrote (data,
quarantine and duplicates alike; Spark gives no way to hash as it writes), while
each recorded sha256 equals hashlib over the published file's bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import jobforge.audit.digest as digest_module
from jobforge.audit.digest import draft_digests
from jobforge.project.loader import load_project
from jobforge.project.runner import project_config, run_project
from jobforge.storage import literal
from jobforge.storage.atomic import final_name_of
from jobforge.storage.pending import PendingFiles
from jobforge.storage.store import Draft, StepTargets

PROJECT = """\
[project]
name = "hashing"
data_root = "data"

[engine]
executor = "{executor}"

[tables.t]
source = "sources/t.csv"
[tables.t.bronze]
cast = {{ amount = "int" }}
[tables.t.silver]
dedupe = ["id"]
rules = [{{ id = "positive", expression = "amount > 0", message = "not positive" }}]

[gold.g]
inputs = ["t"]
sql = "SELECT id, amount, _lineage FROM t"
"""

# 6 records: "x" does not cast (bronze quarantine), -5 breaks the rule (silver
# quarantine), the second "a" is a duplicate: every role of file is published.
CSV = "id,amount\na,1\nb,x\nc,-5\na,1\nd,7\ne,3\n"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _change_a_byte(path: Path) -> None:
    """Other bytes, same length, the footer intact (the first byte after the
    leading ``PAR1``): only a read of the whole file could see the change."""
    data = bytearray(path.read_bytes())
    data[4] ^= 0xFF
    path.write_bytes(bytes(data))


class _Counted:
    """Calls the real ``sha256_file`` and counts the calls."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.real = digest_module.sha256_file

    def __call__(self, path: Path) -> tuple[str, int]:
        self.paths.append(path)
        return self.real(path)


def test_a_sink_digest_is_of_the_bytes_written_not_of_the_file_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = StepTargets(
        data=tmp_path / "t" / "batch=1.parquet",
        quarantine=tmp_path / "q" / "batch=1.parquet",
        duplicates=tmp_path / "d" / "batch=1.parquet",
    )
    draft = Draft("silver", "t", "1", targets)
    pending = draft.pending
    with pending.sink_for(targets.data) as sink:  # polars streams into the sink
        literal.sink_parquet(pl.LazyFrame({"a": range(50_000)}), sink, compression="zstd")
    table = pa.table({"a": [1, 2, 3]})
    with (
        pending.sink_for(targets.quarantine, drop_if_empty=True) as apart,  # pyarrow too
        literal.parquet_writer(apart, table.schema) as writer,
    ):
        writer.write_table(table)
    tmp = pending.temp_for(targets.duplicates, drop_if_empty=True)  # a path-only writer
    with literal.parquet_writer(tmp, table.schema) as writer:
        writer.write_table(table)
    written = {final: _sha256(t) for final, t in pending.to_publish().items()}
    sizes = {final: t.stat().st_size for final, t in pending.to_publish().items()}
    assert len(written) == 3
    for t in pending.to_publish().values():
        _change_a_byte(t)
    counted = _Counted()
    monkeypatch.setattr(digest_module, "sha256_file", counted)
    digests = {tmp_path / d.path: d for d in draft_digests(tmp_path, draft)}
    # the sinks' files: the digest of what was written (the disk now holds other bytes)
    for final in (targets.data, targets.quarantine):
        assert digests[final].sha256 == written[final]
        assert digests[final].size_bytes == sizes[final]
        assert _sha256(pending.to_publish()[final]) != written[final]
    # the path-written file is read back: its digest is of the bytes on disk now
    assert counted.paths == [tmp]
    assert digests[targets.duplicates].sha256 == _sha256(tmp) != written[targets.duplicates]


def test_a_file_written_again_is_not_given_its_old_sinks_digest(tmp_path: Path) -> None:
    pending = PendingFiles()
    final = tmp_path / "batch=1.parquet"
    with pending.sink_for(final) as sink:
        sink.write(b"first")
    assert pending.written_digest(final) == (hashlib.sha256(b"first").hexdigest(), 5)
    pending.temp_for(final).write_bytes(b"second")
    assert pending.written_digest(final) is None
    open_sink = pending.sink_for(final)
    open_sink.write(b"third")
    assert pending.written_digest(final) is None  # not closed: not known yet
    open_sink.close()
    assert pending.written_digest(final) == (hashlib.sha256(b"third").hexdigest(), 5)
    pending.abort()


@pytest.mark.parametrize(
    "executor", ["polars", "duckdb", pytest.param("spark", marks=pytest.mark.slow)]
)
def test_a_run_records_every_file_without_reading_one_back(
    tmp_path: Path, executor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources/t.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "jobforge.toml").write_text(PROJECT.format(executor=executor), encoding="utf-8")
    counted = _Counted()
    monkeypatch.setattr(digest_module, "sha256_file", counted)
    project = load_project(tmp_path / "jobforge.toml")
    config = project_config(project)
    report = run_project(project, config=config)
    assert report.ok, [s.error for s in report.failed()]
    data = tmp_path / "data"
    seen: dict[tuple[str, str], int] = {}
    parts: list[str] = []
    for record_file in sorted((data / "catalog" / "lineage").rglob("*.json")):
        record = json.loads(record_file.read_text(encoding="utf-8"))
        for f in record.get("files", []):
            path = data / f["path"]
            assert f["sha256"] == _sha256(path), f["path"]
            assert f["size_bytes"] == path.stat().st_size
            key = (record.get("target_layer", "staged"), f["role"])
            if ".part-" in path.name:  # a Spark part file: counted once per output
                # (data, and the rows set apart: Spark writes those in parts too)
                assert executor == "spark", f["path"]
                parts.append(path.name)
                if path.name.endswith(".part-00000.parquet"):
                    seen[key] = seen.get(key, 0) + 1
                continue
            seen[key] = seen.get(key, 0) + 1
    # Spark's part files cannot be hashed as Spark writes them: each is read
    # once, from its temporary, and nothing else is ever read back
    assert sorted(final_name_of(p) for p in counted.paths) == sorted(parts)
    assert (executor == "spark") == bool(parts)
    assert seen == {
        ("staged", "data"): 1,
        ("bronze", "data"): 1,
        ("bronze", "quarantine"): 1,
        ("silver", "data"): 1,
        ("silver", "quarantine"): 1,
        ("silver", "duplicates"): 1,
        ("gold", "data"): 1,
    }
