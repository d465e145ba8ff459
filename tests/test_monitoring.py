"""Operators see the platform's health (docs/operations.md): freshness, alerts, `tickwh status`.

Real parts only: a Dagster instance on disk, the real raw load and GE check runs, an HTTP webhook
receiver and an aiosmtpd SMTP server on loopback, a nats-server and a feed process killed with
SIGKILL. Each incident must reach both receivers exactly once, then clear exactly once.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, build_sensor_context, materialize

from ingest.datasets import NAMES
from ingest.monitoring import freshness as fr
from ingest.monitoring.alerts import Alert, Alerter, Channels, IncidentStore
from ingest.settings import Settings
from orchestration.defs.monitoring.freshness import freshness_sensor
from orchestration.defs.monitoring.sensors import health_alerts
from orchestration.defs.quality.checks import checks_by_suite
from orchestration.defs.raw.assets import RAW_ASSETS
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests.conftest import TRADES_HEADER, write_gz
from tests.monitoring_receivers import receivers
from tests.test_live import NatsServer

REPO = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()
DAY = TODAY - dt.timedelta(days=2)  # due yesterday 02:00 UTC, whatever the hour the test runs at
TOKEN = "s3cretHookToken42"


@pytest.fixture
def alerting(tickwh_env: Path, monkeypatch: pytest.MonkeyPatch):
    with receivers() as (got, hook_url, smtp_url):
        monkeypatch.setenv("TICKWH_ALERT_WEBHOOK_URL", hook_url)
        monkeypatch.setenv("TICKWH_ALERT_SMTP_URL", smtp_url)
        monkeypatch.setenv("TICKWH_ALERT_EMAIL_TO", "ops@example.com")
        monkeypatch.setenv("TICKWH_UI_URL", "http://dagster.example:3000/")
        monkeypatch.setenv("TICKWH_BOOK_EXCHANGES", "none")  # trades-only days count as landed
        monkeypatch.setenv("TICKWH_LIVE", "0")
        yield got


def trades_lines(ids: list[int]) -> list[str]:
    base = int(dt.datetime.combine(DAY, dt.time(1), dt.UTC).timestamp() * 1e6)
    return [TRADES_HEADER] + [
        f"binance,BTCUSDT,{base + i * 1_000_000},{base + i * 1_000_000 + 5},{i},buy,42000.5,0.01" for i in ids
    ]


def tick(sensor, instance: DagsterInstance, cursor: str | None = None) -> str | None:
    """One sensor tick with the code location's resources as the daemon would build them from the
    test's environment (`defs` was built once, at import, from whichever environment came first)."""
    from orchestration.definitions import default_resources, defs

    ctx = build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=default_resources())
    result = sensor(ctx)
    return ctx.cursor if result is not None else cursor


