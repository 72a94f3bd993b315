"""``jobforge init`` and ``jobforge demo``."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import click

from jobforge.cli.output import print_table
from jobforge.errors import ConfigError


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path), default=Path("."))
def init(directory: Path) -> None:
    """Create a new project in DIRECTORY: jobforge.toml, an example source, the data layout."""
    from jobforge.project.loader import PROJECT_FILE, load_project
    from jobforge.project.runner import project_config

    target = directory / PROJECT_FILE
    if target.exists():
        raise ConfigError(f"{target}: already exists; not overwriting it")
    template = resources.files("jobforge.project") / "template"
    (directory / "sources").mkdir(parents=True, exist_ok=True)
    target.write_text((template / "jobforge.toml").read_text(encoding="utf-8"), encoding="utf-8")
    example = directory / "sources" / "occupations.csv"
    if not example.exists():
        example.write_text(
            (template / "occupations.csv").read_text(encoding="utf-8"), encoding="utf-8"
        )
    project = load_project(target)
    project_config(project).ensure_layout()
    click.echo(f"created {target}, {example} and the data layout in {project.data_root}")
    click.echo(f"next: cd {directory} && jobforge run")


DEMO_QUESTIONS: list[tuple[str, str]] = [
    (
        "Unit groups per TEER category",
        "SELECT teer, count(*) AS unit_groups FROM gold.dim_noc GROUP BY teer ORDER BY teer",
    ),
    (
        "Fastest-growing occupations 2023-2033 (at least 10 000 jobs in 2023)",
        "SELECT noc_code, title, employment_2023, employment_2033, change_pct "
        "FROM gold.occupation_outlook WHERE employment_2023 >= 10000 "
        "ORDER BY change_pct DESC, noc_code LIMIT 5",
    ),
    (
        "Projected employment by broad category, 2023 and 2033",
        "SELECT broad_category, sum(employment_2023) AS employment_2023, "
        "sum(employment_2033) AS employment_2033 FROM gold.occupation_outlook "
        "GROUP BY broad_category ORDER BY employment_2033 DESC LIMIT 5",
    ),
]


@click.command("demo")
@click.argument("directory", type=click.Path(path_type=Path), default=Path("jobforge-demo"))
@click.option("--quiet", "-q", is_flag=True, help="Print only the answers.")
def demo(directory: Path, quiet: bool) -> None:
    """Build a small occupational warehouse from real NOC 2021 files and query it.

    Copies the demo project into DIRECTORY (default ./jobforge-demo), runs it
    through every layer on local files and DuckDB, and prints a few SQL answers.
    """
    from jobforge.cli.progress import print_summary, run_display
    from jobforge.project.loader import PROJECT_FILE, load_project
    from jobforge.project.runner import project_config, run_project
    from jobforge.query.engine import QueryEngine

    source = resources.files("jobforge") / "demo"
    target = directory / PROJECT_FILE
    if not target.exists():
        (directory / "sources").mkdir(parents=True, exist_ok=True)
        target.write_text((source / PROJECT_FILE).read_text(encoding="utf-8"), encoding="utf-8")
        for item in (source / "sources").iterdir():
            with resources.as_file(item) as path:
                shutil.copyfile(path, directory / "sources" / item.name)
    project = load_project(target)
    with run_display(quiet) as (progress, display_plugins):
        report = run_project(
            project, config=project_config(project, plugins=display_plugins), progress=progress
        )
    config = project_config(project)
    if not quiet or not report.ok:
        print_summary(report)
    if not report.ok:
        raise click.exceptions.Exit(1)
    with QueryEngine(config) as engine:
        for title, sql in DEMO_QUESTIONS:
            frame = engine.query(sql)
            click.echo("")
            print_table(title, frame.columns, frame.rows())
    click.echo("")
    click.echo(
        f"warehouse in {project.data_root}; try: cd {directory} && "
        'jobforge query "SELECT * FROM gold.occupation_outlook LIMIT 5"'
    )
