"""A new user's first hour: `tickwh demo`, then `tickwh ui` (webserver + daemon) for about a minute.

One module-scoped set-up does what the user does: a small `tickwh demo` in a fresh TICKWH_HOME
(a real subprocess: daily_pipeline, rollups and archive over January 2024 days, on a DAGSTER_HOME
with the project's dagster.yaml), then a day of landing files arrives that nobody loaded, then
`tickwh ui` runs: one code server, the real dagster-webserver and the real dagster-daemon with
every default-on schedule and sensor (catch-up at a 5 s interval instead of hourly), in a time
zone 14 hours ahead of UTC so a local date would be a day off.

Asserted after the minute: the daemon caught up exactly the landed day, every run it launched
succeeded, no run touched a day without data, and the catch-up sensor's skip names the first
and last day without data. Then Debian's Chromium opens `ohlcv_1m`'s checks and finds every
check with a final status (no "In progress" spinner).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorTick
from playwright.sync_api import expect, sync_playwright

from ingest.availability import describe_days
from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.catchup.sensors import CATCHUP_TAG
from tests import lakes
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, dismiss_community_dialog
from tests.ui_servers import BIN, REPO, free_port, server, tail, wait_http
from tickwh import demo

DEMO_DAYS = 2
FIRST = dt.date(2024, 1, 1)
NO_DATA = dt.date(2024, 1, 3)  # the day after the demo's days: nothing landed
LANDED = dt.date(2024, 1, 4)  # landed during the "downtime", never loaded
WATCH_S = 60
QUIET_S = 45
SETTLE_TIMEOUT_S = 600  # the catch-up run and the rollups/archive it triggers, on 2 busy cores
# A check may end in any of these; "Failed" and "Execution failed" are final too, but fail the test.
PASSING_CHECK_STATUSES = ("Succeeded", "Warning", "Skipped", "Not evaluated")
FAILED_CHECK_STATUSES = ("Failed", "Execution failed")


@dataclass
class AfterDemo:
    home: Path
    url: str
    runs: list[DagsterRun]
    ticks: list[InstigatorTick]
    log: Path


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AfterDemo]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` first")
    home = tmp_path_factory.mktemp("first_hour") / "var"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "DAGSTER_HOME"))}
    env.update({"TICKWH_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"})
    demo = subprocess.run(
        [str(BIN / "tickwh"), "demo", "--start", str(FIRST), "--days", str(DEMO_DAYS), "--trades-per-day", "3000",
         "--snapshot-interval-ms", "20000"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    (home / "demo.log").write_text(demo.stdout + demo.stderr)
    assert demo.returncode == 0, demo.stderr[-3000:]
    simulate_days(LANDED, 1, home / "landing", trades_per_day=3000, snapshot_interval_ms=20000, seed=3)

    env.update({"TICKWH_CATCHUP_INTERVAL_S": "5", "TZ": "Pacific/Kiritimati"})
    port = free_port()
    log = home / "ui.log"
    dagster_home = home / "dagster_home"
    with server([str(BIN / "tickwh"), "ui", "--port", str(port)], env, log) as ui:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/server_info", ui, log, timeout=300)
        started = time.monotonic()
        os.environ["DAGSTER_HOME"] = str(dagster_home)  # the demo's instance, read from this process
        try:
            with DagsterInstance.get() as instance:
                demo_runs = {r.run_id for r in instance.get_runs() if "dagster/sensor_name" not in r.tags
                             and "dagster/schedule_name" not in r.tags}
                # Watch a minute, then until every run (follow-ups included) is finished and no new
                # one has appeared for QUIET_S (the run-status sensors tick every 30 s).
                seen, quiet_since = 0, time.monotonic()
                while True:
                    time.sleep(5)
                    assert ui.poll() is None, tail(log)
                    runs = [r for r in instance.get_runs() if r.run_id not in demo_runs]
                    if len(runs) != seen:
                        seen, quiet_since = len(runs), time.monotonic()
                    elapsed = time.monotonic() - started
                    if (elapsed >= WATCH_S and all(r.is_finished for r in runs)
                            and time.monotonic() - quiet_since >= QUIET_S):
                        break
                    assert elapsed < SETTLE_TIMEOUT_S, f"{[(r.job_name, r.status) for r in runs]}\n{tail(log)}"
                states = [s for s in instance.all_instigator_state() if s.name == "catchup_missed_days"]
                assert len(states) == 1, [s.name for s in instance.all_instigator_state()]
                ticks = list(instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id))
            yield AfterDemo(home, url, runs, ticks, log)
        finally:
            os.environ.pop("DAGSTER_HOME", None)


def test_daemon_runs_only_days_with_data_and_nothing_fails(after_demo: AfterDemo) -> None:
    runs, log = after_demo.runs, after_demo.log
    failed = [(r.job_name, r.status.value, dict(r.tags)) for r in runs if r.status != DagsterRunStatus.SUCCESS]
    assert failed == [], f"{failed}\n{tail(log)}"
    catchup = [(r.job_name, r.tags[CATCHUP_TAG]) for r in runs if CATCHUP_TAG in r.tags]
    assert catchup == [("daily_pipeline", f"{LANDED}..{LANDED}")]
    for run in runs:  # the follow-ups carry the caught-up day or no partition at all
        days = {run.tags.get(k) for k in ("dagster/partition", "dagster/asset_partition_range_start",
                                          "dagster/asset_partition_range_end")} - {None}
        assert days <= {str(LANDED)}, (run.job_name, dict(run.tags))
    # Besides the catch-up run, only the follow-ups its success triggers (if their sensors ticked yet).
    assert [r.job_name for r in runs].count("daily_pipeline") == 1
    assert {r.job_name for r in runs} <= {"daily_pipeline", "rollups", "archive"}

    # UTC: the last missing day is two days before today in UTC (TZ was 14 hours ahead).
    last_missing = utc_today() - dt.timedelta(days=2)
    missing = [NO_DATA] + [LANDED + dt.timedelta(days=i) for i in range(1, (last_missing - LANDED).days + 1)]
    landing = after_demo.home / "landing"
    expected = (f"no data for {describe_days(missing)}: no landing files (trades, and books where expected) "
                f"under {landing}")
    skips = [t.skip_reason for t in after_demo.ticks if t.skip_reason]
    assert len(after_demo.ticks) >= 5 and skips, [t.status for t in after_demo.ticks]
    assert all(s.startswith(expected) for s in skips), (expected, skips[:3])
    assert json.loads(after_demo.ticks[0].cursor or "{}")["no_data"].startswith(expected)
    # Reported once: one log line however many ticks skipped.
    lines = [line for line in log.read_text(errors="replace").splitlines() if "catch-up skips no data" in line]
    assert len(lines) == 1, lines


def test_ohlcv_1m_checks_all_show_a_final_status(after_demo: AfterDemo) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 2400}).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(f"{after_demo.url}/assets/ohlcv_1m?view=checks", wait_until="domcontentloaded")
            dismiss_community_dialog(page)
            heading = page.get_by_text(re.compile(r"^Checks \(\d+\)$"))
            expect(heading).to_be_visible()
            n_checks = int(re.findall(r"\d+", heading.inner_text())[0])
            graph = build_defs().resolve_asset_graph()
            assert n_checks == len([k for k in graph.asset_check_keys if k.asset_key == AssetKey("ohlcv_1m")])
            expect(page.get_by_text(re.compile(rf"^({'|'.join(FAILED_CHECK_STATUSES)})$"))).to_have_count(0)
            final = page.get_by_text(re.compile(rf"^({'|'.join(PASSING_CHECK_STATUSES)})$"))
            expect(final).to_have_count(n_checks)
            expect(page.get_by_text("In progress")).to_have_count(0)
            shot = after_demo.home / "ohlcv_1m_checks.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()


# --- the demo's own log and records (issue 27) ------------------------------------------------------

DBT_NODE_LINE = re.compile(r"^\d+ of \d+ (START|PASS|OK|WARN|ERROR|SKIP)\b")
DBT_SUMMARY = re.compile(
    r"dbt build of (?P<op>\w+)(?: for (?P<days>[\d-]+\.\.[\d-]+))?: (?P<models>\d+) models, (?P<tests>\d+) tests: "
    r"(?P<passed>\d+) pass, (?P<warn>\d+) warn, (?P<error>\d+) error, (?P<skip>\d+) skip \([\d.]+s in nodes\)$"
)
DEMO_LAST = FIRST + dt.timedelta(days=DEMO_DAYS - 1)


def test_demo_log_has_one_line_per_dbt_command_and_no_machinery(after_demo: AfterDemo) -> None:
    """Without -v: no dbt line per node, no dagster-dbt plumbing, no Dagster "did not yield" for a check
    that chose not to evaluate; one summary line per dbt command, and each not-evaluated check once."""
    lines = (after_demo.home / "demo.log").read_text().splitlines()
    assert [line for line in lines if DBT_NODE_LINE.match(line)] == []
    for noise in ("did not yield or return expected outputs", "A dbt subsetted execution is not being performed",
                  "partial_parse.msgpack", "Running dbt command", "Finished dbt command", "Registered adapter"):
        assert [line for line in lines if noise in line] == [], noise
    summaries = [m for m in (DBT_SUMMARY.search(line) for line in lines) if m]
    assert [(m["op"], m["days"]) for m in summaries] == [("dbt_daily_marts", f"{FIRST}..{DEMO_LAST}"),
                                                         ("dbt_rollups", None)]
    for m in summaries:
        assert int(m["models"]) > 0 and int(m["tests"]) > 0, m.group(0)
        assert int(m["passed"]) == int(m["models"]) + int(m["tests"]), m.group(0)
        assert (m["warn"], m["error"], m["skip"]) == ("0", "0", "0"), m.group(0)
    for check in ("hot_tier_matches_warm", "ohlcv_1m_matches_exchange_klines"):
        said = [line for line in lines if f"{check} not evaluated: " in line]
        assert len(said) == 1, (check, said)


def test_demo_summary_shows_the_derivatives_of_the_last_day(after_demo: AfterDemo) -> None:
    """The summary's derivatives block: one row per perpetual with the day's settled funding events, as many
    as distinct funding times of that day in the raw ticker (simex switched to a 4 h schedule on the second
    day: 6 events; the others settle every 8 h: 3)."""
    text = (after_demo.home / "demo.log").read_text()
    block = text.split("derivatives, last day")[1].split("\n\n")[0].splitlines()[1:]
    shown = {(r[1], r[2]): int(r[3]) for r in (line.split() for line in block) if r[0] == str(DEMO_LAST)}
    with lakes.connect(after_demo.home, read_only=True) as con:
        want = dict(((ex, sym), n) for ex, sym, n in con.execute(
            "SELECT exchange, symbol, count(DISTINCT funding_ts) FROM raw.derivative_ticker "
            "WHERE CAST(funding_ts AS DATE) = ? GROUP BY ALL", [DEMO_LAST]).fetchall())
    assert shown and shown.items() <= want.items() and len(shown) == min(len(want), demo.STATS_SHOWN)
    assert {n for (ex, _), n in shown.items() if ex == "simex"} == {6}
    assert {n for (ex, _), n in shown.items() if ex != "simex"} <= {3}


def demo_daily_run(instance: DagsterInstance) -> DagsterRun:
    runs = [r for r in instance.get_runs() if r.job_name == "daily_pipeline"
            and r.tags.get("dagster/asset_partition_range_start") == str(FIRST)]
    assert len(runs) == 1, [(r.job_name, dict(r.tags)) for r in instance.get_runs()]
    return runs[0]


def test_every_mart_check_has_its_real_result_for_each_day_of_the_ranged_run(after_demo: AfterDemo) -> None:
    """The demo's one ranged run over its days: every partitioned check that evaluated (the GE suites, the
    dbt tests) has a SUCCEEDED execution for each day, and none without a day; the two optional checks
    that did not evaluate are skipped for each day (the run finished with them planned)."""
    graph = build_defs().resolve_asset_graph()
    days = [str(FIRST + dt.timedelta(days=i)) for i in range(DEMO_DAYS)]
    optional = {"hot_tier_matches_warm", "ohlcv_1m_matches_exchange_klines"}
    with DagsterInstance.from_config(str(after_demo.home / "dagster_home")) as instance:
        run = demo_daily_run(instance)
        keys = [k for k in graph.asset_check_keys if k.asset_key in graph.materializable_asset_keys
                and graph.get(k.asset_key).partitions_def is not None]
        assert {"ge_ohlcv_1m", "ge_raw_trades", "column_rules_ohlcv_1m", *optional} <= {k.name for k in keys}
        by_check: dict[str, dict[str | None, str]] = {}
        for key in keys:
            records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
            by_check[f"{key.asset_key.to_user_string()}:{key.name}"] = {
                r.partition: r.status.value for r in records if r.run_id == run.run_id}
    for name, statuses in by_check.items():
        if not statuses:
            continue  # a check of an asset the daily run does not materialize
        want = "PLANNED" if name.split(":")[1] in optional else "SUCCEEDED"  # PLANNED in a finished run: skipped
        assert statuses == {day: want for day in days}, (name, statuses)
    assert len([s for s in by_check.values() if s]) >= 40, sorted(by_check)


def test_every_dbt_model_records_its_column_types(after_demo: AfterDemo) -> None:
    """The Columns table of each dbt model: every column with the type the warehouse holds, and the
    manifest's description kept (ohlcv_1m's prices are the numeric contract's decimals)."""
    graph = build_defs().resolve_asset_graph()
    models = [k for k in graph.get_all_asset_keys() if "dagster_dbt/unique_id" in graph.get(k).metadata
              and graph.get(k).metadata["dagster_dbt/unique_id"].startswith("model.")]
    assert {"ohlcv_1m", "daily_stats", "stg_trades", "rollup_weekly"} <= {k.path[-1] for k in models}
    with DagsterInstance.from_config(str(after_demo.home / "dagster_home")) as instance:
        for key in models:
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None, key
            schema = event.asset_materialization.metadata["dagster/column_schema"].value
            declared = {c.name for c in graph.get(key).metadata["dagster/column_schema"].columns}
            assert declared <= {c.name for c in schema.columns}, key
            assert [c.name for c in schema.columns if not c.type or c.type == "?"] == [], key
            if key.path[-1] == "ohlcv_1m":
                types = {c.name: c.type for c in schema.columns}
                assert types["close"].startswith("DECIMAL(") and types["bucket_start"] == "TIMESTAMP", types
                assert next(c for c in schema.columns if c.name == "vwap").description.startswith("Volume-weighted")


