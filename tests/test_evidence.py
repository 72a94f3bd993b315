"""Issue 17, the evidence pack: ``jobforge evidence TABLE --where ... -o pack.zip``
and its ``reproduce.py``, run in a fresh venv that holds only DuckDB.

The expected values are read by hand from the demo's source files
(``src/jobforge/demo/sources``):

- ``employment_emploi_2024_2033_noc2021.csv`` line 102 (record 101):
  ``21211,Data scientists,...,36600,...,42700`` (2023 and 2033 employment);
- ``noc_structure_en.csv`` records 106 (broad category 2, "Natural and applied
  sciences and related occupations"), 113 (major group 21) and 135 (unit group
  21211, "Data scientists"), lines 107, 114 and 136;
- so change 2033 - 2023 = 6100, 6100 / 36600 = 16.67 %, rounded 16.7; TEER is
  the second digit of 21211: 1.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jobforge.errors import SourceError
from jobforge.evidence.source_records import csv_records
from tests.cli_helpers import jobforge

DEMO_SOURCES = Path(__file__).parent.parent / "src" / "jobforge" / "demo" / "sources"
EMPLOYMENT = "employment_emploi_2024_2033_noc2021.csv"
STRUCTURE = "noc_structure_en.csv"
WHERE_21211 = "noc_code = '21211'"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evidence-demo")
    result = jobforge("demo", "warehouse", "--quiet", cwd=root, timeout=600)
    assert result.code == 0, result.err
    return root / "warehouse"


@pytest.fixture(scope="session")
def duckdb_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with only DuckDB installed (no jobforge)."""
    venv = tmp_path_factory.mktemp("duckdb-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    version = importlib.metadata.version("duckdb")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"duckdb=={version}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check = subprocess.run(
        [str(python), "-c", "import jobforge"], capture_output=True, timeout=60, check=False
    )
    assert check.returncode != 0, "the venv must not see jobforge"
    return python


def _pack(project: Path, out: Path, table: str, where: str) -> Path:
    result = jobforge("evidence", table, "--where", where, "-o", str(out), cwd=project)
    assert result.code == 0, result.err
    return out


def _unzip(pack: Path, folder: Path) -> Path:
    folder.mkdir()
    assert not any(folder.iterdir())
    with zipfile.ZipFile(pack) as archive:
        archive.extractall(folder)
    return folder


def _reproduce(python: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "reproduce.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _line(path: Path, number: int) -> bytes:
    return path.read_bytes().splitlines(keepends=True)[number - 1]


def test_pack_for_21211_reproduces_with_duckdb_only(
    demo: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", WHERE_21211)
    folder = _unzip(pack, tmp_path / "unzipped")
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    files = {s["file_name"]: s["records_file"] for s in evidence["sources"]}
    # 3 records in each source table's chain (ingestion, bronze, silver), 1 in each
    # gold one: 2 + 2 previous links; inputs: 2 bronze, 2 silver, dim_noc 1, fact 1,
    # outlook 2; the demo files have 533 and 822 records (see the module docstring)
    assert done.stdout.splitlines() == [
        "gold.occupation_outlook where noc_code = '21211': 1 row(s)",
        "chain: 9 lineage record(s) of 5 table(s) hold: 4 previous-record link(s), "
        "8 input link(s), 5 chain head(s) checked",
        f"{files[STRUCTURE]}: file sha256 not checked: the pack holds 3 of its 822 records "
        f"(hash your copy of {STRUCTURE})",
        f"{files[EMPLOYMENT]}: file sha256 not checked: the pack holds 1 of its 533 records "
        f"(hash your copy of {EMPLOYMENT})",
        "signatures not checked: no public key (python reproduce.py --public-key FILE)",
        "row 1: noc_code='21211', title='Data scientists', teer=1, "
        "broad_category='Natural and applied sciences and related occupations', "
        "employment_2023=36600, employment_2033=42700, change_2023_2033=6100, change_pct=16.7",
        "all 1 row(s) match the source records",
    ]


def test_pack_holds_the_raw_source_records_with_the_files_sha256(
    demo: Path, tmp_path: Path
) -> None:
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", WHERE_21211)
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    sources = {s["file_name"]: s for s in evidence["sources"]}
    assert sorted(sources) == [EMPLOYMENT, STRUCTURE]
    for name, source in sources.items():
        original = DEMO_SOURCES / name
        assert source["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
        assert source["size_bytes"] == original.stat().st_size
    employment = sources[EMPLOYMENT]
    assert [(r["source_row"], r["first_line"]) for r in employment["records"]] == [(101, 102)]
    records_file = (folder / employment["records_file"]).read_bytes()
    assert records_file == _line(DEMO_SOURCES / EMPLOYMENT, 1) + _line(
        DEMO_SOURCES / EMPLOYMENT, 102
    )
    assert (
        employment["records"][0]["sha256"]
        == hashlib.sha256(_line(DEMO_SOURCES / EMPLOYMENT, 102)).hexdigest()
    )
    structure = sources[STRUCTURE]
    assert [(r["source_row"], r["first_line"]) for r in structure["records"]] == [
        (106, 107),
        (113, 114),
        (135, 136),
    ]
    expected = b"".join(_line(DEMO_SOURCES / STRUCTURE, n) for n in (1, 107, 114, 136))
    assert (folder / structure["records_file"]).read_bytes() == expected
    # every lineage record on the way: 2 ingestions, 2 x (bronze, silver), 3 gold
    steps = sorted(
        (r["table_name"], r.get("target_layer"))
        for r in (
            json.loads((folder / path).read_text(encoding="utf-8"))
            for path in evidence["lineage_records"]
        )
    )
    assert steps == [
        ("dim_noc", "gold"),
        ("employment", "bronze"),
        ("employment", "silver"),
        ("employment", "staged"),
        ("fact_employment_projection", "gold"),
        ("noc_structure", "bronze"),
        ("noc_structure", "silver"),
        ("noc_structure", "staged"),
        ("occupation_outlook", "gold"),
    ]
    assert [g["name"] for g in evidence["gold"]] == [
        "dim_noc",
        "fact_employment_projection",
        "occupation_outlook",
    ]
    assert evidence["bronze"]["employment"]["cast"]["y2033"]["null_values"] == ["N/A"]
    assert [r["id"] for r in evidence["silver"]["noc_structure"]["rules"]] == [
        "level_in_range",
        "code_length_matches_level",
    ]
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_changed_source_value_names_the_row(
    demo: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", WHERE_21211)
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    (employment,) = [s for s in evidence["sources"] if s["file_name"] == EMPLOYMENT]
    records = folder / employment["records_file"]
    text = records.read_bytes()
    assert text.count(b",42200,42700") == 1
    records.write_bytes(text.replace(b",42200,42700", b",42200,42800"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "MISMATCH row 1 (noc_code='21211'): employment_2033 is 42800, published 42700, "
        "change_2023_2033 is 6200, published 6100, change_pct is 16.9, published 16.7"
    ) in done.stdout
    assert f"note: {employment['records_file']} differs from its SHA256SUMS line" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 of 1 row(s) do not match"


def test_an_edited_record_in_the_pack_is_named(
    demo: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    """The bronze record of employment (position 2 of 3) with one ledger count
    changed: the silver record after it and the silver record reading it both
    hold its old sha256; the rows still match, the exit is 1."""
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", WHERE_21211)
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    chain = evidence["chains"]["employment"]["records"]
    kinds = [json.loads((folder / p).read_bytes()).get("target_layer") for p in chain]
    assert kinds == ["staged", "bronze", "silver"]
    bronze = folder / chain[1]
    data = json.loads(bronze.read_bytes())
    assert data["chain_position"] == 2
    data["ledger"]["rows_quarantined"] += 1
    bronze.write_text(json.dumps(data, indent=2), encoding="utf-8")
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("chain: 9 lineage record(s) of 5 table(s) do not hold (2 problem")
    assert [line for line in lines if line.startswith("  CHAIN ")] == [
        f"  CHAIN {chain[1]}: edited: its sha256 is not the one the next record ({chain[2]}) holds",
        f"  CHAIN {chain[1]}: edited: its sha256 is not the one its reader {chain[2]} holds",
    ]
    assert f"  note: {chain[1]} differs from its SHA256SUMS line" in lines
    assert lines[-2:] == [
        "all 1 row(s) match the source records",
        "the lineage records do not hold: 2 problem(s)",
    ]


def test_changed_rule_input_drops_the_row(demo: Path, duckdb_python: Path, tmp_path: Path) -> None:
    """A level that breaks the silver rule: the row cannot be re-derived."""
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", WHERE_21211)
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    (structure,) = [s for s in evidence["sources"] if s["file_name"] == STRUCTURE]
    records = folder / structure["records_file"]
    text = records.read_bytes()
    records.write_bytes(text.replace(b"\n5,Unit Group,21211,", b"\n4,Unit Group,21211,"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "MISMATCH row 1 (noc_code='21211'): not re-derived from its source records" in done.stdout
    )
    assert "note: noc_structure record 135: fails rule 'code_length_matches_level'" in done.stdout


def test_several_rows_of_another_gold_table(
    demo: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    where = "noc_code = '21211' AND year IN (2023, 2033)"
    pack = _pack(demo, tmp_path / "pack.zip", "fact_employment_projection", where)
    folder = _unzip(pack, tmp_path / "unzipped")
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sorted(line for line in done.stdout.splitlines() if line.startswith("row "))
    assert [r.split(": ", 1)[1] for r in rows] == sorted(
        [
            "noc_code='21211', year=2023, employment=36600",
            "noc_code='21211', year=2033, employment=42700",
        ]
    )
    assert done.stdout.splitlines()[-1] == "all 2 row(s) match the source records"


def test_every_row_of_the_outlook_reproduces(
    demo: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    """All 485 rows: reproduce.py's bronze, silver and gold agree with jobforge's
    on the whole demo, not only on one hand-picked row."""
    pack = _pack(demo, tmp_path / "pack.zip", "occupation_outlook", "true")
    folder = _unzip(pack, tmp_path / "unzipped")
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert done.stdout.splitlines()[-1] == "all 485 row(s) match the source records"


def test_a_missing_output_folder_is_a_one_line_error(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "pack.zip"
    result = jobforge(
        "evidence", "occupation_outlook", "--where", WHERE_21211, "-o", str(out), cwd=demo
    )
    assert result.code == 2
    assert result.err.strip() == (f"error: evidence: -o {out}: folder {out.parent} does not exist")
    assert not out.parent.exists()


def test_no_matching_row_is_a_one_line_error(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.zip"
    result = jobforge(
        "evidence", "occupation_outlook", "--where", "noc_code = 'nope'", "-o", str(out), cwd=demo
    )
    assert result.code == 2
    assert result.err.strip() == (
        "error: evidence: no row of gold.occupation_outlook where noc_code = 'nope'"
    )
    assert not out.exists()


def test_a_declaration_changed_since_the_run_is_refused(demo: Path, tmp_path: Path) -> None:
    project = tmp_path / "changed"
    project.mkdir()
    text = (demo / "jobforge.toml").read_text(encoding="utf-8")
    changed = text.replace("round(100.0 *", "round(1000.0 *")
    assert changed != text
    (project / "jobforge.toml").write_text(changed, encoding="utf-8")
    out = tmp_path / "pack.zip"
    result = jobforge(
        "--data-root",
        str(demo / "data"),
        "evidence",
        "occupation_outlook",
        "--where",
        WHERE_21211,
        "-o",
        str(out),
        cwd=project,
    )
    assert result.code == 2, result.err
    assert result.err.strip() == (
        "error: evidence: the declaration of silver -> gold of occupation_outlook changed "
        "since it ran (sql); run the table again, then make the pack"
    )
    assert not out.exists()


def test_csv_records_keep_multi_line_quoted_fields() -> None:
    data = (
        b'id,note\r\n1,"first\r\nsecond line"\r\n\r\n2,plain\r\n3,"a ""quoted"" one\nand more"\r\n'
    )
    found = csv_records(data, [2, 3], name="notes.csv")
    assert found.header == b"id,note\r\n"
    assert [(r.source_row, r.first_line, r.last_line) for r in found.records] == [
        (2, 5, 5),
        (3, 6, 7),
    ]
    assert found.records[1].raw == b'3,"a ""quoted"" one\nand more"\r\n'
    assert found.records[1].fields == ("3", 'a "quoted" one\nand more')
    first = csv_records(data, [1], name="notes.csv").records[0]
    assert first.raw == b'1,"first\r\nsecond line"\r\n'
    with pytest.raises(SourceError, match=r"notes.csv: has no record\(s\) 4 \(it has 3 records\)"):
        csv_records(data, [4], name="notes.csv")


SMALL_PROJECT = """
[project]
name = "evidence-small"
data_root = "data"

[tables.items]
source = "sources/items.csv"

[tables.items.bronze]
rename = { "Item Id" = "id", "Note" = "note", "Amount" = "amount", "Paid" = "paid" }
cast = { amount = "float", paid = { type = "bool", true_values = ["oui"], false_values = ["non"] } }

[tables.items.silver]
dedupe = ["id"]
rules = [{ id = "amount_positive", expression = "amount > 0", severity = "error" }]

[gold.paid_items]
inputs = ["items"]
sql = '''
SELECT id, note, amount * 2 AS doubled, paid, _lineage FROM items WHERE paid
'''
"""

ITEMS = (
    b"Item Id,Note,Amount,Paid\r\n"
    b'a1,"first line\r\nsecond line, with a comma",1.5,oui\r\n'
    b"b2,plain,-3,oui\r\n"
    b'c3,"say ""hi""\nthen go",2.25,oui\r\n'
    b"d4,unpaid,4,non\r\n"
)
"""Record 1 spans lines 2-3, record 3 lines 5-6; b2 breaks the rule, d4 is not paid."""


def test_multi_line_records_float_and_bool_casts(duckdb_python: Path, tmp_path: Path) -> None:
    project = tmp_path / "small"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(SMALL_PROJECT, encoding="utf-8")
    (project / "sources" / "items.csv").write_bytes(ITEMS)
    result = jobforge("run", cwd=project)
    assert result.code == 0, result.err
    pack = _pack(project, tmp_path / "pack.zip", "paid_items", "doubled > 1")
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    (source,) = evidence["sources"]
    assert [(r["source_row"], r["first_line"], r["last_line"]) for r in source["records"]] == [
        (1, 2, 3),
        (3, 5, 6),
    ]
    lines = ITEMS.splitlines(keepends=True)
    assert (folder / source["records_file"]).read_bytes() == b"".join(
        [lines[0], lines[1], lines[2], lines[4], lines[5]]
    )
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sorted(line for line in done.stdout.splitlines() if line.startswith("row "))
    assert [r.split(": ", 1)[1] for r in rows] == sorted(
        [
            "id='a1', note='first line\\r\\nsecond line, with a comma', doubled=3.0, paid=True",
            "id='c3', note='say \"hi\"\\nthen go', doubled=4.5, paid=True",
        ]
    )
    assert done.stdout.splitlines()[-1] == "all 2 row(s) match the source records"
    records = folder / source["records_file"]
    records.write_bytes(records.read_bytes().replace(b",2.25,oui", b",2.25,non"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH row " in done.stdout
    assert "(id='c3'): not re-derived from its source records" in done.stdout


def test_signatures_are_checked_with_cryptography_and_said_unchecked_without(
    duckdb_python: Path, tmp_path: Path
) -> None:
    """A signed project with ``[audit] public_key``: the pack holds the key; the
    dev venv's python (it has ``cryptography``) checks the 4 records' signatures
    (items: ingestion, bronze, silver; paid_items: gold), the DuckDB-only one says
    it did not; a record edited in the pack breaks its signature."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    project = tmp_path / "signed"
    (project / "sources").mkdir(parents=True)
    (project / "keys").mkdir()
    private = Ed25519PrivateKey.generate()
    (project / "keys" / "audit.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (project / "keys" / "audit.pub.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (project / "jobforge.toml").write_text(
        SMALL_PROJECT
        + '\n[audit]\nsigning_key = "keys/audit.pem"\npublic_key = "keys/audit.pub.pem"\n',
        encoding="utf-8",
    )
    (project / "sources" / "items.csv").write_bytes(ITEMS)
    result = jobforge("run", cwd=project)
    assert result.code == 0, result.err
    pack = _pack(project, tmp_path / "pack.zip", "paid_items", "doubled > 1")
    folder = _unzip(pack, tmp_path / "unzipped")
    assert (folder / "public_key.pem").read_bytes() == (
        project / "keys" / "audit.pub.pem"
    ).read_bytes()
    with_crypto = _reproduce(Path(sys.executable), folder)
    assert with_crypto.returncode == 0, with_crypto.stdout + with_crypto.stderr
    assert "4 signatures checked with public_key.pem" in with_crypto.stdout.splitlines()
    without = _reproduce(duckdb_python, folder)
    assert without.returncode == 0, without.stdout + without.stderr
    assert (
        "signatures not checked: the cryptography package is not installed"
        in without.stdout.splitlines()
    )
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    (gold_record,) = evidence["chains"]["paid_items"]["records"]
    data = json.loads((folder / gold_record).read_bytes())
    data["seconds"] = data["seconds"] + 1.0
    (folder / gold_record).write_text(json.dumps(data), encoding="utf-8")
    edited = _reproduce(Path(sys.executable), folder)
    assert edited.returncode == 1, edited.stdout + edited.stderr
    chain_lines = [line for line in edited.stdout.splitlines() if line.startswith("  CHAIN ")]
    assert chain_lines == [
        f"  CHAIN {gold_record}: edited: its sha256 is not the one the chain head holds",
        f"  CHAIN {gold_record}: signature: does not hold: edited",
    ]


APPEND_PROJECT = """
[project]
name = "evidence-append"
data_root = "data"
mode = "append"

[tables.sales]
source = "sources/sales-*.csv"

[tables.sales.bronze]
cast = { amount = "int" }

[tables.sales.silver]
dedupe = ["id"]

[gold.region_totals]
inputs = ["sales"]
sql = '''
SELECT region, sum(amount) AS total, count(*) AS n, flatten(list(_lineage)) AS _lineage
FROM sales GROUP BY region
'''
"""

SALES_1 = b"id,region,amount\ns1,east,10\ns2,west,20\ns1,east,10\ns3,east,5\n"
"""Batch 1: record 3 repeats s1 (record 1): silver drops it as a duplicate of 1."""
SALES_2 = b"id,region,amount\ns4,east,7\ns4,east,8\ns3,east,5\ns5,west,1\n"
"""Batch 2, a later run: record 2 repeats s4 with another amount (dropped, the
first is kept); s3 again, but de-duplication is within a batch, so it stays.
By hand: east = 10 + 5 (batch 1) + 7 + 5 (batch 2) = 27 from 4 rows; west =
20 + 1 = 21 from 2 rows."""


@pytest.fixture(scope="module")
def append_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("append") / "project"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(APPEND_PROJECT, encoding="utf-8")
    (project / "sources" / "sales-1.csv").write_bytes(SALES_1)
    assert jobforge("run", cwd=project).code == 0
    (project / "sources" / "sales-2.csv").write_bytes(SALES_2)
    result = jobforge("run", cwd=project)
    assert result.code == 0, result.err
    return project


def _by_file(evidence: dict) -> dict[str, dict]:
    return {s["file_name"]: s for s in evidence["sources"]}


def test_an_append_table_with_duplicates_reproduces(
    append_project: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    pack = _pack(append_project, tmp_path / "pack.zip", "region_totals", "region = 'east'")
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    sources = _by_file(evidence)
    assert sorted(sources) == ["sales-1.csv", "sales-2.csv"]
    assert sources["sales-1.csv"]["batch_id"] != sources["sales-2.csv"]["batch_id"]
    # the kept east rows and the duplicates dropped in their favour, in file order
    assert [
        (r["source_row"], r["first_line"], r["duplicate_of"])
        for r in sources["sales-1.csv"]["records"]
    ] == [(1, 2, None), (3, 4, 1), (4, 5, None)]
    assert [
        (r["source_row"], r["first_line"], r["duplicate_of"])
        for r in sources["sales-2.csv"]["records"]
    ] == [(1, 2, None), (2, 3, 1), (3, 4, None)]
    assert (folder / sources["sales-2.csv"]["records_file"]).read_bytes() == (
        b"id,region,amount\ns4,east,7\ns4,east,8\ns3,east,5\n"
    )
    assert not sources["sales-1.csv"]["whole_file"]
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    first, second = (sources[n]["batch_id"][:8] for n in ("sales-1.csv", "sales-2.csv"))
    # sales: 2 ingestions, 2 bronze, 2 silver (positions 1-6); region_totals: 2 gold
    assert lines[1] == (
        "chain: 8 lineage record(s) of 2 table(s) hold: 6 previous-record link(s), "
        "7 input link(s), 2 chain head(s) checked"
    )
    assert f"sales record 3 (batch {first}): a duplicate of record 1, dropped as published" in (
        lines
    )
    assert f"sales record 2 (batch {second}): a duplicate of record 1, dropped as published" in (
        lines
    )
    assert "row 1: region='east', total=27.0, n=4" in lines
    assert lines[-1] == "all 1 row(s) match the source records"
    # the dropped duplicate changed so that it is no longer one: named, exit 1
    records = folder / sources["sales-2.csv"]["records_file"]
    records.write_bytes(records.read_bytes().replace(b"s4,east,8", b"s6,east,8"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"  MISMATCH sales record 2 (batch {second}): published as a duplicate of record 1, "
        "re-derived as kept"
    ) in done.stdout.splitlines()
    assert done.stdout.splitlines()[-1] == "1 duplicate record(s) not re-derived as published"


def test_whole_source_files_in_a_pack_are_checked_against_their_sha256(
    append_project: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    """Every row: every record of both files is on the way, so the pack holds the
    files themselves and reproduce.py checks their sha256."""
    pack = _pack(append_project, tmp_path / "pack.zip", "region_totals", "true")
    folder = _unzip(pack, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    sources = _by_file(evidence)
    for name, data in (("sales-1.csv", SALES_1), ("sales-2.csv", SALES_2)):
        assert sources[name]["whole_file"]
        assert (folder / sources[name]["records_file"]).read_bytes() == data
        assert sources[name]["sha256"] == hashlib.sha256(data).hexdigest()
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("sales-1.csv", "sales-2.csv"):
        assert (
            f"{sources[name]['records_file']}: the whole file, sha256 matches its ingestion record"
        ) in lines
    assert sorted(line.split(": ", 1)[1] for line in lines if line.startswith("row ")) == [
        "region='east', total=27.0, n=4",
        "region='west', total=21.0, n=2",
    ]
    assert lines[-1] == "all 2 row(s) match the source records"
    whole = folder / sources["sales-1.csv"]["records_file"]
    whole.write_bytes(SALES_1.replace(b"s2,west,20", b"s2,west,21"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    changed = hashlib.sha256(SALES_1.replace(b"s2,west,20", b"s2,west,21")).hexdigest()
    assert (
        f"  CHAIN {sources['sales-1.csv']['records_file']}: the whole file has sha256 "
        f"{changed[:12]}..., its ingestion record {sources['sales-1.csv']['sha256'][:12]}..."
    ) in done.stdout.splitlines()


SAME_NAME_PROJECT = APPEND_PROJECT.replace('"sources/sales-*.csv"', '"sources/sales.csv"')

JANUARY = b"id,region,amount\ns1,east,10\ns2,west,20\n"
FEBRUARY = b"id,region,amount\ns3,east,7\ns4,west,1\ns5,east,2\n"
"""Both delivered as sources/sales.csv, February's replacing January's. By hand:
east = 10 (January) + 7 + 2 (February) = 19 from 3 rows; west = 20 + 1 = 21
from 2 rows."""


@pytest.fixture(scope="module")
def same_name_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("same-name") / "project"
    (project / "sources").mkdir(parents=True)
    (project / "jobforge.toml").write_text(SAME_NAME_PROJECT, encoding="utf-8")
    (project / "sources" / "sales.csv").write_bytes(JANUARY)
    assert jobforge("run", cwd=project).code == 0
    kept = project / "deliveries" / "2026-01"  # the operator's copy of January's file
    kept.mkdir(parents=True)
    (kept / "sales.csv").write_bytes(JANUARY)
    (project / "sources" / "sales.csv").write_bytes(FEBRUARY)
    result = jobforge("run", cwd=project)
    assert result.code == 0, result.err
    return project


def test_batches_from_files_of_the_same_name_each_have_their_file(
    same_name_project: Path, duckdb_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pack.zip"
    # January's file was replaced at its path: refused, naming it and the way out
    refused = jobforge(
        "evidence", "region_totals", "--where", "true", "-o", str(out), cwd=same_name_project
    )
    assert refused.code == 1, refused.out + refused.err
    (message,) = refused.err.strip().splitlines()
    source = same_name_project / "sources" / "sales.csv"
    assert message.startswith(f"error: evidence: source file {source} of batch ")
    assert (
        f"has sha256 {hashlib.sha256(FEBRUARY).hexdigest()}, not the "
        f"{hashlib.sha256(JANUARY).hexdigest()} it had when it was ingested; "
    ) in message
    assert message.endswith("give a folder that keeps the file as it was delivered: --copies DIR")
    assert not out.exists()
    made = jobforge(
        "evidence", "region_totals", "--where", "true", "-o", str(out),
        "--copies", str(same_name_project / "deliveries"),
        cwd=same_name_project,
    )  # fmt: skip
    assert made.code == 0, made.err
    folder = _unzip(out, tmp_path / "unzipped")
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    by_sha = {s["sha256"]: s for s in evidence["sources"]}
    january = by_sha[hashlib.sha256(JANUARY).hexdigest()]
    february = by_sha[hashlib.sha256(FEBRUARY).hexdigest()]
    assert len(evidence["sources"]) == 2
    assert january["batch_id"] != february["batch_id"]
    assert january["file_name"] == february["file_name"] == "sales.csv"
    assert january["source_file"] == february["source_file"] == str(source)
    # a folder per batch, the file's own name in each, each batch's own bytes
    for batch, data in ((january, JANUARY), (february, FEBRUARY)):
        assert batch["records_file"] == f"sources/sales/{batch['batch_id']}/sales.csv"
        assert batch["whole_file"]
        assert (folder / batch["records_file"]).read_bytes() == data
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for batch in (january, february):
        assert (
            f"{batch['records_file']}: the whole file, sha256 matches its ingestion record"
        ) in lines
    assert sorted(line.split(": ", 1)[1] for line in lines if line.startswith("row ")) == [
        "region='east', total=19.0, n=3",
        "region='west', total=21.0, n=2",
    ]
    assert lines[-1] == "all 2 row(s) match the source records"
    # January's copy in the pack changed: its row no longer matches (February's do)
    member = folder / january["records_file"]
    member.write_bytes(JANUARY.replace(b"s1,east,10", b"s1,east,11"))
    done = _reproduce(duckdb_python, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    mismatches = [line for line in done.stdout.splitlines() if "MISMATCH" in line]
    # (the re-derived sum is DuckDB's integer sum; the published one a DOUBLE)
    assert [m.split(": ", 1)[1] for m in mismatches] == ["total is 20, published 19.0"]
    assert mismatches[0].split(": ", 1)[0] in (
        "  MISMATCH row 1 (region='east')",
        "  MISMATCH row 2 (region='east')",
    )
