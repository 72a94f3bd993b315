"""How long ``jobforge docs build`` takes for a large catalog.

``python benchmarks/site.py [--tables 500] [--repeat 3] [--keep DIR]`` makes a
catalog of about ``--tables`` table entries with the real engine (source
tables through staged, bronze and silver, and gold tables that each join two
silver tables: three quarters of the entries are source layers, one quarter
gold), then builds the site ``--repeat`` times and prints the figures: time to
gather the model from the catalog, time to write the site, and their sum
(best and median of the repeats), with the model's and the site's size.

It only prints; nothing here asserts a timing (docs/site.md quotes figures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec
from jobforge.logging import configure_logging
from jobforge.pipeline.config import PipelineConfig
from jobforge.site.build import write_site
from jobforge.site.model import build_site_model

ROWS = 20
DOMAINS = ("noc", "labour", "oasis", "public_service", "defence")


def make_catalog(root: Path, tables: int) -> PipelineConfig:
    """A catalog of about ``tables`` entries: ``tables // 4`` source tables (three
    entries each) and as many gold tables."""
    sources = max(tables // 4, 2)
    config = PipelineConfig(root / "data", entry_points=False)
    engine = PipelineEngine(config)
    files = root / "sources"
    files.mkdir(parents=True)
    for index in range(sources):
        name = f"source_{index:04d}"
        path = files / f"{name}.csv"
        lines = ["Code,Title,Count,Share,Region,Note"]
        lines += [
            f"{index:04d}{row:03d},Title {row},{row * 7 - 3},{row / ROWS:.3f},R{row % 5},n{row}"
            for row in range(ROWS)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        engine.run_full_pipeline(
            path,
            name,
            DOMAINS[index % len(DOMAINS)],
            bronze_schema=BronzeSchema(
                rename={"Code": "code", "Title": "title", "Count": "count", "Share": "share"},
                cast={"count": "int", "share": "float"},
            ),
            silver=SilverSpec(
                dedupe=["code"], rules=[Rule(id="count_not_negative", expression="count >= 0")]
            ),
        )
    for index in range(tables - 3 * sources):
        left = f"source_{index % sources:04d}"
        right = f"source_{(index + 1) % sources:04d}"
        engine.promote_to_gold(
            GoldSpec(
                name=f"gold_{index:04d}",
                inputs=[left, right],
                domain=DOMAINS[index % len(DOMAINS)],
                sql=(
                    f"SELECT l.code, l.title, l.count + r.count AS total, "
                    f"list_concat(l._lineage, r._lineage) AS _lineage "
                    f"FROM {left} l JOIN {right} r ON substr(l.code, 5) = substr(r.code, 5)"
                ),
            )
        )
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=500, help="catalog entries (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="builds to time (default 3)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the catalog and site here")
    args = parser.parse_args(argv)
    if args.tables < 8 or args.repeat < 1:
        parser.error("--tables must be at least 8 and --repeat at least 1")
    configure_logging(json=False, level="warning", stream=sys.stderr)
    root = args.keep or Path(tempfile.mkdtemp(prefix="jobforge-site-bench-"))
    try:
        started = time.perf_counter()
        config = make_catalog(root, args.tables)
        print(f"catalog: made in {time.perf_counter() - started:.1f} s in {root}", flush=True)
        gather: list[float] = []
        write: list[float] = []
        model: dict[str, object] = {}
        size = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model = build_site_model(config, project_name="benchmark")
            t1 = time.perf_counter()
            size = write_site(model, root / "site")
            t2 = time.perf_counter()
            gather.append(t1 - t0)
            write.append(t2 - t1)
        total = [g + w for g, w in zip(gather, write, strict=True)]
        tables = len(model["tables"])  # type: ignore[arg-type]
        runs = model["summary"]["runs"]  # type: ignore[index]
        data_bytes = len(json.dumps(model))
        print(f"tables: {tables}, source files: {len(model['sources'])}, runs: {runs}")  # type: ignore[arg-type]
        print(f"model: {data_bytes / 1024:.0f} KiB of JSON; site: {size / 1024:.0f} KiB")
        for label, values in (("gather", gather), ("write", write), ("build", total)):
            print(
                f"{label}: best {min(values):.3f} s, median {statistics.median(values):.3f} s "
                f"({len(values)} runs)"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
