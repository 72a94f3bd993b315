"""Classification and PII that follow the data, declassify decisions, and nothing
sensitive in the catalog (issue 16), on a small HR project run through the real
``jobforge`` command.

The project: a source table declared ``restricted`` whose ``email`` is a
``direct_identifier`` and ``salary`` ``sensitive``; bronze renames ``email`` to
``mail``; ``staff`` is a gold table over it, ``pay_by_department`` a declassified
aggregate. Every expected value below was worked out by hand from EMPLOYEES.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobforge.catalog.declarations import DeclassifyDecision, TableDeclaration
from jobforge.catalog.governance import redaction_reason
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec
from jobforge.errors import GovernanceError
from jobforge.pipeline.config import PipelineConfig
from jobforge.site.model import build_site_model

from .cli_helpers import jobforge

# Record 10 has no salary a float can hold (bronze quarantine); record 11 repeats
# record 2 (a duplicate). Finance: records 1-4, IT: 5-7, HR: 8-9 (and 10, quarantined).
EMPLOYEES = """id,name,email,salary,department
1,Ann Smith,ann.smith@example.org,81234.50,Finance
2,Bob Jones,bob.jones@example.org,72345.25,Finance
3,Chloe Martin,chloe.martin@example.org,93456.75,Finance
4,David Roy,david.roy@example.org,64567.00,Finance
5,Emma Tremblay,emma.tremblay@example.org,105678.10,IT
6,Felix Gagnon,felix.gagnon@example.org,98789.90,IT
7,Grace Cote,grace.cote@example.org,87890.40,IT
8,Hugo Leblanc,hugo.leblanc@example.org,56901.60,HR
9,Iris Morin,iris.morin@example.org,61012.30,HR
10,Jade Pelletier,jade.pelletier@example.org,unknown,HR
2,Bob Jones,bob.jones@example.org,72345.25,Finance
"""

PROJECT = """
[project]
name = "hr"

[tables.employees]
source = "sources/employees.csv"
domain = "hr"
[tables.employees.metadata]
owner = "Human resources"
classification = "restricted"
[tables.employees.columns.email]
pii = "direct_identifier"
[tables.employees.columns.salary]
pii = "sensitive"
[tables.employees.bronze]
rename = { email = "mail" }
cast = { id = "int", salary = "float" }

[gold.staff]
inputs = ["employees"]
sql = "SELECT id, name, mail, salary, department, _lineage FROM employees"

[gold.pay_by_department]
inputs = ["employees"]
sql = '''
SELECT department, count(*) AS staff, round(avg(salary), 2) AS average_salary,
       flatten(list(_lineage)) AS _lineage
FROM employees GROUP BY department HAVING_CLAUSE
'''
[gold.pay_by_department.metadata]
owner = "Workforce analytics"
DECLASSIFY
[gold.pay_by_department.columns.average_salary]
pii = "none"
"""

DECISION = (
    'declassify = { to = "internal", reason = "averages over at least 3 employees", '
    'approved_by = "Privacy officer", min_group_size = 3 }'
)
HAVING = "HAVING count(*) >= 3"

SECRETS = [
    *(line.split(",")[2] for line in EMPLOYEES.splitlines()[1:]),  # every e-mail
    *(line.split(",")[1] for line in EMPLOYEES.splitlines()[1:]),  # every name
    # every salary as written and as bronze's float prints it
    "81234.50", "81234.5", "72345.25", "93456.75", "64567.00", "64567.0", "105678.10",
    "105678.1", "98789.90", "98789.9", "87890.40", "87890.4", "56901.60", "56901.6",
    "61012.30", "61012.3",
]  # fmt: skip


def _project(root: Path, *, having: str = HAVING, declassify: str = DECISION) -> Path:
    (root / "sources").mkdir(parents=True)
    (root / "sources" / "employees.csv").write_text(EMPLOYEES, encoding="utf-8")
    text = PROJECT.replace("HAVING_CLAUSE", having).replace("DECLASSIFY", declassify)
    (root / "jobforge.toml").write_text(text, encoding="utf-8")
    return root


def _entry(project: Path, layer: str, table: str) -> dict[str, Any]:
    path = project / "data" / "catalog" / "tables" / layer / f"{table}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _column(entry: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in entry["columns"] if c["name"] == name)


def _query(project: Path, sql: str) -> list[dict[str, Any]]:
    done = jobforge("query", sql, "--format", "json", cwd=project)
    assert done.code == 0, done.err
    return json.loads(done.out)


@pytest.fixture(scope="module")
def hr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The project, run once with ``--log-level debug``; its log (stdout and stderr)."""
    project = _project(tmp_path_factory.mktemp("hr") / "hr")
    done = jobforge("--log-level", "debug", "run", cwd=project)
    assert done.code == 0, done.err
    built = jobforge("docs", "build", cwd=project)
    assert built.code == 0, built.err
    return project, done.out + done.err + built.out + built.err