DAILY_GE_CHECKS = ("raw_trades", "raw_book_snapshots", "ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d",
                   "daily_stats")


def test_each_daily_gate_shows_passed_for_every_loaded_day_in_the_ui(after_demo: AfterDemo) -> None:
    """The check's Partitions view in the UI: every day the demo's ranged run covered, and the day the
    daemon caught up, counted Passed; none Skipped, Failed or Missing among them."""
    loaded = DEMO_DAYS + 1  # the demo's days and LANDED; NO_DATA was never loaded
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 2400}).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            for asset in DAILY_GE_CHECKS:
                page.goto(f"{after_demo.url}/assets/{asset}?view=checks&checkDetail=ge_{asset}",
                          wait_until="domcontentloaded")
                dismiss_community_dialog(page)
                expect(page.get_by_text("Latest execution")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
                page.get_by_text("Partitions", exact=True).last.click()  # the check's tab, not the asset's
                # "Loading partitions..." first: the status counts come from a query per check.
                expect(page.get_by_text(f"Passed ({loaded})", exact=True)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
                for status in ("Skipped", "Failed", "Execution Failed", "In Progress"):
                    expect(page.get_by_text(f"{status} (0)", exact=True)).to_be_visible()
                if asset == "ohlcv_1m":
                    page.screenshot(path=str(after_demo.home / "ge_ohlcv_1m_partitions.png"), full_page=True)
        finally:
            browser.close()