def test_late_day_failed_run_and_failing_check_alert_once_then_recover(alerting, tickwh_env: Path, capsys) -> None:
    got = alerting
    home = tickwh_env
    landing = home / "landing"
    path = landing / f"binance_trades_{DAY}_BTCUSDT.csv.gz"
    instance = DagsterInstance.get()
    resources = {"warehouse": WarehouseResource.at(home), "landing": LandingZoneResource(root=str(landing))}
    check = checks_by_suite["raw_trades"]

    def run() -> bool:
        return materialize([*RAW_ASSETS, check], resources=resources, partition_key=DAY.isoformat(),
                           instance=instance, raise_on_error=False).success

    from tickwh import status

    # No landing file yet: the day is due but "not evaluated", never late; status is healthy.
    fcur = tick(freshness_sensor, instance)
    assert got.webhooks == [] and got.mails == []
    assert status.main(["--no-live"]) == 0
    assert "not_evaluated" in capsys.readouterr().out

    # 1. The files land, nobody loads them: the raw tables are late (one alert each; the marts wait
    #    on raw_trades, silently). Books, quotes, ticker and liquidations are optional here, so their day is
    #    the trades file's.
    write_gz(path, trades_lines([1, 2, 3]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # ... and the file is truncated: the load will fail
    for _ in range(3):
        fcur = tick(freshness_sensor, instance, fcur)
    late = got.hooks("FIRING", "late")
    assert sorted((h["asset"], h["day"]) for h in late) == [(f"raw_{d}", str(DAY)) for d in sorted(NAMES)]
    assert "http://dagster.example:3000/assets/raw_trades" in [h["url"] for h in late]
    assert f"[tickwh] FIRING late: raw_trades {DAY}" in got.subjects() and len(got.mails) == len(NAMES)
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("raw_trades"), "freshness")])[AssetCheckKey(AssetKey("raw_trades"), "freshness")]
    meta = evaluation.event.asset_check_evaluation
    assert not meta.passed and meta.metadata["dagster/overdue_seconds"].value > 0
    assert meta.metadata["late_days"].value == [str(DAY)]
    # `tickwh status` names the late day and exits non-zero.
    assert status.main(["--no-live"]) == 1
    out = capsys.readouterr().out
    assert f"raw_trades {DAY}: late" in out and "blocked" in out

    # 2. A run fails (truncated gzip), and its retry fails the same way: one alert for the job-day.
    assert not run()
    hcur = tick(health_alerts, instance)
    assert not run()
    hcur = tick(health_alerts, instance, hcur)
    failed = got.hooks("FIRING", "run_failed")
    assert len(failed) == 1 and failed[0]["day"] == str(DAY)
    assert failed[0]["summary"].startswith(f"raw_trades: trades for {DAY} failed: ")
    assert "Compressed file ended" in failed[0]["summary"] and failed[0]["url"].startswith("http://dagster.example:3000/runs/")

    # 3. An empty day loads but fails its blocking GE check: one check alert.
    write_gz(path, [TRADES_HEADER])
    assert not run()
    hcur = tick(health_alerts, instance, hcur)
    hcur = tick(health_alerts, instance, hcur)
    checks = got.hooks("FIRING", "check_failed")
    assert [(h["asset"], h["day"]) for h in checks] == [("raw_trades (ge_raw_trades)", str(DAY))]
    assert len(got.hooks("FIRING")) == len(NAMES) + 2 and len(got.mails) == len(NAMES) + 2

    # 4. A good file: the run succeeds, the check passes, the days are loaded: each alert recovers, once.
    write_gz(path, trades_lines([1, 2, 3]))
    assert run()
    for _ in range(2):
        hcur = tick(health_alerts, instance, hcur)
        fcur = tick(freshness_sensor, instance, fcur)
    resolved = sorted((h["kind"], h["day"]) for h in got.hooks("RESOLVED"))
    assert resolved == [("check_failed", str(DAY)), *[("late", str(DAY))] * len(NAMES), ("run_failed", str(DAY))]
    assert len(got.webhooks) == 2 * (len(NAMES) + 2) and len(got.mails) == 2 * (len(NAMES) + 2)
    assert all(m["To"] == "ops@example.com" for m in got.mails)
    # The webhook's token never shows in what was sent (its URL is a credential).
    assert all(TOKEN not in str(h) for h in got.webhooks) and got.paths[0].endswith(TOKEN)
    assert status.main(["--no-live"]) == 0  # marts are pending (30 min after raw), nothing late or failing


