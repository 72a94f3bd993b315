"""Issue 17: with ``[audit] signing_key`` every lineage record is signed (ed25519)
and ``jobforge verify --public-key`` checks each signature; a record edited with
its chain rewritten (which the chain alone cannot catch) is named by it. Through
the real command on the real project."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .cli_helpers import jobforge
from .projects import real_project


def _write_key(private: Ed25519PrivateKey, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "audit-key.pem"
    secret.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = folder / "audit-key.pub.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return secret, public


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("signed")
    project = real_project(base)
    _write_key(Ed25519PrivateKey.generate(), project / "keys")
    with (project / "jobforge.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[audit]\nsigning_key = "keys/audit-key.pem"\n')
    result = jobforge("run", "--json", cwd=project, timeout=600)
    assert result.code == 0, result.err
    return project


@pytest.fixture
def signed(signed_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(signed_once, copy)
    return copy


def _verify(project: Path, *args: str) -> tuple[int, dict]:
    result = jobforge("verify", "--json", *args, cwd=project)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _canonical_sha256(data: dict) -> str:
    fields = {k: v for k, v in data.items() if k != "signature"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_record_is_signed_and_verifies(signed: Path) -> None:
    public_key = signed / "keys/audit-key.pub.pem"
    code, report = _verify(signed, "--public-key", str(public_key))
    assert code == 0, report["findings"]
    records = list((signed / "data/catalog/lineage").glob("*/*.json"))
    assert report["signatures_checked"] == report["records_checked"] == len(records)
    # each signature is the key's signature of the record's canonical sha256
    public = serialization.load_pem_public_key(public_key.read_bytes())
    for path in records:
        data = json.loads(path.read_text())
        public.verify(bytes.fromhex(data["signature"]), _canonical_sha256(data).encode())
    text = jobforge("verify", cwd=signed)
    assert text.code == 0 and "signatures not checked: no public key" in text.out


def test_a_signed_record_edited_with_its_chain_rewritten_is_named(signed: Path) -> None:
    folder = signed / "data/catalog/lineage/skills"
    paths = sorted(folder.glob("*.json"), key=lambda p: json.loads(p.read_text())["chain_position"])
    last = paths[-1]
    record = json.loads(last.read_text())
    record["ledger"]["rows_out"] -= 1
    record["ledger"]["rows_quarantined"] += 1
    last.write_text(json.dumps(record, indent=2))
    head_file = signed / "data/catalog/chain/skills.json"
    head = json.loads(head_file.read_text())
    head["record_sha256"] = _canonical_sha256(record)
    head_file.write_text(json.dumps(head))
    # readers of the record hold its old hash: an attacker rewrites those too
    rewritten = [f"skills/{last.name}"]
    for path in (signed / "data/catalog/lineage").glob("*/*.json"):
        data = json.loads(path.read_text())
        if record["transition_id"] in data.get("input_record_sha256", {}):
            data["input_record_sha256"][record["transition_id"]] = _canonical_sha256(record)
            path.write_text(json.dumps(data, indent=2))
            reader_head = signed / "data/catalog/chain" / f"{path.parent.name}.json"
            reader = json.loads(reader_head.read_text())
            if reader["record_id"] == data["transition_id"]:
                reader["record_sha256"] = _canonical_sha256(data)
                reader_head.write_text(json.dumps(reader))
            rewritten.append(f"{path.parent.name}/{path.name}")
    # without the key, the rewritten chain holds: only signing catches this
    assert _verify(signed)[0] == 0
    code, report = _verify(signed, "--public-key", str(signed / "keys/audit-key.pub.pem"))
    assert code == 1
    found = sorted((f["kind"], f["subject"]) for f in report["findings"])
    assert found == sorted(("signature", name) for name in rewritten)
    assert all("does not hold" in f["detail"] for f in report["findings"])


def test_another_public_key_is_named(signed: Path, tmp_path: Path) -> None:
    _, other = _write_key(Ed25519PrivateKey.generate(), tmp_path / "other")
    code, report = _verify(signed, "skills", "--public-key", str(other))
    assert code == 1
    assert {f["kind"] for f in report["findings"]} == {"signature"}
    assert all("another key" in f["detail"] for f in report["findings"])


def test_a_key_that_is_not_a_key_is_one_line(signed: Path) -> None:
    bad = signed / "keys/not-a-key.pem"
    bad.write_text("hello\n")
    result = jobforge("verify", "--public-key", str(bad), cwd=signed)
    assert result.code == 2
    assert result.err.startswith(f"error: {bad}: not a PEM public key")
    assert "Traceback" not in result.err
