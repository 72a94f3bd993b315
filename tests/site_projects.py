"""Projects the catalog site tests build sites for, each run through the real
``jobforge`` command: the demo, the project ``jobforge init`` writes (a bad
date, a negative wage and a duplicate row on purpose) and a project over the
nine real files of ``tests/data/real``.

The catalog is read back here straight from its JSON files, independently of
``jobforge.site.model``, so that the tests compare the site with the catalog
and not with itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .cli_helpers import jobforge
from .conftest import REAL_DATA

YEARS = [str(year) for year in range(2023, 2034)]

REAL_PROJECT = """
[project]
name = "real-workforce"

[glossary.noc-code]
name = "NOC code"
definition = "Code of an occupation in the National Occupational Classification 2021."
owner = "Statistics Canada"

[tables.noc_structure]
source = "sources/noc_structure_en.csv"
domain = "noc"
[tables.noc_structure.metadata]
description = "The NOC 2021 hierarchy, one row per classification unit."
owner = "Statistics Canada"
classification = "public"
[tables.noc_structure.columns.code]
description = "NOC code"
glossary_term = "noc-code"
pii = "none"
[tables.noc_structure.bronze]
cast = { level = "int" }
[tables.noc_structure.bronze.rename]
"Code - NOC 2021 V1.0" = "code"
"Level" = "level"
"Hierarchical structure" = "hierarchy"
"Class title" = "class_title"
"Class definition" = "class_definition"
[tables.noc_structure.silver]
dedupe = ["code"]
rules = [{ id = "level", expression = "level BETWEEN 1 AND 5" }]

# Years cast to int without null_values: the 31 rows with "N/A" go to quarantine
# in bronze; codes that are not 5 characters (NOC1_*, TEER_*: 16 rows) in silver.
[tables.employment]
source = "sources/employment_emploi_2024_2033_noc2021.csv"
domain = "labour"
[tables.employment.metadata]
description = "COPS employment projections by NOC 2021 group."
owner = "Employment and Social Development Canada"
classification = "public"
[tables.employment.bronze]
rename = { "Code" = "code", "Occupation Name" = "occupation" }
cast = { YEARS_CAST }
[tables.employment.silver]
dedupe = ["code"]
[[tables.employment.silver.rules]]
id = "unit"
expression = "LENGTH(code) = 5"
message = "a unit group has a 5-digit code"

[tables.main_duties]
source = "sources/main-duties_oasis-2023_v1.0.csv"
domain = "oasis"
[tables.main_duties.bronze]
rename = { "OaSIS profile code" = "oasis_code", "Main duties" = "duty" }

[tables.skills]
source = "sources/skills_oasis_2023_v1.0.csv"
domain = "oasis"
[tables.skills.bronze]
snake_case = true

[tables.abilities]
source = "sources/abilities_oasis_2023_v1.0.csv"
domain = "oasis"
[tables.abilities.bronze]
snake_case = true

[tables.noc_onet]
source = "sources/noc2021_onet26.csv"
domain = "noc"
[tables.noc_onet.silver]
dedupe = "none"

# The real files hold no personal data: this column is declared a quasi-identifier
# so that the site's redaction is tested on real files.
[tables.og_subgroups]
source = "sources/og_subgroups_en.json"
domain = "public_service"
[tables.og_subgroups.metadata]
classification = "internal"
[tables.og_subgroups.columns.subgroup_name]
pii = "quasi_identifier"

[tables.agreements]
source = "sources/collective_agreements.json"
domain = "public_service"
[tables.agreements.metadata]
description = "Collective agreements of the core public administration."
owner = "Treasury Board of Canada Secretariat"
classification = "confidential"

[tables.caf_job_families]
source = "sources/caf_job_families.json"
domain = "defence"

[gold.dim_noc]
inputs = ["noc_structure"]
domain = "noc"
sql = "SELECT code, class_title, class_definition, _lineage FROM noc_structure WHERE level = 5"