# -- PII and classification follow the data -----------------------------------------------------
def test_pii_and_classification_follow_the_data_into_gold(hr: tuple[Path, str]) -> None:
    project, _ = hr
    staged = _entry(project, "staged", "employees")
    assert (
        _column(staged, "email")["pii_classification"],
        _column(staged, "email")["pii_origin"],
    ) == (
        "direct_identifier",
        "declared",
    )
    # bronze renames email to mail: the declaration names email, the class follows the data
    for layer in ("bronze", "silver"):
        mail = _column(_entry(project, layer, "employees"), "mail")
        assert mail["pii_classification"] == "direct_identifier", layer
        assert mail["pii_origin"] == "inherited from staged.employees.email", layer
        assert mail["pii_sources"] == ["staged.employees.email"], layer
    staff = _entry(project, "gold", "staff")
    mail = _column(staff, "mail")
    assert (mail["pii_classification"], mail["pii_origin"], mail["pii_sources"]) == (
        "direct_identifier",
        "inherited from staged.employees.email",
        ["staged.employees.email"],
    )
    assert (mail["source_columns"], mail["lineage_kind"]) == (["silver.employees.mail"], "identity")
    salary = _column(staff, "salary")
    # salary is declared on the source table, so in every layer of it: silver's is the root
    assert (salary["pii_classification"], salary["pii_origin"]) == (
        "sensitive",
        "inherited from silver.employees.salary",
    )
    # name and department: nobody classified them; they stay unclassified, never "none"
    assert _column(staff, "name")["pii_classification"] is None
    assert (staff["classification"], staff["classification_origin"]) == (
        "restricted",
        "inherited from silver.employees",
    )
    assert staff["classification_sources"] == ["silver.employees"]
    assert _entry(project, "silver", "employees")["classification_origin"] == "declared"


def test_origins_in_catalog_show_the_views_and_the_site(hr: tuple[Path, str]) -> None:
    project, _ = hr
    shown = jobforge("catalog", "show", "staff", cwd=project)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert "  classification: restricted" in lines
    assert "          origin: inherited from silver.employees" in lines
    header = lines.index(
        "column\ttype\tnullable\tpii\tpii origin\tglossary\tfrom\thow\tdescription"
    )
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[header + 1 :]}
    assert rows["mail"][3:8] == [
        "direct_identifier",
        "inherited from staged.employees.email",
        "",
        "silver.employees.mail",
        "identity",
    ]
    assert _query(
        project,
        "SELECT name, pii_classification, pii_origin, pii_sources FROM catalog.columns "
        "WHERE layer = 'gold' AND table_name = 'staff' AND pii_classification IS NOT NULL "
        "AND NOT is_provenance ORDER BY position",
    ) == [
        {
            "name": "mail",
            "pii_classification": "direct_identifier",
            "pii_origin": "inherited from staged.employees.email",
            "pii_sources": ["staged.employees.email"],
        },
        {
            "name": "salary",
            "pii_classification": "sensitive",
            "pii_origin": "inherited from silver.employees.salary",
            "pii_sources": ["silver.employees.salary"],
        },
    ]
    assert _query(
        project,
        "SELECT key, classification, classification_origin, classification_sources "
        "FROM catalog.tables WHERE layer = 'gold' ORDER BY key",
    ) == [
        {
            "key": "gold.pay_by_department",
            "classification": "internal",
            "classification_origin": "declassified from restricted (inherited from "
            "silver.employees) by the decision approved by Privacy officer: averages over at "
            "least 3 employees",
            "classification_sources": [],
        },
        {
            "key": "gold.staff",
            "classification": "restricted",
            "classification_origin": "inherited from silver.employees",
            "classification_sources": ["silver.employees"],
        },
    ]
    model = build_site_model(PipelineConfig(project / "data", entry_points=False))
    staff = next(t for t in model["tables"] if t["key"] == "gold.staff")
    assert staff["classification_origin"] == "inherited from silver.employees"
    mail = next(c for c in staff["columns"] if c["name"] == "mail")
    assert mail["pii_origin"] == "inherited from staged.employees.email"
    assert (
        mail["examples"] == [] and mail["examples_hidden"] == "column classified direct_identifier"
    )


