"""The Dagster UI and the dbt docs site, opened in a real browser the way a user opens them.

One module-scoped setup does what a user does before looking: simulate a small day, run
`daily_pipeline` for that partition and then `rollups` on a Dagster instance in a temporary
DAGSTER_HOME (with the project's dagster.yaml), build the dbt docs, then start the real
`dagster-webserver` on the repository's workspace.yaml (its code server inherits the TICKWH_*
environment, so the code location's default resources point at the same temporary warehouse) and
`python -m http.server` on $TICKWH_HOME/docs. Debian's Chromium, driven by playwright, then
looks at the pages. Screenshots go to the test's tmp dir; their paths are printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dagster import DagsterInstance
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from ingest.settings import DBT_PROJECT_DIR
from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.marts.project import dbt_resource
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes
from tests.ui_servers import REPO, docs_server_cmd, free_port, server, wait_http, webserver_cmd
from tickwh.docs import build_dbt_docs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
DAY = dt.date(2024, 3, 5)
CATALOG_ASSETS = [
    "raw_trades",
    "raw_book_snapshots",
    "ohlcv_1m",
    "ohlcv_1d",
    "daily_stats",
    "rollup_weekly",
    "market_daily_summary",
]
WEBSERVER_START_TIMEOUT_S = 240  # loading the code location takes 20-40 s on 2 idle cores
PAGE_TIMEOUT_MS = 60_000
# What an assertion waits for a page to show. Playwright's default is 5 s. In a CI run with both cores
# busy, an asset's overview still had its sections empty after 5 s (2026-12-07), so this is 30 s.
expect.set_options(timeout=30_000)


@dataclass
class Site:
    dagster_url: str
    docs_url: str
    home: Path
    context: BrowserContext
    shots: Path
    trades_rows: int
    taken: list[Path] = field(default_factory=list)

    def open(self, url: str) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(url, wait_until="domcontentloaded")
        return page

    def screenshot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path


def prepare_warehouse(home: Path) -> int:
    """A small simulated day through daily_pipeline and rollups on the DAGSTER_HOME instance."""
    simulate_days(DAY, 1, home / "landing", trades_per_day=5_000, snapshot_interval_ms=10_000, seed=11)
    defs = build_defs(
        {
            "warehouse": WarehouseResource.at(home),
            "landing": LandingZoneResource(root=str(home / "landing")),
            "dbt": dbt_resource(),
        }
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with DagsterInstance.get() as instance:
        daily = defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, partition_key=DAY.isoformat(), run_config=quiet
        )
        assert daily.success
        assert defs.resolve_job_def("rollups").execute_in_process(instance=instance, run_config=quiet).success
    with lakes.connect(home, read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM raw.trades").fetchone()[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium) first")
    root = tmp_path_factory.mktemp("ui")
    home = root / "var"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").symlink_to(REPO / "dagster.yaml")  # as `make dagster-home` does
    shots = root / "screenshots"
    shots.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TICKWH_HOME", str(home))
        for var in ("TICKWH_LAKE_CATALOG", "TICKWH_LAKE_DATA", "TICKWH_LAKE_S3_ENDPOINT"):
            mp.delenv(var, raising=False)  # the lake (and the code server's) follows TICKWH_HOME: <home>/lake/
        mp.setenv("TICKWH_LANDING_ROOT", str(home / "landing"))
        mp.setenv("DAGSTER_HOME", str(dagster_home))
        mp.setenv("DAGSTER_DISABLE_TELEMETRY", "1")

        trades_rows = prepare_warehouse(home)

        env = dict(os.environ)
        web_port, docs_port = free_port(), free_port()
        web_log, docs_log = root / "webserver.log", root / "docs_server.log"
        # Start the webserver first: it loads the code location while the docs build.
        with server(webserver_cmd(web_port), env, web_log) as web:
            index = build_dbt_docs()
            assert index == home / "docs" / "dbt" / "index.html", index
            with server(docs_server_cmd(docs_port, home / "docs"), env, docs_log) as docs:
                docs_url = f"http://127.0.0.1:{docs_port}/dbt/"
                wait_http(docs_url + "index.html", docs, docs_log, timeout=60)
                dagster_url = f"http://127.0.0.1:{web_port}"
                info = json.loads(wait_http(f"{dagster_url}/server_info", web, web_log,
                                            timeout=WEBSERVER_START_TIMEOUT_S))
                print(f"dagster-webserver {info.get('dagster_webserver_version')} at {dagster_url} (log {web_log})")
                with sync_playwright() as pw:
                    browser: Browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                    try:
                        # Tall enough that the asset catalog (a virtualised list) renders every row.
                        context = browser.new_context(viewport={"width": 1600, "height": 2400})
                        yield Site(dagster_url, docs_url, home, context, shots, trades_rows)
                    finally:
                        browser.close()


def dismiss_community_dialog(page: Page) -> None:
    """On a fresh instance the UI greets a localhost user with a 'Join the Dagster community' dialog."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeoutError:  # not shown: already dismissed on this instance
        return
    skip.click()
    expect(page.get_by_text("Join the Dagster community")).to_have_count(0)