[gold.employment_by_noc]
inputs = ["employment", "noc_structure"]
domain = "labour"
sql = '''SELECT e.code, n.class_title, e."2023", e."2033",
list_concat(e._lineage, n._lineage) AS _lineage
FROM employment e JOIN noc_structure n ON e.code = n.code'''

[gold.noc_onet_map]
inputs = ["dim_noc", "noc_onet"]
domain = "noc"
sql = '''SELECT d.code, o.onet, o.onet_title, list_concat(d._lineage, o._lineage) AS _lineage
FROM dim_noc d JOIN noc_onet o ON lpad(o.noc, 5, '0') = d.code'''

[gold.duties_per_profile]
inputs = ["main_duties"]
domain = "oasis"
sql = '''SELECT oasis_code, count(*) AS duties, flatten(list(_lineage)) AS _lineage
FROM main_duties GROUP BY oasis_code'''

[gold.og_agreements]
inputs = ["og_subgroups", "agreements"]
domain = "public_service"
sql = '''SELECT s.subgroup_code, a.agreement_name, list_concat(s._lineage, a._lineage) AS _lineage
FROM og_subgroups s JOIN agreements a ON s.og_code = a.og_code'''
[gold.og_agreements.metadata]
classification = "confidential"

[gold.caf_families]
inputs = ["caf_job_families"]
domain = "defence"
sql = "SELECT family_id, family_name, _lineage FROM caf_job_families"
""".replace("YEARS_CAST", ", ".join(f'"{year}" = "int"' for year in YEARS))

REAL_SOURCE_TABLES = {
    "noc_structure",
    "employment",
    "main_duties",
    "skills",
    "abilities",
    "noc_onet",
    "og_subgroups",
    "agreements",
    "caf_job_families",
}
REAL_GOLD_TABLES = {
    "dim_noc",
    "employment_by_noc",
    "noc_onet_map",
    "duties_per_profile",
    "og_agreements",
    "caf_families",
}


def run_ok(*args: str, cwd: Path) -> str:
    result = jobforge(*args, cwd=cwd, timeout=300)
    assert result.code == 0, f"jobforge {' '.join(args)}: {result.err}"
    return result.out


def demo_project(root: Path) -> Path:
    run_ok("demo", "warehouse", "--quiet", cwd=root)
    return root / "warehouse"


def init_project(root: Path) -> Path:
    run_ok("init", "init-project", cwd=root)
    project = root / "init-project"
    run_ok("run", "--quiet", cwd=project)
    return project


def real_project(root: Path) -> Path:
    project = root / "real-project"
    (project / "sources").mkdir(parents=True)
    for path in REAL_DATA.iterdir():
        if path.suffix in (".csv", ".json"):
            shutil.copy(path, project / "sources" / path.name)
    (project / "jobforge.toml").write_text(REAL_PROJECT, encoding="utf-8")
    run_ok("run", "--quiet", cwd=project)
    return project


def read_site_model(site: Path) -> dict[str, Any]:
    """The model a built site holds in ``site-data.js``."""
    text = (site / "site-data.js").read_text(encoding="utf-8")
    prefix = "window.JOBFORGE_SITE = "
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix) : -2])


def catalog_entries(data_root: Path) -> dict[str, dict[str, Any]]:
    """Every table entry of the catalog, by ``layer.table``, read from its JSON file."""
    entries = {}
    for path in sorted((data_root / "catalog" / "tables").glob("*/*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        entries[f"{entry['layer']}.{entry['table_name']}"] = entry
    return entries


def catalog_edges(entries: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(upstream, downstream) pairs, from both link lists of every entry."""
    pairs = set()
    for key, entry in entries.items():
        pairs |= {(up, key) for up in entry["upstream_tables"]}
        pairs |= {(key, down) for down in entry["downstream_tables"]}
    return pairs
