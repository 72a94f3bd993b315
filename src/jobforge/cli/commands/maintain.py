"""``jobforge maintain TABLE``: compact the small files of current versions, then
vacuum the files of old versions nothing needs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from jobforge.cli import context

if TYPE_CHECKING:
    from jobforge.engine.maintain import LayerMaintenance
from jobforge.cli.output import print_table
from jobforge.storage.sizes import format_size


@click.command("maintain")
@click.argument("table")
@click.option(
    "--layer",
    type=click.Choice(["staged", "bronze", "silver", "gold"]),
    default=None,
    help="Only this layer (default: every layer the table has a version in).",
)
@click.option(
    "--dry-run", is_flag=True, help="List what would be compacted, then removed; change nothing."
)
@click.option(
    "--target-size",
    default=None,
    metavar="SIZE",
    help="Target size of a compacted file (64MiB; overrides [storage] "
    "compact_target_size; default 128MiB): files below it are merged, up to it.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def maintain(
    table: str, layer: str | None, dry_run: bool, target_size: str | None, as_json: bool
) -> None:
    """Compact TABLE's staged files (the batches of its current version merged into
    fewer files, every row unchanged, a record naming which files replaced which), then
    remove the files of old versions that no kept version lists: kept are the current
    version, every version the current lineage read, and every version current within
    the table's retention_days (without it: every version). Needs [storage] format =
    "delta"; see docs/storage.md."""
    from jobforge.engine.maintain import maintain as run_maintain
    from jobforge.storage.locks import DEFAULT_TIMEOUT_S
    from jobforge.storage.maintenance import DEFAULT_COMPACT_TARGET_BYTES
    from jobforge.storage.sizes import parse_size

    target = None
    if target_size is not None:
        try:
            target = parse_size(target_size)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--target-size'") from None
    project = context.optional_project()
    if target is None and project is not None:
        target = project.spec.storage.compact_target_bytes()
    config = context.pipeline_config(project)
    context.known_table(config, table, project)
    results = run_maintain(
        config,
        table,
        [layer] if layer else None,
        dry_run=dry_run,
        lock_timeout=project.spec.project.lock_timeout_s if project else DEFAULT_TIMEOUT_S,
        target_bytes=DEFAULT_COMPACT_TARGET_BYTES if target is None else target,
    )
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    print_table(
        "maintain" + (" (dry run)" if dry_run else ""),
        [
            "layer",
            "table",
            "compacted",
            "retention days",
            "versions kept",
            "versions removed",
            "files",
            "bytes",
        ],
        [
            [
                r.layer,
                r.table,
                _compacted(r.compacted),
                "" if r.retention_days is None else r.retention_days,
                " ".join(map(str, r.kept)),
                " ".join(map(str, r.removed_versions)),
                len(r.files),
                r.bytes_removed,
            ]
            for r in results
        ],
    )
    for line in steps(results, dry_run):
        click.echo(line)


def steps(results: list[LayerMaintenance], dry_run: bool) -> list[str]:
    """What maintain did (``dry_run``: would do), in the order it does it: every
    layer's compaction, then every layer's vacuum, each with its figures."""
    lines = ["1. compaction" + (" (would)" if dry_run else "")]
    if results:
        lines.append(f"  target size: {format_size(results[0].target_bytes)}")
    for r in results:
        where = f"{r.layer}.{r.table}"
        if r.compacted:
            before, after = r.version_files or (0, 0)
            count = sum(len(c["replaced"]) for c in r.compacted)
            lines.append(
                f"  {where}: {count} file(s), {sum(c['bytes'] for c in r.compacted)} bytes, "
                f"{sum(c['rows'] for c in r.compacted)} rows into {len(r.compacted)}; "
                f"the current version lists {before} -> {after} file(s)"
            )
        else:
            lines.append(f"  {r.compaction or where + ': nothing to compact'}")
    lines.append("2. vacuum" + (" (would, after that compaction)" if dry_run else ""))
    for r in results:
        gone = " ".join(map(str, r.removed_versions)) or "none"
        lines.append(
            f"  {r.layer}.{r.table}: {len(r.files)} file(s), {r.bytes_removed} bytes; "
            f"versions no longer readable: {gone}"
        )
    verb = "would remove" if dry_run else "removed"
    merged = [c for r in results for c in r.compacted]
    done = "would compact" if dry_run else "compacted"
    lines.append(
        f"{done} {sum(len(c['replaced']) for c in merged)} file(s) into {len(merged)}; "
        f"{verb} {sum(len(r.files) for r in results)} file(s), "
        f"{sum(r.bytes_removed for r in results)} bytes"
    )
    return lines


def _compacted(compacted: list[dict[str, Any]]) -> str:
    """``12 -> 1``: the files merged and the files they were merged into."""
    if not compacted:
        return ""
    return f"{sum(len(c['replaced']) for c in compacted)} -> {len(compacted)}"
