"""Column lineage of gold SQL (``jobforge.sql``).

Every expected lineage below was worked out by hand from the query text and is
written literally. Output column names are also checked against real DuckDB:
the same query is described over empty tables of the same schema, and the
names and their order must be DuckDB's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobforge.errors import ConfigError, SqlError
from jobforge.sql import (
    ColumnLineage,
    LineageKind,
    SourceColumn,
    analyse_query,
    column_lineage,
    filter_columns,
    referenced_columns,
    referenced_tables,
    table_references,
)

DEMO = Path(__file__).resolve().parent.parent / "src" / "jobforge" / "demo" / "jobforge.toml"

# A small HR model: the same column name (``name``, ``dept_id``) on both tables.
EMPLOYEES = {
    "id": "INTEGER",
    "name": "VARCHAR",
    "email": "VARCHAR",
    "dept_id": "INTEGER",
    "salary": "DOUBLE",
    "info": "STRUCT(city VARCHAR, country VARCHAR, postcode VARCHAR)",
}
DEPARTMENTS = {"dept_id": "INTEGER", "name": "VARCHAR", "budget": "DOUBLE"}
HR = {"employees": EMPLOYEES, "departments": DEPARTMENTS}

# The demo's inputs, as `jobforge demo` catalogues them (catalog.columns of the
# silver tables for dim_noc and fact_employment_projection, of the gold tables for
# occupation_outlook), with the DuckDB types of their parquet columns.
PROVENANCE = {
    "_source_file": "VARCHAR",
    "_ingested_at": "TIMESTAMPTZ",
    "_batch_id": "VARCHAR",
    "_layer": "VARCHAR",
    "_source_row": "BIGINT",
    "_processed_at": "TIMESTAMPTZ",
}
NOC_STRUCTURE = {
    "level": "BIGINT",
    "hierarchy": "VARCHAR",
    "noc_code": "VARCHAR",
    "class_title": "VARCHAR",
    "class_definition": "VARCHAR",
    **PROVENANCE,
}
EMPLOYMENT = {
    "noc_code": "VARCHAR",
    "occupation_name": "VARCHAR",
    "occupation_name_fr": "VARCHAR",
    "y2023": "BIGINT",
    "y2024": "BIGINT",
    "y2025": "BIGINT",
    "y2026": "BIGINT",
    "y2027": "BIGINT",
    "y2028": "BIGINT",
    "y2029": "BIGINT",
    "y2030": "BIGINT",
    "y2031": "BIGINT",
    "y2032": "BIGINT",
    "y2033": "BIGINT",
    **PROVENANCE,
}
DIM_NOC = {
    "noc_code": "VARCHAR",
    "title": "VARCHAR",
    "teer": "INTEGER",
    "broad_category_code": "VARCHAR",
    "broad_category": "VARCHAR",
    "major_group_code": "VARCHAR",
    "major_group": "VARCHAR",
    "_lineage": "VARCHAR[]",
    "_layer": "VARCHAR",
    "_processed_at": "TIMESTAMPTZ",
}
FACT_EMPLOYMENT_PROJECTION = {
    "noc_code": "VARCHAR",
    "year": "INTEGER",
    "employment": "BIGINT",
    "_lineage": "VARCHAR[]",
    "_layer": "VARCHAR",
    "_processed_at": "TIMESTAMPTZ",
}

ID = LineageKind.IDENTITY
R = LineageKind.RENAME
C = LineageKind.CAST
E = LineageKind.EXPRESSION
A = LineageKind.AGGREGATE
L = LineageKind.LITERAL


def duckdb_names(sql: str, inputs: dict[str, dict[str, str]]) -> list[str]:
    """The output column names real DuckDB gives ``sql`` over empty tables of
    ``inputs`` (each with the ``_lineage`` column the gold step adds)."""
    con = duckdb.connect()
    try:
        for table, columns in inputs.items():
            cols = dict(columns)
            cols.setdefault("_lineage", "VARCHAR[]")
            body = ", ".join(f'"{c}" {t}' for c, t in cols.items())
            con.execute(f'CREATE TABLE "{table}" ({body})')
        return [row[0] for row in con.execute(f"DESCRIBE {sql}").fetchall()]
    finally:
        con.close()


def lineage(sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, tuple[LineageKind, set]]:
    """``{column: (kind, {(table, column), ...})}``, after checking the names
    against DuckDB."""
    result = column_lineage(sql, inputs)
    assert list(result) == duckdb_names(sql, inputs)
    return {name: (col.kind, {tuple(s) for s in col.sources}) for name, col in result.items()}


def filters(sql: str, inputs: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    return {tuple(s) for s in analyse_query(sql, inputs).filter_columns}


# ---------------------------------------------------------------- the 12 shapes


def test_join_with_the_same_column_name_on_both_sides() -> None:
    sql = (
        "SELECT e.id, e.name, d.name AS department, e.dept_id "
        "FROM employees AS e JOIN departments AS d ON e.dept_id = d.dept_id"
    )
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "name": (ID, {("employees", "name")}),
        "department": (R, {("departments", "name")}),
        "dept_id": (ID, {("employees", "dept_id")}),
    }
    assert filters(sql, HR) == {("employees", "dept_id"), ("departments", "dept_id")}


def test_cte() -> None:
    sql = (
        "WITH paid AS (SELECT id, salary * 12 AS annual FROM employees WHERE salary > 0) "
        "SELECT id AS employee_id, annual FROM paid"
    )
    result = column_lineage(sql, HR)
    assert lineage(sql, HR) == {
        "employee_id": (R, {("employees", "id")}),
        "annual": (E, {("employees", "salary")}),
    }
    # the expression is the one where the value is computed, in the CTE
    assert result["annual"].expression == "salary * 12"
    assert filters(sql, HR) == {("employees", "salary")}


def test_subquery() -> None:
    sql = (
        "SELECT s.dept_id, s.top FROM "
        "(SELECT dept_id, max(salary) AS top FROM employees GROUP BY dept_id) AS s"
    )
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("employees", "dept_id")}),
        "top": (A, {("employees", "salary")}),
    }
    assert filters(sql, HR) == {("employees", "dept_id")}


def test_correlated_scalar_subquery() -> None:
    sql = (
        "SELECT d.dept_id, (SELECT max(e.salary) FROM employees e "
        "WHERE e.dept_id = d.dept_id) AS top_salary FROM departments d"
    )
    # top_salary depends on the salaries and on which employees match the department
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("departments", "dept_id")}),
        "top_salary": (
            A,
            {("employees", "salary"), ("employees", "dept_id"), ("departments", "dept_id")},
        ),
    }
    assert filters(sql, HR) == {("employees", "dept_id"), ("departments", "dept_id")}


def test_select_star_exclude() -> None:
    sql = "SELECT * EXCLUDE (email, info) FROM employees"
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "name": (ID, {("employees", "name")}),
        "dept_id": (ID, {("employees", "dept_id")}),
        "salary": (ID, {("employees", "salary")}),
        "_lineage": (ID, {("employees", "_lineage")}),
    }
    # the excluded columns are not read
    assert referenced_columns(sql, HR) == {
        "employees": {"id", "name", "dept_id", "salary", "_lineage"}
    }


def test_star_replace_rename_and_columns() -> None:
    sql = (
        "SELECT * EXCLUDE (info, _lineage) REPLACE (lower(email) AS email) "
        "RENAME (id AS emp) FROM employees"
    )
    assert lineage(sql, HR) == {
        "emp": (R, {("employees", "id")}),
        "name": (ID, {("employees", "name")}),
        "email": (E, {("employees", "email")}),
        "dept_id": (ID, {("employees", "dept_id")}),
        "salary": (ID, {("employees", "salary")}),
    }
    # COLUMNS with a regular expression, alone and inside an aggregate
    sql = "SELECT COLUMNS('^(id|dept_id)$'), max(COLUMNS('^sal')) FROM employees GROUP BY ALL"
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "dept_id": (ID, {("employees", "dept_id")}),
        "salary": (A, {("employees", "salary")}),
    }
    assert column_lineage(sql, HR)["salary"].expression == "MAX(salary)"


def test_aggregate_with_group_by() -> None:
    sql = (
        "SELECT dept_id, count(*) AS headcount, sum(salary) AS payroll, "
        "flatten(list(_lineage)) AS _lineage FROM employees GROUP BY dept_id"
    )
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("employees", "dept_id")}),
        "headcount": (A, set()),
        "payroll": (A, {("employees", "salary")}),
        "_lineage": (A, {("employees", "_lineage")}),
    }
    assert filters(sql, HR) == {("employees", "dept_id")}


def test_window_function() -> None:
    sql = (
        "SELECT id, salary, rank() OVER (PARTITION BY dept_id ORDER BY salary DESC) "
        "AS salary_rank FROM employees"
    )
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "salary": (ID, {("employees", "salary")}),
        "salary_rank": (A, {("employees", "dept_id"), ("employees", "salary")}),
    }
    assert filters(sql, HR) == set()


def test_case_over_two_inputs() -> None:
    sql = (
        "SELECT e.id, CASE WHEN d.budget > 1000000 THEN e.salary ELSE 0 END AS bonus_base "
        "FROM employees e JOIN departments d ON d.dept_id = e.dept_id"
    )
    result = column_lineage(sql, HR)
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "bonus_base": (E, {("departments", "budget"), ("employees", "salary")}),
    }
    assert result["bonus_base"].expression == (
        "CASE WHEN d.budget > 1000000 THEN e.salary ELSE 0 END"
    )


def test_union() -> None:
    sql = (
        "SELECT dept_id, name FROM employees "
        "UNION ALL SELECT dept_id, CAST(budget AS VARCHAR) FROM departments"
    )
    result = column_lineage(sql, HR)
    # each branch's sources; the kind is the strongest of the branches'
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("employees", "dept_id"), ("departments", "dept_id")}),
        "name": (C, {("employees", "name"), ("departments", "budget")}),
    }
    assert result["name"].expression == "name | CAST(budget AS TEXT)"
    sql = "SELECT name AS label FROM employees UNION SELECT name FROM departments"
    assert lineage(sql, HR) == {"label": (R, {("employees", "name"), ("departments", "name")})}


def test_literal_column() -> None:
    sql = "SELECT id, 'HR' AS source_system, 1 AS version, NULL AS note FROM employees"
    result = column_lineage(sql, HR)
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "source_system": (L, set()),
        "version": (L, set()),
        "note": (L, set()),
    }
    assert [result[c].expression for c in ("source_system", "version", "note")] == [
        "'HR'",
        "1",
        "NULL",
    ]


def test_column_used_only_in_where() -> None:
    sql = "SELECT id FROM employees WHERE salary > 50000 AND email LIKE '%@example.org'"
    assert lineage(sql, HR) == {"id": (ID, {("employees", "id")})}
    assert filters(sql, HR) == {("employees", "salary"), ("employees", "email")}
    assert filter_columns(sql, HR) == {"employees": {"email", "salary"}}
    # read, though it is no output's source
    assert referenced_columns(sql, HR) == {"employees": {"id", "salary", "email"}}


def test_using_join() -> None:
    sql = (
        "SELECT dept_id, e.name AS employee, d.name AS department "
        "FROM employees e JOIN departments d USING (dept_id)"
    )
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("employees", "dept_id"), ("departments", "dept_id")}),
        "employee": (R, {("employees", "name")}),
        "department": (R, {("departments", "name")}),
    }
    assert filters(sql, HR) == {("employees", "dept_id"), ("departments", "dept_id")}
    # with *, the key is there once, where the left side has it
    sql = "SELECT * EXCLUDE (name, _lineage) FROM employees JOIN departments USING (dept_id)"
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        "email": (ID, {("employees", "email")}),
        "dept_id": (ID, {("employees", "dept_id"), ("departments", "dept_id")}),
        "salary": (ID, {("employees", "salary")}),
        "info": (ID, {("employees", "info")}),
        "budget": (ID, {("departments", "budget")}),
    }


def test_struct_field_access() -> None:
    sql = (
        "SELECT id, info.city, info['country'] AS country, e.info.postcode AS postcode "
        "FROM employees AS e"
    )
    assert lineage(sql, HR) == {
        "id": (ID, {("employees", "id")}),
        # unaliased, DuckDB names it after the field
        "city": (E, {("employees", "info")}),
        "country": (E, {("employees", "info")}),
        "postcode": (E, {("employees", "info")}),
    }


# ---------------------------------------------------------------- the demo's gold tables


def _demo_sql(name: str) -> str:
    with DEMO.open("rb") as fh:
        return tomllib.load(fh)["gold"][name]["sql"]


def test_demo_dim_noc() -> None:
    sql = _demo_sql("dim_noc")
    inputs = {"noc_structure": NOC_STRUCTURE}
    result = column_lineage(sql, inputs)
    # the same table under three aliases is one source table
    assert lineage(sql, inputs) == {
        "noc_code": (ID, {("noc_structure", "noc_code")}),
        "title": (R, {("noc_structure", "class_title")}),
        "teer": (E, {("noc_structure", "noc_code")}),
        "broad_category_code": (R, {("noc_structure", "noc_code")}),
        "broad_category": (R, {("noc_structure", "class_title")}),
        "major_group_code": (R, {("noc_structure", "noc_code")}),
        "major_group": (R, {("noc_structure", "class_title")}),
        "_lineage": (E, {("noc_structure", "_lineage")}),
    }
    assert result["teer"].expression == "CAST(SUBSTRING(u.noc_code, 2, 1) AS INT)"
    assert result["_lineage"].expression == "u._lineage || b._lineage || m._lineage"
    assert filters(sql, inputs) == {("noc_structure", "level"), ("noc_structure", "noc_code")}
    assert referenced_columns(sql, inputs) == {
        "noc_structure": {"noc_code", "class_title", "level", "_lineage"}
    }


def test_demo_fact_employment_projection() -> None:
    sql = _demo_sql("fact_employment_projection")
    inputs = {"employment": EMPLOYMENT}
    result = column_lineage(sql, inputs)
    years = {("employment", f"y{y}") for y in range(2023, 2034)}
    assert len(years) == 11
    assert lineage(sql, inputs) == {
        "noc_code": (ID, {("employment", "noc_code")}),
        # the UNPIVOT's name column holds column names: no data column
        "year": (L, set()),
        # UNPIVOT ... ON COLUMNS('^y[0-9]{4}$') VALUE employment
        "employment": (R, years),
        "_lineage": (ID, {("employment", "_lineage")}),
    }
    assert result["employment"].expression == (
        "y2023 | y2024 | y2025 | y2026 | y2027 | y2028 | y2029 | y2030 | y2031 | y2032 | y2033"
    )
    assert result["year"].expression == "CAST(SUBSTRING(year_column, 2) AS INT)"
    assert filters(sql, inputs) == {("employment", "noc_code")}
    # EXCLUDE'd columns are not read
    assert referenced_columns(sql, inputs) == {
        "employment": {"noc_code", "_lineage", *(c for _, c in years)}
    }


def test_demo_occupation_outlook() -> None:
    sql = _demo_sql("occupation_outlook")
    inputs = {"dim_noc": DIM_NOC, "fact_employment_projection": FACT_EMPLOYMENT_PROJECTION}
    result = column_lineage(sql, inputs)
    employment = {("fact_employment_projection", "employment")}
    assert lineage(sql, inputs) == {
        # from dim_noc only, though both inputs have a noc_code
        "noc_code": (ID, {("dim_noc", "noc_code")}),
        "title": (ID, {("dim_noc", "title")}),
        "teer": (ID, {("dim_noc", "teer")}),
        "broad_category": (ID, {("dim_noc", "broad_category")}),
        "employment_2023": (R, employment),
        "employment_2033": (R, employment),
        "change_2023_2033": (E, employment),
        "change_pct": (E, employment),
        "_lineage": (E, {("dim_noc", "_lineage"), ("fact_employment_projection", "_lineage")}),
    }
    assert result["change_pct"].expression == (
        "ROUND(100.0 * (e33.employment - e23.employment) / e23.employment, 1)"
    )
    assert result["employment_2023"].expression == "e23.employment"
    assert filters(sql, inputs) == {
        ("dim_noc", "noc_code"),
        ("fact_employment_projection", "noc_code"),
        ("fact_employment_projection", "year"),
    }
    assert referenced_tables(sql) == {"dim_noc", "fact_employment_projection"}


# ---------------------------------------------------------------- more shapes


def test_provenance_columns_are_never_sources_of_data_columns() -> None:
    inputs = {"employment": EMPLOYMENT}
    sql = (
        "SELECT _batch_id AS batch, noc_code || ':' || _source_row AS key, _lineage FROM employment"
    )
    result = column_lineage(sql, inputs)
    assert list(result) == duckdb_names(sql, inputs)
    assert result["batch"] == ColumnLineage(
        "batch", R, frozenset(), "_batch_id", frozenset({SourceColumn("employment", "_batch_id")})
    )
    assert result["key"].kind is E
    assert result["key"].sources == {SourceColumn("employment", "noc_code")}
    assert result["key"].provenance_sources == {SourceColumn("employment", "_source_row")}
    # the output's _lineage is recorded like any column
    assert result["_lineage"] == ColumnLineage(
        "_lineage", ID, frozenset({SourceColumn("employment", "_lineage")}), "_lineage"
    )


def test_casts_and_renames_through_layers() -> None:
    sql = (
        "SELECT CAST(x AS BIGINT) AS id, y AS dept_id, z FROM "
        "(SELECT id AS x, dept_id AS y, salary::INTEGER AS z FROM employees)"
    )
    assert lineage(sql, HR) == {
        "id": (C, {("employees", "id")}),
        # renamed and renamed back: the column itself
        "dept_id": (ID, {("employees", "dept_id")}),
        "z": (C, {("employees", "salary")}),
    }
    sql = "SELECT TRY_CAST(name AS INTEGER) AS n, CAST(upper(name) AS VARCHAR) AS u FROM employees"
    assert lineage(sql, HR) == {
        "n": (C, {("employees", "name")}),
        "u": (E, {("employees", "name")}),
    }


def test_unaliased_expressions_are_named_as_duckdb_names_them() -> None:
    sql = "SELECT salary * 12, substr(name, 1, 2), count(*) OVER (), dept_id FROM employees"
    assert lineage(sql, HR) == {
        "(salary * 12)": (E, {("employees", "salary")}),
        'substr("name", 1, 2)': (E, {("employees", "name")}),
        "count() OVER ()": (A, set()),
        "dept_id": (ID, {("employees", "dept_id")}),
    }


def test_pivot_and_unpivot() -> None:
    sales = {"sales": {"region": "VARCHAR", "year": "INTEGER", "amount": "DOUBLE"}}
    sql = "PIVOT sales ON year IN (2023, 2024) USING sum(amount) GROUP BY region"
    result = column_lineage(sql, sales)
    assert lineage(sql, sales) == {
        "region": (ID, {("sales", "region")}),
        "2023": (A, {("sales", "amount"), ("sales", "year")}),
        "2024": (A, {("sales", "amount"), ("sales", "year")}),
    }
    assert result["2023"].expression == "SUM(amount) FILTER (WHERE year = 2023)"
    wide = {"wide": {"region": "VARCHAR", "q1": "DOUBLE", "q2": "DOUBLE"}}
    sql = "SELECT * FROM wide UNPIVOT (amount FOR quarter IN (q1, q2))"
    assert lineage(sql, wide) == {
        "region": (ID, {("wide", "region")}),
        "_lineage": (ID, {("wide", "_lineage")}),
        "quarter": (L, set()),
        "amount": (R, {("wide", "q1"), ("wide", "q2")}),
    }


def test_recursive_cte_and_set_operations() -> None:
    sql = (
        "WITH RECURSIVE chain AS (SELECT dept_id, 0 AS depth FROM departments "
        "UNION ALL SELECT dept_id, depth + 1 FROM chain WHERE depth < 3) "
        "SELECT dept_id, depth FROM chain"
    )
    assert lineage(sql, HR) == {
        "dept_id": (ID, {("departments", "dept_id")}),
        "depth": (L, set()),
    }
    sql = "SELECT dept_id FROM employees EXCEPT SELECT dept_id FROM departments"
    # EXCEPT's right side only removes rows
    assert lineage(sql, HR) == {"dept_id": (ID, {("employees", "dept_id")})}
    assert filters(sql, HR) == {("departments", "dept_id")}


def test_table_references() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM employees) "
        "SELECT * FROM recent JOIN 'extra.csv' x ON true "
        "JOIN read_parquet('other/*.parquet') p ON true JOIN silver.departments d ON true"
    )
    refs = table_references(sql)
    assert refs.tables == {"employees", "silver.departments"}
    assert refs.files == {"extra.csv"}
    assert refs.functions == ("READ_PARQUET('other/*.parquet')",)
    assert referenced_tables(sql) == {"employees", "silver.departments"}
    # a CTE is visible only after its definition and inside the query that has it
    assert referenced_tables(
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a, b"
    ) == {"b"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT salary FROM employes", "unknown table 'employes'; known: employees, departments"),
        (
            "SELECT e.salry FROM employees e",
            "unknown column e.salry; e (employees) has: id, name, email, dept_id, salary, "
            "info, _lineage",
        ),
        (
            "SELECT salry FROM employees",
            "unknown column 'salry'; known: id, name, email, dept_id, salary, info, _lineage",
        ),
        (
            "SELECT name FROM employees JOIN departments USING (dept_id)",
            "column 'name' is ambiguous: it is in employees, departments; qualify it",
        ),
        ("SELECT id, id FROM employees", "output column 'id' appears twice"),
        ("SELECT * FROM read_csv('x.csv')", "table function READ_CSV('x.csv') reads outside"),
        ("SELECT * FROM 'x.csv'", "FROM 'x.csv' reads a file; read only the inputs"),
        ("SELECT * FROM silver.employees", "unknown table 'silver.employees'"),
        ("SELEC id FROM employees", "SQL does not parse: line 1"),
        ("DELETE FROM employees", "SQL is a DELETE statement: expected a query"),
        ("SELECT 1; SELECT 2", "SQL has 2 statements"),
        ("PIVOT employees ON dept_id USING sum(salary)", "PIVOT ON dept_id without IN (...)"),
        ("SELECT * EXCLUDE (mail) FROM employees", "EXCLUDE (mail): no such column"),
        ("", "SQL is empty"),
    ],
)
def test_errors_name_what_is_wrong(sql: str, message: str) -> None:
    with pytest.raises(SqlError) as info:
        column_lineage(sql, HR)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, ConfigError)
    assert info.value.exit_code == 2


def test_inputs_are_checked() -> None:
    with pytest.raises(SqlError, match="inputs: t: column 'A' is listed twice"):
        column_lineage("SELECT 1", {"t": ["a", "A"]})
    with pytest.raises(SqlError, match="inputs: t: expected a list of column names"):
        column_lineage("SELECT 1", {"t": "a"})  # type: ignore[dict-item]


# ---------------------------------------------------------------- property


_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,5}", fullmatch=True).filter(
    lambda n: not n.startswith("_")
)


@st.composite
def _schemas_and_projection(draw: st.DrawFn) -> tuple[dict, list, str]:
    """Two input tables of distinct random INTEGER columns and a random select
    list over them; each item with the lineage it must have, built alongside."""
    names = draw(st.lists(_NAME, min_size=2, max_size=10, unique_by=str.lower))
    split = draw(st.integers(1, len(names) - 1))
    inputs = {"t1": names[:split], "t2": names[split:]}
    columns = [("t1", c) for c in names[:split]] + [("t2", c) for c in names[split:]]
    items = []
    for _ in range(draw(st.integers(1, 8))):
        table, col = draw(st.sampled_from(columns))
        ref = f'{table}."{col}"'
        form = draw(st.sampled_from(["bare", "alias", "cast", "add", "literal", "sum"]))
        alias = draw(_NAME)
        if form == "bare":
            items.append((ref, col, ID, {(table, col)}))
        elif form == "alias":
            kind = ID if alias == col else R
            items.append((f'{ref} AS "{alias}"', alias, kind, {(table, col)}))
        elif form == "cast":
            items.append((f'CAST({ref} AS BIGINT) AS "{alias}"', alias, C, {(table, col)}))
        elif form == "add":
            other_table, other = draw(st.sampled_from(columns))
            items.append(
                (
                    f'{ref} + {other_table}."{other}" AS "{alias}"',
                    alias,
                    E,
                    {(table, col), (other_table, other)},
                )
            )
        elif form == "literal":
            items.append((f'42 AS "{alias}"', alias, L, set()))
        else:
            items.append((f'sum({ref}) OVER () AS "{alias}"', alias, A, {(table, col)}))
    wrap = draw(st.sampled_from(["plain", "subquery", "cte"]))
    return inputs, items, wrap


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas_and_projection())
def test_random_projections_have_the_lineage_they_were_built_with(case: tuple) -> None:
    inputs, items, wrap = case
    select = ", ".join(text for text, _, _, _ in items)
    sql = f"SELECT {select} FROM t1 CROSS JOIN t2"
    if wrap == "subquery":
        sql = f"SELECT * FROM ({sql}) AS q"
    elif wrap == "cte":
        sql = f"WITH q AS ({sql}) SELECT * FROM q"
    expected_names = [name for _, name, _, _ in items]
    duplicates = len({n.lower() for n in expected_names}) < len(expected_names)
    if duplicates and wrap == "plain":
        with pytest.raises(SqlError, match="appears twice"):
            column_lineage(sql, inputs)
        return
    result = column_lineage(sql, inputs)
    typed = {t: dict.fromkeys(cols, "INTEGER") for t, cols in inputs.items()}
    # a subquery's repeated names get _1, _2 ... as DuckDB gives them
    assert list(result) == duckdb_names(sql, typed)
    if not duplicates:
        assert list(result) == expected_names
    for (_, _, kind, sources), got in zip(items, result.values(), strict=True):
        if kind in (ID, R):  # under a name made unique, a bare column is a rename
            kind = ID if all(c == got.column for _, c in sources) else R
        assert (got.kind, {tuple(s) for s in got.sources}) == (kind, sources)
        for source in got.sources:
            assert source.column in inputs[source.table]
        if got.kind is ID:
            assert all(s.column == got.column for s in got.sources)
    # identity and rename columns hold exactly their source's values
    con = duckdb.connect()
    try:
        for table, cols in inputs.items():
            body = ", ".join(f'"{c}" INTEGER' for c in cols)
            con.execute(f"CREATE TABLE {table} ({body}, _lineage VARCHAR[])")
            values = ", ".join(str(7 * i + len(table)) for i in range(len(cols)))
            con.execute(f"INSERT INTO {table} VALUES ({values}, ['{table}:1'])")
        row = con.execute(sql).fetchone()
        for i, got in enumerate(result.values()):
            if got.kind in (ID, R):
                (source,) = got.sources
                (want,) = con.execute(f'SELECT "{source.column}" FROM {source.table}').fetchone()
                assert row[i] == want
    finally:
        con.close()


def test_referenced_columns_cover_every_clause() -> None:
    sql = (
        "SELECT d.name, count(*) AS n FROM employees e JOIN departments d USING (dept_id) "
        "WHERE e.salary > 0 GROUP BY d.name HAVING max(e.email) IS NOT NULL "
        "QUALIFY row_number() OVER (ORDER BY d.budget) = 1 ORDER BY n"
    )
    assert referenced_columns(sql, HR) == {
        "departments": {"dept_id", "name", "budget"},
        "employees": {"dept_id", "salary", "email"},
    }
    assert filter_columns(sql, HR) == {
        "departments": {"dept_id", "name", "budget"},
        "employees": {"dept_id", "salary", "email"},
    }
    assert referenced_columns("SELECT count(*) AS n FROM employees", HR) == {"employees": set()}
