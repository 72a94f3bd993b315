"""The catalog site in a real headless Chromium (Debian's ``chromium``), driven
by Playwright: the demo's site and the site of a project over the real files,
opened from disk and from ``jobforge docs serve``'s server on loopback.

Every request the page makes is routed through :class:`NetworkGuard`, which
lets through only the site's own files and loopback, and fails the test on
anything else. Screenshots go to ``test-artifacts/site/`` (git-ignored).

Without Chromium or Playwright these tests are skipped, unless
``JOBFORGE_REQUIRE_BROWSER`` is set (CI sets it): then they fail.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from jobforge.site.serve import make_server, url_of

from .conftest import REAL_DATA, REPO
from .site_projects import (
    catalog_edges,
    catalog_entries,
    demo_project,
    read_site_model,
    real_project,
    run_ok,
)

CHROMIUM = Path(os.environ.get("JOBFORGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "site"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _browser_required() -> bool:
    return os.environ.get("JOBFORGE_REQUIRE_BROWSER", "") not in ("", "0")


class NetworkGuard:
    """Routes every request of a browser context: the site's files and loopback
    pass, anything else is aborted and recorded as a violation."""

    def __init__(self, site: Path) -> None:
        self.site = site.resolve()
        self.seen: list[str] = []
        self.violations: list[str] = []

    def allowed(self, url: str) -> bool:
        parsed = urlparse(url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path)).resolve()
            return path == self.site or self.site in path.parents
        if parsed.scheme in ("http", "https"):
            return parsed.hostname in LOOPBACK
        return parsed.scheme in ("data", "about", "blob")

    def route(self, route: Any) -> None:
        url = route.request.url
        self.seen.append(url)
        if self.allowed(url):
            route.continue_()
        else:
            self.violations.append(url)
            route.abort()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is None and not CHROMIUM.is_file():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem is not None:
        if _browser_required():
            pytest.fail(f"JOBFORGE_REQUIRE_BROWSER is set but {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Site:
    """A built site and a page on it, with its network guard."""

    def __init__(self, browser: Any, project: Path, name: str) -> None:
        self.project = project
        self.path = project / "site"
        self.name = name
        self.model = read_site_model(self.path)
        self.entries = catalog_entries(project / "data")
        self.guard = NetworkGuard(self.path)
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.route("**/*", self.guard.route)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )
        self.base = self.path.resolve().as_uri() + "/index.html"

    def open(self, fragment: str = "") -> Any:
        self.page.goto(self.base + fragment)
        self.page.wait_for_selector("#app h1")
        return self.page

    def graph(self, fragment: str = "#/lineage") -> Any:
        page = self.open(fragment)
        # set by the page when the layout has run (waiting with a selector, not a
        # script: the page's Content-Security-Policy forbids eval)
        page.wait_for_selector('#graph[data-ready="true"]')
        return page

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    def check_clean(self) -> None:
        assert self.guard.violations == [], self.guard.violations
        assert self.errors == [], self.errors
        # the guard saw the site's own files: it is on the path of every request
        names = {Path(urlparse(u).path).name for u in self.guard.seen}
        assert {"index.html", "site-data.js", "app.js", "cytoscape.min.js"} <= names


@pytest.fixture(scope="module")
def demo_site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    project = demo_project(tmp_path_factory.mktemp("browser-demo"))
    run_ok("docs", "build", cwd=project)
    site = Site(browser, project, "demo")
    yield site
    site.context.close()


@pytest.fixture(scope="module")
def real_site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    project = real_project(tmp_path_factory.mktemp("browser-real"))
    run_ok("docs", "build", cwd=project)
    site = Site(browser, project, "real")
    yield site
    site.context.close()


SITES = ["demo_site", "real_site"]


def _visible_keys(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#results tr[data-key]", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.key)"
    )


@pytest.mark.parametrize("which", SITES)
def test_overview_lists_every_table(which: str, request: pytest.FixtureRequest) -> None:
    site: Site = request.getfixturevalue(which)
    page = site.open()
    assert sorted(_visible_keys(page)) == sorted(site.entries)
    total = len(site.entries)
    assert page.text_content("#result-count") == f"{total} of {total} tables"
    cells = page.eval_on_selector_all(
        "#results tr[data-key]",
        "rows => rows.map(r => [r.dataset.key, ...[...r.cells].map(c => c.textContent)])",
    )
    for key, name, domain, rows, _last, _state, owner, classification, *_ in cells:
        entry = site.entries[key]
        assert (name, domain, rows) == (
            entry["table_name"],
            entry["domain"],
            f"{entry['row_count']:,}",
        )
        assert (owner, classification) == (entry["data_owner"], entry["classification"])
    site.screenshot("overview")
    site.check_clean()


def test_search_and_filters_narrow_the_demo_overview(demo_site: Site) -> None:
    page = demo_site.open()
    # jobforge.toml: Statistics Canada owns noc_structure (three layers) and dim_noc
    page.fill("#search", "statistics canada")
    assert sorted(_visible_keys(page)) == [
        "bronze.noc_structure",
        "gold.dim_noc",
        "silver.noc_structure",
        "staged.noc_structure",
    ]
    assert page.text_content("#result-count") == "4 of 9 tables"
    page.select_option("#filter-layer", "gold")
    assert _visible_keys(page) == ["gold.dim_noc"]
    page.fill("#search", "")
    assert sorted(_visible_keys(page)) == [
        "gold.dim_noc",
        "gold.fact_employment_projection",
        "gold.occupation_outlook",
    ]
    page.select_option("#filter-domain", "=labour_market")
    assert sorted(_visible_keys(page)) == [
        "gold.fact_employment_projection",
        "gold.occupation_outlook",
    ]
    page.select_option("#filter-classification", "confidential")  # every demo table is public
    assert _visible_keys(page) == []
    assert page.text_content("#result-count") == "0 of 9 tables"
    page.click("#clear-filters")
    assert len(_visible_keys(page)) == 9
    # a column name finds its tables: "teer" is a column of dim_noc and occupation_outlook
    page.fill("#search", "teer")
    assert sorted(_visible_keys(page)) == ["gold.dim_noc", "gold.occupation_outlook"]
    demo_site.screenshot("search")
    demo_site.check_clean()


def test_pii_and_classification_filters_on_the_real_site(real_site: Site) -> None:
    page = real_site.open()
    page.select_option("#filter-pii", "any")
    # og_subgroups.subgroup_name is declared a quasi-identifier, in its three layers
    assert sorted(_visible_keys(page)) == [
        "bronze.og_subgroups",
        "silver.og_subgroups",
        "staged.og_subgroups",
    ]
    page.select_option("#filter-pii", "")
    page.select_option("#filter-classification", "confidential")
    assert sorted(_visible_keys(page)) == [
        "bronze.agreements",
        "gold.og_agreements",
        "silver.agreements",
        "staged.agreements",
    ]
    real_site.check_clean()


@pytest.mark.parametrize("which", SITES)
def test_lineage_picture_matches_the_catalog(which: str, request: pytest.FixtureRequest) -> None:
    site: Site = request.getfixturevalue(which)
    page = site.graph()
    nodes = page.evaluate(
        "window.jobforgeGraph.nodes().map(n => ({id: n.id(), kind: n.data('kind'),"
        " x: n.position('x')}))"
    )
    tables = [n for n in nodes if n["kind"] == "table"]
    assert sorted(n["id"] for n in tables) == sorted(site.entries)  # one node per table
    assert len({n["id"] for n in tables}) == len(tables)
    edges = page.evaluate(
        "window.jobforgeGraph.edges().map(e => [e.source().id(), e.target().id()])"
    )
    table_edges = {(a, b) for a, b in edges if a in site.entries}
    assert table_edges == catalog_edges(site.entries)
    # every staged table is fed by the source file(s) of its current version
    files = {n["id"] for n in nodes if n["kind"] == "source"}
    fed = sorted(b for a, b in edges if a in files)
    assert fed == sorted(k for k in site.entries if k.startswith("staged."))
    assert len(edges) == len(table_edges) + len(fed)
    # left to right: each edge goes rightwards
    x = {n["id"]: n["x"] for n in nodes}
    assert all(x[a] < x[b] for a, b in edges)
    site.screenshot("lineage")
    site.check_clean()


@pytest.mark.parametrize(
    ("which", "gold"), [("demo_site", "gold.dim_noc"), ("real_site", "gold.og_agreements")]
)
def test_a_click_on_a_gold_node_opens_its_page(
    which: str, gold: str, request: pytest.FixtureRequest
) -> None:
    site: Site = request.getfixturevalue(which)
    page = site.graph()
    # ", null": evaluate must not return cytoscape's core object (slow to serialise)
    page.evaluate(
        f"window.jobforgeGraph.fit(window.jobforgeGraph.getElementById('{gold}'), 200), null"
    )
    position = page.evaluate(f"window.jobforgeGraph.getElementById('{gold}').renderedPosition()")
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    page.wait_for_selector(f'#table-title:text-is("{gold}")')
    assert page.evaluate("location.hash") == "#/table/" + gold
    entry = site.entries[gold]
    rows = page.locator("#columns tbody tr")
    assert rows.count() == len(entry["columns"])
    assert (
        page.locator("#columns tbody tr").first.get_attribute("data-column")
        == (entry["columns"][0]["name"])
    )
    site.screenshot(f"page-{gold}")
    site.check_clean()


def test_a_classified_column_shows_no_example_values(real_site: Site) -> None:
    agreements = json.loads((REAL_DATA / "collective_agreements.json").read_text("utf-8"))
    subgroups = json.loads((REAL_DATA / "og_subgroups_en.json").read_text("utf-8"))
    page = real_site.open("#/table/silver.agreements")
    entry = real_site.entries["silver.agreements"]
    assert entry["classification"] == "confidential"
    name = next(c for c in entry["columns"] if c["name"] == "agreement_name")
    assert name["example_values"] == []  # the catalog keeps none ...
    cell = page.locator('#columns tr[data-column="agreement_name"] td.examples-cell')
    assert cell.text_content() == "hidden: table classified confidential"
    text = page.locator("body").inner_text()
    for record in agreements[:3]:  # ... and the first records of the file are not on the page
        assert record["agreement_name"] not in text
    real_site.screenshot("confidential-table")

    page = real_site.open("#/table/silver.og_subgroups")
    entry = real_site.entries["silver.og_subgroups"]
    subgroup = next(c for c in entry["columns"] if c["name"] == "subgroup_name")
    assert subgroup["pii_classification"] == "quasi_identifier"
    assert subgroup["example_values"] == []
    cell = page.locator('#columns tr[data-column="subgroup_name"] td.examples-cell')
    assert cell.text_content() == "hidden: column classified quasi_identifier"
    text = page.locator("body").inner_text()
    assert all(record["subgroup_name"] not in text for record in subgroups[:3])
    # a column of the same (internal) table without a PII class shows its examples:
    # the first three records' og_code
    code = next(c for c in entry["columns"] if c["name"] == "og_code")
    assert code["example_values"] == [record["og_code"] for record in subgroups[:3]]
    shown = page.locator('#columns tr[data-column="og_code"] td.examples-cell code')
    assert shown.all_text_contents() == code["example_values"]
    real_site.check_clean()


def test_column_view_highlights_the_path_of_a_column(demo_site: Site) -> None:
    page = demo_site.graph("#/lineage/gold.dim_noc/noc_code")
    # dim_noc.noc_code <- silver <- bronze noc_code <- staged "Code - NOC 2021 V1.0"
    # <- the source file's header; downstream, occupation_outlook.noc_code reads it
    items = page.eval_on_selector_all("#path-list li", "items => items.map(i => i.textContent)")
    assert items == [
        "source file noc_structure_en.csv, column \u201cCode - NOC 2021 V1.0\u201d",
        "staged.noc_structure.Code - NOC 2021 V1.0",
        "bronze.noc_structure.noc_code",
        "silver.noc_structure.noc_code",
        "gold.dim_noc.noc_code",
        "gold.occupation_outlook.noc_code",
    ]
    on_path = page.evaluate("window.jobforgeGraph.nodes('.on-path').map(n => n.id()).sort()")
    assert [n for n in on_path if not n.startswith("source:")] == [
        "bronze.noc_structure",
        "gold.dim_noc",
        "gold.occupation_outlook",
        "silver.noc_structure",
        "staged.noc_structure",
    ]
    assert len(on_path) == 6
    # the picture is the table's own lineage: what it reads and what reads it
    shown = page.evaluate("window.jobforgeGraph.nodes().map(n => n.id()).sort()")
    assert shown == on_path
    demo_site.screenshot("column-path")
    # a column the engine writes has no source: only its table is on the path
    page = demo_site.graph("#/lineage/gold.dim_noc/_processed_at")
    assert page.evaluate("window.jobforgeGraph.nodes('.on-path').map(n => n.id())") == [
        "gold.dim_noc"
    ]
    faded = page.evaluate("window.jobforgeGraph.nodes('.faded').map(n => n.id()).sort()")
    assert faded == [n for n in on_path if n != "gold.dim_noc"]
    demo_site.screenshot("column-path")
    demo_site.check_clean()


def test_table_page_runs_quarantine_history_and_glossary(real_site: Site) -> None:
    page = real_site.open("#/table/silver.employment")
    assert page.text_content("#quarantined-rows") == "16"
    rule = page.locator('#quarantine-rules tr[data-rule="unit"]')
    assert "16" in rule.text_content() and "SELECT * FROM quarantine" in rule.text_content()
    assert page.locator("#runs tbody tr").count() == 1
    assert page.locator("#runs-chart polyline").count() == 4
    assert page.locator("#schema-history tbody tr").count() == 1
    real_site.screenshot("silver-employment")
    page = real_site.open("#/glossary/noc-code")
    columns = page.eval_on_selector_all(
        "#term-noc-code li a", "links => links.map(a => a.textContent).sort()"
    )
    assert columns == [
        "bronze.noc_structure.code",
        "silver.noc_structure.code",
    ]
    page.click("#term-noc-code li a >> nth=0")
    page.wait_for_selector("#table-title")
    assert page.text_content("#table-title") == "bronze.noc_structure"
    real_site.check_clean()


def test_site_served_on_loopback_works_the_same(demo_site: Site, browser: Any) -> None:
    server = make_server(demo_site.path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    guard = NetworkGuard(demo_site.path)
    context = browser.new_context()
    try:
        context.route("**/*", guard.route)
        page = context.new_page()
        page.goto(url_of(server) + "#/lineage")
        page.wait_for_selector('#graph[data-ready="true"]')
        count = page.evaluate("window.jobforgeGraph.nodes('[kind = \"table\"]').length")
        assert count == len(demo_site.entries)
    finally:
        context.close()
        server.shutdown()
        server.server_close()
    assert guard.violations == []
    assert all(urlparse(u).hostname == "127.0.0.1" for u in guard.seen)
    assert len(guard.seen) >= 6


def test_network_guard_lets_through_only_the_site_and_loopback(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    guard = NetworkGuard(site)
    assert guard.allowed((site / "index.html").as_uri())
    assert guard.allowed((site / "vendor" / "cytoscape.min.js").as_uri())
    assert not guard.allowed((tmp_path / "other.js").as_uri())
    assert not guard.allowed((site / ".." / "x.js").as_uri())
    assert guard.allowed("http://127.0.0.1:8000/site-data.js")
    assert guard.allowed("http://localhost:1/")
    assert not guard.allowed("https://unpkg.com/cytoscape/dist/cytoscape.min.js")
    assert not guard.allowed("http://10.0.0.1/")
    assert not guard.allowed("ws://127.0.0.1:9/")