def catalog_row(page: Page, asset: str) -> Locator:
    """A row of the asset catalog: the nearest block around the asset's link that has its row menu."""
    return page.locator(f'a[href="/assets/{asset}"]').locator("xpath=ancestor::*[.//button][1]")


def test_asset_catalog_lists_the_warehouse_assets(site: Site) -> None:
    page = site.open(f"{site.dagster_url}/assets")
    dismiss_community_dialog(page)
    for name in CATALOG_ASSETS:
        expect(page.locator(f'a[href="/assets/{name}"]')).to_be_visible()
    # Status cells fill in once the asset health queries answer: the day-partitioned assets count
    # 1 materialized partition and the rest missing; the unpartitioned rollups say "Materialized".
    for name in ("raw_trades", "raw_book_snapshots", "ohlcv_1m", "ohlcv_1d", "daily_stats"):
        expect(catalog_row(page, name)).to_contain_text(
            re.compile(r"^1\n[\d,]+\n0\n0\n[\d,]+ partitions$", re.M), use_inner_text=True
        )
    for name in ("rollup_weekly", "market_daily_summary"):
        expect(catalog_row(page, name)).to_contain_text("Materialized", use_inner_text=True)
    expect(page.get_by_text("Loading...")).to_have_count(0)
    site.screenshot(page, "asset_catalog")


def test_raw_trades_partition_page_shows_load_metadata(site: Site) -> None:
    page = site.open(f"{site.dagster_url}/assets/raw_trades?view=partitions&partition={DAY.isoformat()}")
    dismiss_community_dialog(page)
    # The partition's detail pane: its materialization, from one run, with the load's metadata.
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="View all historical events (1)")).to_be_visible()
    expect(page.get_by_role("link", name="daily_pipeline", exact=True)).to_be_visible()

    def metadata_row(key: str) -> str:
        row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))
        expect(row.first).to_be_visible()
        return row.first.inner_text()

    assert str(site.trades_rows) in metadata_row("dagster/row_count")
    assert re.search(r"\b0\b", metadata_row("rows_quarantined"))
    assert f"{DAY.isoformat()} 00:" in metadata_row("first_ts")
    assert f"{DAY.isoformat()} 23:" in metadata_row("last_ts")
    for key in ("per_day", "preview"):
        metadata_row(key)
    site.screenshot(page, "raw_trades_partition")

    # The asset's overview: the row count gets a label of its own.
    page = site.open(f"{site.dagster_url}/assets/raw_trades?partition={DAY.isoformat()}")
    expect(page.get_by_text("Row count", exact=True)).to_be_visible()
    expect(page.get_by_text(f"{site.trades_rows:,}", exact=True).first).to_be_visible()
    site.screenshot(page, "raw_trades_overview")


