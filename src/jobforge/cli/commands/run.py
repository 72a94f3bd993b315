"""``jobforge run``, ``jobforge ingest`` and ``jobforge promote``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobforge.cli import context, state
from jobforge.cli.output import print_table
from jobforge.pipeline.config import Layer

LAYERS = click.Choice([layer.value for layer in Layer if layer is not Layer.STAGED])


@click.command("run")
@click.option("--table", "tables", multiple=True, help="Run only this table (repeatable).")
@click.option(
    "--to", "to", type=LAYERS, default="gold", show_default=True, help="Stop after this layer."
)
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Re-ingest source files even if identical files were ingested before.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and why each step would run.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first table that fails.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Tables run at once (default: [engine] jobs, else the cores; 1: one at a time).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
def run(
    tables: tuple[str, ...],
    to: str,
    full_refresh: bool,
    dry_run: bool,
    fail_fast: bool,
    jobs: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the pipeline declared in jobforge.toml.

    Every table that can run runs: a table that fails is reported, the tables
    built from it are skipped, and the exit code is 1. Steps whose inputs and
    declarations did not change are up to date and not run again.
    """
    from jobforge.cli.progress import print_summary, run_display
    from jobforge.project.runner import plan_project, run_project

    project = context.required_project()
    debug = state.current().debug
    if dry_run:
        config = context.pipeline_config(project)
        steps, hooks = plan_project(
            project, config=config, tables=tables, to=Layer(to), full_refresh=full_refresh
        )
        if as_json:
            click.echo(json.dumps({"steps": [s.__dict__ for s in steps], "hooks": hooks}, indent=2))
            return
        click.echo(f"plan for {project.path} (data root {config.data_root}); nothing is written")
        print_table(
            "plan",
            ["table", "layer", "action", "why", "step", "executor"],
            [[s.table, s.layer, s.action, s.reason, s.what, s.executor] for s in steps],
        )
        click.echo("hooks (plugins in call order):")
        for hook, names in hooks.items():
            click.echo(f"  {hook}: {', '.join(names) or '-'}")
        return
    with run_display(quiet or as_json) as (progress, display_plugins):
        report = run_project(
            project,
            config=context.pipeline_config(project, plugins=display_plugins),
            tables=tables,
            to=Layer(to),
            full_refresh=full_refresh,
            progress=progress,
            fail_fast=fail_fast,
            jobs=jobs,
            on_error=_print_traceback if debug else None,
        )
    if as_json:
        click.echo(json.dumps(report.as_dicts(), indent=2, default=str))
    else:
        print_summary(report)
    if not report.ok:
        raise click.exceptions.Exit(1)


def _print_traceback(error: BaseException) -> None:
    import traceback

    click.echo("".join(traceback.format_exception(error)), err=True, nl=False)


@click.command("ingest")
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--table", "table", required=True, help="Table to ingest into.")
@click.option("--domain", default=None, help="Domain of the table.")
@click.option("--format", "fmt", default=None, help="Format (default: by suffix).")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reader option (repeatable), e.g. --option encoding=cp1252.",
)
@click.option("--force", is_flag=True, help="Re-ingest a file already ingested.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ingest(
    file: Path,
    table: str,
    domain: str | None,
    fmt: str | None,
    options: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Read FILE into the staged layer as a new batch of TABLE."""
    from jobforge.engine.pipeline import PipelineEngine

    project = context.optional_project()
    declared = project.spec.tables.get(table) if project else None
    reader_options = dict(declared.reader) if declared else {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option")
        reader_options[key] = value
    engine = PipelineEngine(context.pipeline_config(project))
    result = engine.ingest(
        file,
        table,
        domain if domain is not None else (declared.domain if declared else ""),
        format=fmt or (declared.format if declared else None),
        options=reader_options,
        force=force,
    )
    summary = {
        "table": result.table,
        "batch_id": result.batch_id,
        "skipped": result.skipped,
        "rows": result.rows,
        "rows_quarantined": result.rows_quarantined,
        "path": str(result.path),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif result.skipped:
        click.echo(
            f"{file}: identical file already ingested as batch {result.batch_id} "
            "(use --force to ingest it again)"
        )
    else:
        click.echo(
            f"{file} -> staged.{table}: {result.rows} rows, "
            f"{result.rows_quarantined} quarantined, batch {result.batch_id}"
        )


@click.command("promote")
@click.argument("table")
@click.option("--to", "to", type=LAYERS, required=True, help="Layer to promote into.")
@click.option("--batch", "batch_id", default=None, help="Batch to promote (default: the latest).")
@click.option(
    "--force", is_flag=True, help="Promote again even if the target version is up to date."
)
@click.option("--json", "as_json", is_flag=True, help="Print the lineage record as JSON.")
def promote(table: str, to: str, batch_id: str | None, force: bool, as_json: bool) -> None:
    """Promote TABLE's latest batch into the next layer (with the project's declaration)."""
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.steps import BronzeSchema, SilverSpec
    from jobforge.errors import ConfigError
    from jobforge.project.runner import declaration_for, gold_spec, write_glossary

    project = context.optional_project()
    config = context.pipeline_config(project)
    context.known_table(config, table, project)
    engine = PipelineEngine(config)
    if project is not None:
        write_glossary(project, config)
    layer = Layer(to)
    if layer is Layer.GOLD:
        if project is None or table not in project.spec.gold:
            raise ConfigError(f"gold table {table!r} is not declared in a jobforge.toml")
        gold = project.spec.gold[table]
        result = engine.promote_to_gold(
            gold_spec(table, gold), declaration=declaration_for(gold), force=force
        )
    else:
        declared = project.spec.tables.get(table) if project else None
        declaration = declaration_for(declared) if declared else None
        if layer is Layer.BRONZE:
            result = engine.promote_to_bronze(
                table,
                declared.bronze if declared else BronzeSchema(),
                batch_id=batch_id,
                declaration=declaration,
                force=force,
            )
        else:
            silver = (
                SilverSpec(
                    dedupe=declared.silver.dedupe,
                    rules=declared.silver.rules,
                    transforms=declared.silver.transforms,
                )
                if declared
                else SilverSpec()
            )
            result = engine.promote_to_silver(
                table, silver, batch_id=batch_id, declaration=declaration, force=force
            )
    if as_json:
        click.echo(result.record.model_dump_json(indent=2))
        return
    ledger = result.record.ledger
    if result.up_to_date:
        click.echo(
            f"{layer.value}.{table}: up to date (version made from the same inputs and "
            "declaration; --force promotes again)"
        )
        return
    click.echo(
        f"{result.record.source_layer}.{table} -> {layer.value}.{table}: {result.record.status}, "
        f"{ledger.rows_in} in, {ledger.rows_out} out, {ledger.rows_quarantined} quarantined, "
        f"{ledger.rows_deduplicated} deduplicated"
    )
