"""Issue 17: every published file's sha256 is in the record that published it,
each table's records form a hash chain, and ``jobforge verify`` names each kind
of tampering, through the real command on the real project (tests/projects.py).

The project is built once; each test works on its own copy (records name files
relative to the data root, so a copied data root verifies like the original).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import pytest

from .cli_helpers import jobforge
from .projects import REAL_GOLD_TABLES, REAL_SOURCE_TABLES, real_project


def _run(project: Path) -> None:
    result = jobforge("run", "--json", cwd=project, timeout=600)
    assert result.code == 0, result.err


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = real_project(tmp_path_factory.mktemp("audit"))
    _run(project)
    return project


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(built_once, copy, symlinks=True)
    return copy


def _verify(project: Path, *args: str) -> tuple[int, dict]:
    result = jobforge("verify", "--json", *args, cwd=project)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _records(project: Path, table: str) -> list[Path]:
    """The record files of ``table`` in chain order."""
    paths = sorted((project / "data/catalog/lineage" / table).glob("*.json"))
    return sorted(paths, key=lambda p: json.loads(p.read_text())["chain_position"])


def _canonical_sha256(data: dict) -> str:
    """A record's sha256 as docs/audit.md tells an auditor to compute it."""
    fields = {k: v for k, v in data.items() if k != "signature"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _findings(report: dict) -> list[tuple[str, str, str]]:
    return [(f["kind"], f["table"], f["subject"]) for f in report["findings"]]


def test_a_clean_project_verifies_and_counts_every_current_file(built: Path) -> None:
    code, report = _verify(built)
    assert code == 0, report["findings"]
    assert report["findings"] == []
    data = built / "data"
    # every current data file, by the pointers, plus the quarantine and duplicate
    # files that went with them (their records list them), counted independently
    expected: set[Path] = set()
    for pointer in data.glob("*/*/_current.json"):
        current = json.loads(pointer.read_text())
        for batch in current["batches"]:
            expected.add(pointer.parent / batch["file"])
    assert expected
    for table in REAL_SOURCE_TABLES + REAL_GOLD_TABLES:
        for record in map(json.loads, map(Path.read_text, _records(built, table))):
            names = {data / f["path"] for f in record["files"]}
            if names & expected:
                expected |= names
    assert report["files_checked"] == len(expected)
    assert report["bytes_checked"] == sum(p.stat().st_size for p in expected)
    assert report["records_checked"] == sum(
        len(list((data / "catalog/lineage" / t).glob("*.json")))
        for t in REAL_SOURCE_TABLES + REAL_GOLD_TABLES
    )
    text = jobforge("verify", cwd=built)
    assert text.code == 0
    assert f"{report['files_checked']} files, {report['bytes_checked']} bytes" in text.out


def test_records_hold_the_sha256_of_the_bytes_on_disk_and_the_chain(built: Path) -> None:
    data = built / "data"
    records = [json.loads(p.read_text()) for p in _records(built, "employment")]
    assert [r["chain_position"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["previous_record_sha256"] is None
    for before, after in itertools.pairwise(records):
        assert after["previous_record_sha256"] == _canonical_sha256(before)
    roles = set()
    for record in records:
        for digest in record["files"]:
            content = (data / digest["path"]).read_bytes()
            assert digest["sha256"] == hashlib.sha256(content).hexdigest()
            assert digest["size_bytes"] == len(content)
            roles.add(digest["role"])
    # employment's y2033 "N/A" rows are quarantined in bronze
    assert {"data", "quarantine"} <= roles
    source = built / "sources/employment_emploi_2024_2033_noc2021.csv"
    ingestion = records[0]
    assert ingestion["record_type"] == "ingestion"
    assert ingestion["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    head = json.loads((data / "catalog/chain/employment.json").read_text())
    assert head["record_sha256"] == _canonical_sha256(records[-1])
    assert head["position"] == len(records)
    status = jobforge("status", "--json", cwd=built)
    rows = [s for s in json.loads(status.out) if s["table"] == "employment"]
    assert {s["chain_head"] for s in rows} == {head["record_sha256"]}


def test_gold_chains_to_the_records_of_its_silver_inputs(built: Path) -> None:
    gold = json.loads(_records(built, "outlook")[-1].read_text())
    assert gold["input_record_sha256"]
    for ref in gold["inputs"]:
        table = ref["table"].split(".", 1)[1]
        (source,) = [
            p
            for p in _records(built, table)
            if json.loads(p.read_text()).get(
                "transition_id", json.loads(p.read_text()).get("ingestion_id")
            )
            == ref["record_id"]
        ]
        assert gold["input_record_sha256"][ref["record_id"]] == _canonical_sha256(
            json.loads(source.read_text())
        )


def _silver_file(project: Path, table: str) -> Path:
    current = json.loads((project / f"data/silver/{table}/_current.json").read_text())
    return project / f"data/silver/{table}" / current["batches"][0]["file"]


def test_one_flipped_byte_in_a_silver_file_is_named(built: Path) -> None:
    target = _silver_file(built, "skills")
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0x01
    target.write_bytes(bytes(content))
    code, report = _verify(built)
    assert code == 1
    name = target.relative_to(built / "data").as_posix()
    assert _findings(report) == [("changed", "skills", name)]
    text = jobforge("verify", cwd=built)
    assert text.code == 1 and f"changed: skills: {name}" in text.out


def test_a_deleted_quarantine_file_is_named(built: Path) -> None:
    records = [json.loads(p.read_text()) for p in _records(built, "employment")]
    (quarantine,) = [f["path"] for r in records for f in r["files"] if f["role"] == "quarantine"]
    (built / "data" / quarantine).unlink()
    code, report = _verify(built)
    assert code == 1
    assert _findings(report) == [("missing", "employment", quarantine)]


def test_an_edited_ledger_count_is_named(built: Path) -> None:
    paths = _records(built, "employment")
    bronze = next(p for p in paths if json.loads(p.read_text()).get("target_layer") == "bronze")
    assert bronze != paths[-1]  # in the middle of the chain
    record = json.loads(bronze.read_text())
    record["ledger"]["rows_quarantined"] += 1
    bronze.write_text(json.dumps(record, indent=2))
    code, report = _verify(built)
    assert code == 1
    assert _findings(report) == [("edited", "employment", f"employment/{bronze.name}")]


def _published_data(path: Path) -> str:
    (data,) = [f["path"] for f in json.loads(path.read_text())["files"] if f["role"] == "data"]
    return data


def _readers(project: Path, record: Path) -> list[tuple[str, str, str]]:
    """``removed`` findings of every record that read what ``record`` published."""
    wanted = json.loads(record.read_text())["transition_id"]
    found = []
    for path in sorted((project / "data/catalog/lineage").glob("*/*.json")):
        if wanted in json.loads(path.read_text()).get("input_record_sha256", {}):
            found.append(("removed", path.parent.name, f"{path.parent.name}/{path.name}"))
    return found


def test_a_record_deleted_in_the_middle_of_a_chain_is_named(built: Path) -> None:
    paths = _records(built, "noc_structure")
    assert len(paths) == 3  # ingestion, bronze, silver
    bronze_file = _published_data(paths[1])
    paths[1].unlink()
    code, report = _verify(built)
    assert code == 1
    # the gap in the chain, at the record after it; and the bronze file the
    # deleted record published is now a current file no record vouches for
    assert _findings(report) == [
        ("removed", "noc_structure", f"noc_structure/{paths[2].name}"),
        ("unrecorded", "noc_structure", bronze_file),
    ]
    assert "position 2" in report["findings"][0]["detail"]


def test_the_last_record_deleted_is_caught_by_the_chain_head(built: Path) -> None:
    paths = _records(built, "noc_structure")
    readers = _readers(built, paths[-1])
    assert readers  # gold reads silver noc_structure
    silver_file = _published_data(paths[-1])
    paths[-1].unlink()
    code, report = _verify(built)
    assert code == 1
    assert sorted(_findings(report)) == sorted(
        [
            ("removed", "noc_structure", "chain head"),
            *readers,
            ("unrecorded", "noc_structure", silver_file),
        ]
    )


def test_a_stray_parquet_file_is_named(built: Path) -> None:
    stray = _silver_file(built, "skills").with_name("batch=stray.parquet")
    shutil.copyfile(_silver_file(built, "skills"), stray)
    code, report = _verify(built)
    assert code == 1
    assert _findings(report) == [
        ("unknown", "skills", stray.relative_to(built / "data").as_posix())
    ]


def test_a_stray_parquet_file_outside_every_table_folder_is_named(built: Path) -> None:
    stray = built / "data/gold/stray.parquet"
    shutil.copyfile(_silver_file(built, "skills"), stray)
    code, report = _verify(built)
    assert code == 1
    assert _findings(report) == [("unknown", "-", "gold/stray.parquet")]


def test_verify_checks_only_the_tables_named(built: Path) -> None:
    target = _silver_file(built, "skills")
    target.write_bytes(target.read_bytes()[:-1])
    assert _verify(built, "employment")[0] == 0
    code, report = _verify(built, "skills")
    assert code == 1 and report["tables"] == ["skills"]
    wrong = jobforge("verify", "no_such_table", cwd=built)
    assert wrong.code == 1 and "no_such_table" in wrong.err
    assert "Traceback" not in wrong.err


def test_an_empty_data_root_does_not_verify(tmp_path: Path) -> None:
    result = jobforge("--data-root", "data", "verify", cwd=tmp_path)
    assert result.code == 1 and result.out == ""
    assert result.err.splitlines() == [
        "error: verify: nothing to verify in data: no table has a version or a lineage record"
    ]