def test_killed_feed_alerts_once_and_recovers(alerting, tmp_path: Path, monkeypatch, real_trades_file: Path) -> None:
    got = alerting
    store = tmp_path / "js"
    store.mkdir()
    nats = NatsServer(store)
    nats.start()
    monkeypatch.setenv("TICKWH_NATS_URL", nats.url)
    monkeypatch.setenv("TICKWH_LIVE", "1")
    monkeypatch.setenv("TICKWH_FEED_STALL_S", "3")
    instance = DagsterInstance.get()

    def feed() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest.feed", "--file", str(real_trades_file), "--nats", nats.url,
             "--speed", "20", "--batch-ms", "50"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "feed.log", "a"),  # noqa: SIM115
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def published_recently() -> bool:
        from ingest.monitoring.live import read_feed

        age = read_feed(nats.url).age_s(dt.datetime.now(dt.UTC))
        return age is not None and age < 1.0

    def wait_for(pred, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < end, (tmp_path / "feed.log").read_text()[-2000:]
            time.sleep(0.2)

    proc = feed()
    try:
        wait_for(published_recently)
        cur = tick(health_alerts, instance)
        assert got.hooks("FIRING", "feed_stalled") == []
        proc.send_signal(signal.SIGKILL)  # a crash: no flush, no goodbye
        proc.wait(10)
        time.sleep(4)
        for _ in range(3):
            cur = tick(health_alerts, instance, cur)
        stalled = got.hooks("FIRING", "feed_stalled")
        assert len(stalled) == 1 and "no trade published" in stalled[0]["summary"]
        assert [s for s in got.subjects() if "feed stalled" in s] == [stalled and f"[tickwh] FIRING feed stalled: "
                                                                       f"live feed (TRADES) {stalled[0]['day']}"]
        proc = feed()  # restarted: resumes where the stream stopped
        wait_for(published_recently)
        for _ in range(2):
            cur = tick(health_alerts, instance, cur)
        assert [h["kind"] for h in got.hooks("RESOLVED")] == ["feed_stalled"]
        assert len(got.webhooks) == 2 and len(got.mails) == 2
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        nats.stop()


def test_undeliverable_alert_is_retried_not_lost_and_secrets_are_redacted(tmp_path: Path, caplog) -> None:
    """A receiver that is down: the incident stays "not yet sent" and goes out on the next update."""
    with receivers() as (got, hook_url, _):
        dead = Channels(webhook_url="http://127.0.0.1:9/hooks/T0/B0/" + TOKEN, timeout_s=1)
        Channels.from_settings(Settings.from_env({"TICKWH_ALERT_WEBHOOK_URL": dead.webhook_url}))  # registers
        store = IncidentStore(tmp_path / "incidents.sqlite")
        alert = Alert("late:raw_trades:2024-01-01", "late", "raw_trades", "2024-01-01", "not loaded", "http://ui")
        out = Alerter(dead, store).update([alert], set())
        assert out.failed == ["FIRING late:raw_trades:2024-01-01"] and out.sent == []
        assert TOKEN not in caplog.text and "alert late:raw_trades:2024-01-01 via webhook failed" in caplog.text
        live = Channels(webhook_url=hook_url)
        assert Alerter(live, store).update([alert], set()).sent == ["FIRING late:raw_trades:2024-01-01"]
        assert Alerter(live, store).update([alert], set()).sent == []  # open and announced: quiet
        assert Alerter(live, store).update([], {alert.key}).sent == ["RESOLVED late:raw_trades:2024-01-01"]
        assert len(got.webhooks) == 2


def test_freshness_verdicts_follow_the_promises() -> None:
    now = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
    raw, mart = fr.promise("raw_trades"), fr.promise("ohlcv_1m")
    day = dt.date(2026, 12, 5)
    assert fr.judge(raw, day, now, landed=True, updated_at=None).state == fr.LATE  # due 02:00
    assert fr.judge(raw, day, now, landed=False, updated_at=None).state == fr.NOT_EVALUATED
    assert fr.judge(raw, day, now - dt.timedelta(hours=2), landed=True, updated_at=None).state == fr.PENDING
    loaded = dt.datetime(2026, 12, 6, 2, 45, tzinfo=dt.UTC)
    assert fr.judge(mart, day, now, landed=True, updated_at=None, upstream_at=loaded).state == fr.PENDING  # 03:15
    late = fr.judge(mart, day, now + dt.timedelta(hours=1), landed=True, updated_at=None, upstream_at=loaded)
    assert late.state == fr.LATE and late.lateness_s == 45 * 60
    built_before_reload = loaded - dt.timedelta(minutes=1)
    assert fr.judge(mart, day, now + dt.timedelta(hours=1), landed=True, updated_at=built_before_reload,
                    upstream_at=loaded).state == fr.LATE
    assert fr.days_to_judge(raw, now, {dt.date(2026, 12, 1), dt.date(2026, 11, 1)}) == [
        dt.date(2026, 12, 1), dt.date(2026, 12, 5)]
    assert {p.asset for p in fr.promises()} >= {"raw_trades", "raw_book_snapshots", "ohlcv_1m", "daily_stats",
                                                 "hot_trades"}


def publish_sent_at(url: str, first_id: int, sent_at: dt.datetime, n: int = 2) -> None:
    """`n` one-trade batches on the TRADES stream, stamped as sent at `sent_at` (the header the feed
    handler writes): a backlog the hot tier has not loaded, planted as old as the test needs."""
    import asyncio
    from decimal import Decimal

    import pyarrow as pa

    from ingest.feed.canonical import TRADE_SCHEMA
    from ingest.feed.codec import ARROW, H_SENT_US, batch_headers, encode, subject_for
    from ingest.feed.stream import connect, ensure_stream

    async def run() -> None:
        nc = await connect(url)
        try:
            js = nc.jetstream()
            await ensure_stream(js)
            for i in range(first_id, first_id + n):
                ts = int(sent_at.timestamp() * 1e6)
                batch = pa.table({"exchange": ["binance"], "symbol": ["BTCUSDT"], "ts_us": [ts], "local_ts_us": [ts],
                                  "trade_id": [str(i)], "trade_seq": [None], "side": ["buy"],
                                  "price": [Decimal("42000.5")], "amount": [Decimal("0.01")]}).cast(TRADE_SCHEMA)
                headers = {**batch_headers(batch, ARROW), H_SENT_US: str(ts)}
                await js.publish(subject_for("binance", "BTCUSDT"), encode(batch), headers=headers)
        finally:
            await nc.close()

    asyncio.run(run())


def test_late_hot_tier_alerts_once_then_recovers_whoever_loads_it(
    alerting, tickwh_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A hot tier 10 minutes behind its stream (real nats-server, real chdb) is late: one alert, then one
    recovery once a hot_load run loads it; again behind, then the long-lived `tickwh hot-loader` catches up."""
    from ingest.hot import close_idle
    from orchestration.defs.live.jobs import hot_load
    from orchestration.defs.live.resources import HotTierResource, NatsResource

    got = alerting
    store = tmp_path / "js"
    store.mkdir()
    nats = NatsServer(store)
    nats.start()
    chdb = tmp_path / "chdb"
    monkeypatch.setenv("TICKWH_NATS_URL", nats.url)
    monkeypatch.setenv("TICKWH_CHDB_PATH", str(chdb))
    instance = DagsterInstance.get()
    hot_key = AssetCheckKey(AssetKey("hot_trades"), "freshness")

    def status_hot() -> tuple[dict, dict, list[str]]:
        """`tickwh status --json`'s hot row, live section and problems: the same judgement as the check."""
        import json

        from tickwh import status

        capsys.readouterr()
        status.main(["--json"])
        doc = json.loads(capsys.readouterr().out)
        return next(r for r in doc["rows"] if r["tier"] == "hot"), doc["live"], doc["problems"]

    def hot_evaluation():
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([hot_key]).get(hot_key)
        return record.event.asset_check_evaluation if record else None

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    loader = None
    try:
        publish_sent_at(nats.url, 1, old)
        # Live path off: the hot tier is not evaluated at all, however far behind it is.
        cur = tick(freshness_sensor, instance)
        assert hot_evaluation() is None and got.webhooks == []

        # 1. Live path on, the stream's two messages sent 10 min ago, none loaded: late, one alert.
        monkeypatch.setenv("TICKWH_LIVE", "1")
        for _ in range(3):
            cur = tick(freshness_sensor, instance, cur)
        late = got.hooks("FIRING", "late")
        assert [(h["asset"], h["url"]) for h in late] == [("hot_trades", "http://dagster.example:3000/assets/hot_trades")]
        assert "behind the stream (promise 120 s)" in late[0]["summary"]
        assert got.subjects() == [f"[tickwh] FIRING late: hot_trades {late[0]['day']}"]
        evaluation = hot_evaluation()
        assert not evaluation.passed and evaluation.metadata["state"].value == "late"
        assert 595 <= evaluation.metadata["lag_s"].value < 900
        assert 475 <= evaluation.metadata["dagster/overdue_seconds"].value < 780  # lag minus the 120 s promise
        assert evaluation.metadata["hot_tier_holds_seq"].value == 0
        row, live, problems = status_hot()
        assert row["freshness"] == "late" and any(p.startswith("late: hot_trades") for p in problems)

        # 2. A hot_load run (the Dagster path) loads both into chdb: fresh, one recovery.
        hot = HotTierResource(path=str(chdb), ttl_basis="ingest", live=True,
                              monitoring_dir=str(tickwh_env / "monitoring"))
        result = hot_load.execute_in_process(
            run_config={"ops": {"load_stream_range": {"config": {"first_seq": 1, "last_seq": 2}}}},
            resources={"nats": NatsResource(url=nats.url), "hot": hot}, instance=instance,
        )
        assert result.success
        close_idle()  # release chdb: the hot-loader below is another process
        for _ in range(2):
            cur = tick(freshness_sensor, instance, cur)
        assert [h["asset"] for h in got.hooks("RESOLVED")] == ["hot_trades"]
        evaluation = hot_evaluation()
        assert evaluation.passed and evaluation.metadata["lag_s"].value == 0.0
        assert evaluation.metadata["hot_tier_holds_seq"].value == 2  # read back from hot_trades in chdb
        assert evaluation.metadata["loaded_by"].value.startswith("hot_load run ")

        # 3. Behind again (a new episode: a second alert), and `tickwh hot-loader`, outside Dagster, catches up.
        publish_sent_at(nats.url, 3, old, n=1)
        cur = tick(freshness_sensor, instance, cur)
        assert len(got.hooks("FIRING", "late")) == 2 and hot_evaluation().metadata["stream_last_seq"].value == 3
        loader = subprocess.Popen([sys.executable, "-m", "tickwh.cli", "hot-loader", "--poll-s", "0.2"], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=open(tmp_path / "loader.log", "a"),  # noqa: SIM115
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
        end = time.monotonic() + 120
        while '"landed_seq": 3' not in ((tickwh_env / "monitoring" / "hot_position_TRADES.json").read_text()):
            assert loader.poll() is None and time.monotonic() < end, (tmp_path / "loader.log").read_text()[-2000:]
            time.sleep(0.2)
        for _ in range(2):
            cur = tick(freshness_sensor, instance, cur)
        assert len(got.hooks("RESOLVED")) == 2 and len(got.webhooks) == 4 and len(got.mails) == 4
        evaluation = hot_evaluation()
        assert evaluation.passed and evaluation.metadata["hot_tier_holds_seq"].value == 3
        assert evaluation.metadata["loaded_by"].value.startswith("tickwh hot-loader pid ")
        row, live, problems = status_hot()
        assert row["freshness"] == "fresh" and live["hot_lag_s"] == 0.0
        assert live["hot_loaded_by"].startswith("tickwh hot-loader pid ")
        assert not any("hot_trades" in p for p in problems)  # (the feed, silent for 10 min, is stalled)
    finally:
        if loader is not None and loader.poll() is None:
            loader.send_signal(signal.SIGTERM)
            loader.wait(30)
        close_idle()
        nats.stop()