# -- declassify -------------------------------------------------------------------------------
def test_a_declassified_aggregate_records_the_decision_and_its_smallest_group(
    hr: tuple[Path, str],
) -> None:
    project, _ = hr
    entry = _entry(project, "gold", "pay_by_department")
    assert entry["classification"] == "internal"
    # Finance 4 rows, IT 3 (HR, 2, is left out by the HAVING): the smallest group is 3
    assert entry["declassification"] == {
        "to": "internal",
        "computed": "restricted",
        "reason": "averages over at least 3 employees",
        "approved_by": "Privacy officer",
        "min_group_size": 3,
        "smallest_group": 3,
        "group_tables": ["employees"],
        "columns": ["average_salary"],
    }
    average = _column(entry, "average_salary")
    assert average["pii_classification"] == "none"
    assert average["pii_origin"] == (
        "declassified from sensitive (inherited from silver.employees.salary) by the decision "
        "approved by Privacy officer: averages over at least 3 employees"
    )
    assert (average["lineage_kind"], average["source_columns"]) == (
        "aggregate",
        ["silver.employees.salary"],
    )
    # an internal table, a column with no PII class: its examples are kept. Finance:
    # (81234.50 + 72345.25 + 93456.75 + 64567.00) / 4 = 77900.875; IT: 292358.40 / 3
    assert average["example_values"] == ["77900.88", "97452.8"]
    assert _column(entry, "staff")["example_values"] == ["4", "3"]
    records = sorted((project / "data/catalog/lineage/pay_by_department").glob("*.json"))
    record = json.loads(records[-1].read_text(encoding="utf-8"))
    assert record["status"] == "success"
    assert record["declassification"]["smallest_group"] == 3
    assert _query(
        project,
        "SELECT smallest_group, min_group_size, declassified_from FROM catalog.tables "
        "WHERE key = 'gold.pay_by_department'",
    ) == [{"smallest_group": 3, "min_group_size": 3, "declassified_from": "restricted"}]


def test_a_group_too_small_fails_the_step_on_record(tmp_path: Path) -> None:
    project = _project(tmp_path / "hr", having="")
    done = jobforge("run", cwd=project)
    assert done.code == 1
    message = (
        "gold pay_by_department: declassify requires min_group_size = 3, but a row is built "
        "from only 2 distinct rows of silver.employees; nothing was published"
    )
    assert message in done.err
    [record] = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in (project / "data/catalog/lineage/pay_by_department").glob("*.json")
    ]
    assert record["status"] == "failed" and message in record["errors"][0]
    # HR: records 8 and 9 (record 10 is in the bronze quarantine)
    assert record["declassification"]["smallest_group"] == 2
    assert not (project / "data/gold/pay_by_department/_current.json").exists()
    assert not (project / "data/catalog/tables/gold/pay_by_department.json").exists()
    # the rest of the project ran
    assert _entry(project, "gold", "staff")["classification"] == "restricted"


def test_a_lower_label_without_a_decision_is_refused_before_anything_runs(tmp_path: Path) -> None:
    project = _project(tmp_path / "hr", declassify='classification = "internal"')
    done = jobforge("run", cwd=project)
    assert done.code == 2
    assert done.err.splitlines()[1:] == [
        "  gold.pay_by_department.metadata.classification: declared 'internal' is lower than "
        "'restricted', which its inputs give (inherited from silver.employees); keep "
        "'restricted', or record the decision with declassify = { to, reason, approved_by } "
        "on the table's metadata",
        "  gold.pay_by_department.columns.average_salary.pii: declared 'none' is weaker than "
        "'sensitive', which its sources give (inherited from silver.employees.salary); keep "
        "'sensitive', or record the decision with declassify = { to, reason, approved_by } on "
        "the table's metadata",
    ]
    assert not (project / "data").exists()


