"""The spark executor's own checks: its casts pass and fail exactly the values
the polars executor's do (one small local[2] session for the module), and the
mistakes it refuses before anything runs (no session needed): no pyspark,
DuckDB-only gold SQL, polars transforms, settings that contradict each other.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from jobforge_polars.casts import cast_columns

from jobforge.engine.steps import CastSpec

from .cli_helpers import jobforge

VALUES = [
    *["5", "+5", "-5", "05", " 5 ", "5.0", "5.", "1e3", "0x10", "1_000", "1,000", "1.234,5"],
    *["9223372036854775807", "9223372036854775808", "-9223372036854775808", "", "   "],
    *["abc", "\u0661\u0662", "\uff15", "1.5", ".5", "-.5", "1.5e-3", "1E3", "inf", "-inf"],
    *["Infinity"],
    *["nan", "NaN", "-nan", "+inf", "1.5d", "1.5f", "+1.5", "1e", "e3", "--5", "5-", "1e400"],
    *["2024-01-05", "2024-1-5", "20240105", "2024-13-01", "2024-02-30", "2024-02-29"],
    *["2023-02-29", "2024-01-05 10:00", "\u00a02024-01-05\t", "0001-01-01", "99999-01-01"],
    *["+2024-01-05", "05/01/2024", "5/1/2024", "true", "TRUE", "Yes", "y", "0", "1", "t", "N/A"],
    *["n/a", "x", None],
]
SPECS = {
    "int": CastSpec(type="int"),
    "int_null_values": CastSpec(type="int", null_values=("N/A", "x")),
    "int_thousands": CastSpec(type="int", thousands=","),
    "float": CastSpec(type="float"),
    "float_european": CastSpec(type="float", thousands=".", decimal=","),
    "bool": CastSpec(type="bool"),
    "bool_custom": CastSpec(type="bool", true_values=("yes",), false_values=("no", "")),
    "date": CastSpec(type="date"),
    "date_format": CastSpec(type="date", format="%d/%m/%Y"),
}


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from jobforge_spark.session import SparkRun

    from jobforge.project.model import SparkSection

    run = SparkRun(SparkSection(master="local[2]"))
    yield run.session()
    run.stop()
    assert not run.started


def _polars(spec: CastSpec) -> list[tuple[object, bool]]:
    frame = pl.LazyFrame({"x": VALUES}, schema={"x": pl.String})
    out = cast_columns(frame, [(0, "x", spec)], frame.collect_schema()).collect()
    return list(zip(out["__jf_v0"].to_list(), out["__jf_f0"].to_list(), strict=True))


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@pytest.mark.slow
def test_casts_pass_and_fail_the_values_polars_passes_and_fails(spark: object) -> None:
    from jobforge_spark.casts import cast_value
    from jobforge_spark.columns import column

    frame = spark.createDataFrame([(v,) for v in VALUES], "x string")  # type: ignore[attr-defined]
    selected = []
    for name, spec in SPECS.items():
        value, failed = cast_value(column("x"), True, spec, name)
        selected += [value.alias(f"{name}_v"), failed.alias(f"{name}_f")]
    rows = frame.select(*selected).collect()
    for name, spec in SPECS.items():
        expected = _polars(spec)
        got = [(row[f"{name}_v"], row[f"{name}_f"]) for row in rows]
        wrong = [
            (text, e, g)
            for text, e, g in zip(VALUES, expected, got, strict=True)
            if not (_same(e[0], g[0]) and e[1] == g[1])
        ]
        assert not wrong, f"{name}: (text, polars, spark) {wrong}"
        assert any(f for _, f in expected) and any(v is not None for v, _ in expected), name


def _project(tmp_path: Path, body: str) -> Path:
    project = tmp_path / "project"
    (project / "sources").mkdir(parents=True)
    (project / "sources" / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
    (project / "jobforge.toml").write_text(
        '[project]\nname = "p"\ndata_root = "data"\n'
        '[tables.people]\nsource = "sources/people.csv"\n' + body
    )
    return project


def test_without_pyspark_choosing_spark_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    project = _project(tmp_path, '[engine]\nexecutor = "spark"\n')
    hide = (
        "import sys; sys.modules['pyspark'] = None; "
        "from jobforge.cli.app import run; sys.argv = ['jobforge', 'run']; run()"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide], cwd=project, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "jobforge[spark]" in lines[0] and "pyspark" in lines[0]
    assert not (project / "data" / "staged").exists()


def test_duckdb_only_gold_sql_is_refused_before_anything_runs(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '[engine]\nexecutor = "spark"\n'
        '[gold.names]\ninputs = ["people"]\n'
        "sql = \"SELECT list_aggregate(_lineage, 'count') AS n, _lineage FROM people\"\n",
    )
    result = jobforge("run", "--dry-run", cwd=project)
    assert result.code != 0
    assert "gold.names.sql: list_aggregate() is DuckDB SQL" in result.err
    assert "Traceback" not in result.err
    assert not (project / "data" / "staged").exists()
    # the same project runs on polars, where that SQL is at home
    polars = project / "jobforge.toml"
    polars.write_text(polars.read_text().replace('executor = "spark"', 'executor = "polars"'))
    assert jobforge("run", "--dry-run", cwd=project).code == 0


def test_polars_transforms_are_refused_for_spark_before_anything_runs(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '[tables.people.silver]\ntransforms = ["json:loads"]\n[engine]\nexecutor = "spark"\n',
    )
    result = jobforge("run", "--dry-run", cwd=project)
    assert result.code != 0
    assert "'json:loads' is a polars transform; the executor 'spark' lacks the capability" in (
        result.err
    )
    assert not (project / "data" / "staged").exists()


def test_master_and_remote_together_are_refused(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '[engine]\nexecutor = "spark"\n'
        '[engine.spark]\nmaster = "local[2]"\nremote = "sc://localhost:15002"\n',
    )
    result = jobforge("run", "--dry-run", cwd=project)
    assert result.code != 0
    assert "engine.spark" in result.err and "master or remote, not both" in result.err
    assert "Traceback" not in result.err