def dbt_tests_on(model: str) -> list[str]:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    unique_id = f"model.tickwarehouse.{model}"
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node") == unique_id
    )


def test_ohlcv_1m_checks_tab_lists_the_dbt_tests(site: Site) -> None:
    tests = dbt_tests_on("ohlcv_1m")
    # grain, OHLC order, bar structure, and the column rules (not null / non-negative) in one test
    assert len(tests) >= 4 and "column_rules_ohlcv_1m" in tests, tests
    page = site.open(f"{site.dagster_url}/assets/ohlcv_1m?view=checks")
    dismiss_community_dialog(page)
    expect(page.get_by_text(re.compile(r"^Checks \(\d+\)$"))).to_be_visible()
    n_checks = int(re.findall(r"\d+", page.get_by_text(re.compile(r"^Checks \(\d+\)$")).inner_text())[0])
    assert n_checks >= len(tests)
    for name in tests:
        expect(page.get_by_text(name, exact=True).first).to_be_attached()
    # Every check on the list ran with the partition's run and passed, except the comparison with the
    # exchange's klines: no reference is configured here, so it compared nothing and is not shown green.
    skipped = page.get_by_text("Skipped", exact=True)
    expect(skipped).to_have_count(1)
    # The one "Skipped" sits in the klines check's list item (the nearest ancestor naming a check).
    item = skipped.locator("xpath=ancestor::*[contains(., '_ohlcv_1m') or contains(., 'ohlcv_1m_')][1]")
    expect(item).to_contain_text("ohlcv_1m_matches_exchange_klines")
    # The freshness check (docs/operations.md) is evaluated by its sensor, which needs the daemon; this
    # site runs the webserver alone, so it is the one check not evaluated.
    not_evaluated = page.get_by_text(re.compile(r"^Not evaluated$", re.I))
    expect(not_evaluated).to_have_count(1)
    expect(not_evaluated.locator("xpath=ancestor::*[contains(., 'freshness')][1]")).to_contain_text("freshness")
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(n_checks - 2)
    site.screenshot(page, "ohlcv_1m_checks")


def col_doc(name: str) -> str:
    """The plain-text start of a `{% docs name %}` block in the marts' docs (up to the first code span)."""
    text = (DBT_PROJECT_DIR / "models" / "marts" / "_docs.md").read_text()
    body = re.search(r"{%\s*docs\s+" + re.escape(name) + r"\s*%}(.*?){%\s*enddocs\s*%}", text, re.S)
    assert body, name
    return body.group(1).split("`")[0].strip().rstrip(",")


def test_dbt_docs_site_lists_marts_and_documents_columns(site: Site) -> None:
    vwap_doc = col_doc("col_vwap")
    assert vwap_doc.startswith("Volume-weighted"), vwap_doc
    page = site.open(site.docs_url + "index.html#!/model/model.tickwarehouse.ohlcv_1m")
    expect(page.get_by_role("heading", name=re.compile(r"^\s*ohlcv_1m"))).to_be_visible()
    # The project tree is open at models/marts and lists the day-keyed marts.
    marts = page.get_by_role("listitem").filter(has_text=re.compile(r"^\s*marts\b"))
    for mart in ("ohlcv_1m", "ohlcv_5m", "ohlcv_1d", "daily_stats"):
        expect(marts.get_by_text(mart, exact=True)).to_be_visible()
    # The columns table carries the doc blocks' text.
    vwap_row = page.get_by_role("row").filter(has=page.get_by_text("vwap", exact=True))
    expect(vwap_row.first).to_contain_text(vwap_doc)
    # The table cuts long descriptions short; a click on the row opens the full, rendered text.
    vwap_row.first.click()
    expect(page.get_by_text(re.compile(re.escape(vwap_doc) + r".*quote_volume / volume")).last).to_be_visible()
    site.screenshot(page, "dbt_docs_ohlcv_1m")