def test_a_declassified_aggregate_needs_min_group_size(tmp_path: Path) -> None:
    decision = DECISION.replace(", min_group_size = 3", "")
    project = _project(tmp_path / "hr", declassify=decision)
    done = jobforge("run", cwd=project)
    assert done.code == 2
    assert done.err.splitlines()[1:] == [
        "  gold.pay_by_department.metadata.declassify.min_group_size: required: the table "
        "aggregates (staff, average_salary), and a declassified aggregate must say how many "
        "source rows each of its rows counts at least"
    ]


def test_a_lower_pii_declared_on_a_renamed_column_is_found_in_its_layer(tmp_path: Path) -> None:
    project = _project(tmp_path / "hr")
    toml = project / "jobforge.toml"
    toml.write_text(
        toml.read_text("utf-8") + '\n[tables.employees.columns.mail]\npii = "quasi_identifier"\n',
        encoding="utf-8",
    )
    done = jobforge("run", cwd=project)
    assert done.code == 2
    assert (
        "  tables.employees.columns.mail.pii: declared 'quasi_identifier' is weaker than "
        "'direct_identifier', which its sources give (inherited from staged.employees.email)"
    ) in done.err


def test_the_engine_refuses_a_lower_label_for_library_users(tmp_path: Path) -> None:
    source = tmp_path / "employees.csv"
    source.write_text(EMPLOYEES, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    declaration = TableDeclaration(classification="restricted")
    engine.run_full_pipeline(
        source,
        "employees",
        bronze_schema=BronzeSchema(cast={"salary": "float"}),
        declaration=declaration,
    )
    spec = GoldSpec(
        name="headcount",
        inputs=["employees"],
        sql="SELECT department, count(*) AS n, flatten(list(_lineage)) AS _lineage "
        "FROM employees GROUP BY department",
    )
    with pytest.raises(GovernanceError) as refused:
        engine.promote_to_gold(spec, declaration=TableDeclaration(classification="public"))
    assert str(refused.value) == (
        "gold.headcount: metadata.classification: declared 'public' is lower than "
        "'restricted', which its inputs give (inherited from silver.employees); keep "
        "'restricted', or record the decision with declassify = { to, reason, approved_by } "
        "on the table's metadata"
    )
    # refused before anything was read or written: no record, no folder
    assert not (tmp_path / "data/gold/headcount").exists()
    assert not (tmp_path / "data/catalog/lineage/headcount").exists()
    # with a decision: published, the smallest group checked (HR: records 8 and 9)
    decision = DeclassifyDecision(to="public", reason="head counts", approved_by="DPO")
    with pytest.raises(GovernanceError, match="min_group_size: required"):
        engine.promote_to_gold(spec, declaration=TableDeclaration(declassify=decision))
    decided = decision.model_copy(update={"min_group_size": 2})
    result = engine.promote_to_gold(spec, declaration=TableDeclaration(declassify=decided))
    assert result.record.declassification is not None
    assert result.record.declassification.smallest_group == 2
    # without a declaration the gold table simply inherits
    plain = spec.model_copy(update={"name": "headcount_plain"})
    engine.promote_to_gold(plain)
    entry = json.loads((tmp_path / "data/catalog/tables/gold/headcount_plain.json").read_text())
    assert (entry["classification"], entry["classification_origin"]) == (
        "restricted",
        "inherited from silver.employees",
    )


# -- nothing sensitive leaks -----------------------------------------------------------------
def _data_files(root: Path) -> list[Path]:
    """Every file of the data root but the layers' parquet files and the quarantine."""
    layers = {root / layer for layer in ("staged", "bronze", "silver", "gold")}
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.is_relative_to(root / "quarantine"):
            continue
        if path.suffix == ".parquet" and any(path.is_relative_to(layer) for layer in layers):
            continue
        found.append(path)
    return found


def test_no_source_value_is_anywhere_but_in_the_data_and_the_quarantine(
    hr: tuple[Path, str],
) -> None:
    project, log = hr
    root = project / "data"
    files = _data_files(root)
    names = {p.relative_to(root).parts[0] for p in files}
    # the catalog (entries, schema history, lineage and run records, schemas) and the
    # layers' pointers are searched
    assert {"catalog"} <= names
    kinds = {
        p.relative_to(root / "catalog").parts[0]
        for p in files
        if p.is_relative_to(root / "catalog")
    }
    assert {"tables", "lineage", "schemas", "runs"} <= kinds
    assert any(p.name == "_current.json" for p in files)
    assert any(p.parent.name == "_history" for p in files)
    site = [p for p in (project / "site").rglob("*") if p.is_file()]
    assert len(SECRETS) == 11 + 11 + 16
    for path in [*files, *site]:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (path, secret)
    assert "transition.done" in log  # the debug run's events were captured
    for secret in SECRETS:
        assert secret not in log, secret
    # the quarantine and duplicates keep the original rows (their point), marked with
    # the table's classification
    assert _query(
        project,
        "SELECT _source_row, rule_id, classification, json_extract_string(row, '$.email') AS email "
        "FROM quarantine.employees",
    ) == [
        {
            "_source_row": 10,
            "rule_id": "cast:salary",
            "classification": "restricted",
            "email": "jade.pelletier@example.org",
        }
    ]
    assert _query(
        project, "SELECT _source_row, duplicate_of, classification FROM duplicates.employees"
    ) == [{"_source_row": 11, "duplicate_of": 2, "classification": "restricted"}]
    shown = jobforge("quarantine", "show", "employees", cwd=project).out.splitlines()
    assert shown[0].split("\t") == [
        "source row", "layer", "rule", "column", "message", "row", "classification"
    ]  # fmt: skip
    assert shown[1].split("\t")[:3] + shown[1].split("\t")[-1:] == [
        "10", "bronze", "cast:salary", "restricted"
    ]  # fmt: skip


def test_the_redaction_rule_is_the_catalogs() -> None:
    assert redaction_reason("public", None) is None
    assert redaction_reason("internal", "none") is None
    assert redaction_reason("internal", "quasi_identifier") == "column classified quasi_identifier"
    assert redaction_reason("confidential", None) == "table classified confidential"
    assert redaction_reason("restricted", "none") == "table classified restricted"


def test_entries_written_before_the_rule_are_redacted_in_catalog_columns(tmp_path: Path) -> None:
    """An entry holding examples it may not (written by an older jobforge) shows none
    in ``catalog.columns``."""
    project = _project(tmp_path / "hr")
    assert jobforge("run", "--to", "bronze", cwd=project).code == 0
    path = project / "data/catalog/tables/staged/employees.json"
    entry = json.loads(path.read_text("utf-8"))
    for column in entry["columns"]:
        column["example_values"] = ["ann.smith@example.org"]
    path.write_text(json.dumps(entry), encoding="utf-8")
    assert "ann.smith@example.org" in path.read_text("utf-8")  # reading changes no file
    rows = _query(project, "SELECT DISTINCT example_values FROM catalog.columns")
    assert rows == [{"example_values": []}]


def test_only_a_gold_table_can_be_declassified(tmp_path: Path) -> None:
    source = tmp_path / "employees.csv"
    source.write_text(EMPLOYEES, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))
    decision = DeclassifyDecision(to="public", reason="none", approved_by="nobody")
    with pytest.raises(GovernanceError) as refused:
        engine.ingest(source, "employees", declaration=TableDeclaration(declassify=decision))
    assert str(refused.value) == (
        "staged.employees: metadata.declassify: only a gold table can be declassified (a "
        "source table's layers inherit their labels from each other)"
    )
    assert not (tmp_path / "data").exists()
    project = _project(tmp_path / "hr")
    toml = project / "jobforge.toml"
    toml.write_text(
        toml.read_text("utf-8").replace(
            'classification = "restricted"',
            'classification = "restricted"\n' + DECISION.replace('"internal"', '"restricted"'),
            1,
        ),
        encoding="utf-8",
    )
    done = jobforge("run", cwd=project)
    assert done.code == 2
    assert done.err.splitlines()[1] == (
        "  tables.employees: metadata.declassify: only a gold table can be declassified (a "
        "source table's metadata applies to all its layers, which inherit from each other)"
    )
