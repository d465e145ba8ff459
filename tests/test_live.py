"""The live path end to end with real servers: nats-server (JetStream) on loopback and embedded ClickHouse.

Nothing is mocked. A simulated day is replayed by the real feed handler process, the sensor is
evaluated in a loop against a real Dagster instance and its run requests are executed, and the
feed handler and the NATS server are both killed (SIGKILL) and restarted mid-stream. Then the
hot tier must hold every trade exactly once, and its live 1-minute bars must equal the bars
the warm pipeline (raw load + dbt) builds from the same vendor file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, materialize
from dagster._core.test_utils import instance_for_test

from ingest.feed import FeedConfig, FeedHandler, StreamSettings, decode, encode, parse_subject, subject_for
from ingest.feed.canonical import normalise
from ingest.feed.sequence import SequenceTracker
from ingest.feed.stream import StreamState, connect, ensure_stream, fetch_range, stream_state
from ingest.hot import (
    BAR_COLUMNS,
    HotSettings,
    HotTarget,
    close_idle,
    day_bars,
    insert_trades,
    load_range,
    open_hot_tier,
)
from ingest.hot.reconcile import WarmSide, reconcile, warm_bars, warm_window
from ingest.hot.tier import duckdb_double, to_hot_rows
from ingest.loader import load_day
from ingest.simulator import simulate_day
from orchestration.defs.live.checks import hot_tier_matches_warm
from orchestration.defs.live.jobs import hot_load
from orchestration.defs.live.resources import HotTierResource, NatsResource
from orchestration.defs.live.sensors import HotCursor, hot_range_requests, make_hot_load_sensor
from orchestration.defs.marts.assets import dbt_daily_marts
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.raw.assets import raw_book_snapshots, raw_trades
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

REPO = Path(__file__).resolve().parents[1]
NATS_SERVER = Path(sys.executable).parent / "nats-server"
DAY = dt.date(2024, 3, 1)
N_TRADES = 20_000
REPLAY_SECONDS = 8.0  # the simulated day is replayed this fast: speed = 86400 / REPLAY_SECONDS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A real `nats-server -js` on a loopback port; restartable on the same port and store."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / f"nats-{self.port}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(NATS_SERVER), "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start listening")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush beyond what the server already wrote."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    store = tmp_path / "jetstream"
    store.mkdir()
    server = NatsServer(store)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _release_chdb() -> Iterator[None]:
    """Each test opens chdb on its own directory; one path per process, so close it afterwards."""
    yield
    close_idle()


@pytest.fixture(scope="module")
def sim_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("landing")
    return simulate_day(DAY, landing, trades_per_day=N_TRADES, seed=11).trades_path


def stream_now(url: str) -> StreamState:
    async def read() -> StreamState:
        nc = await connect(url)
        try:
            return await stream_state(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(read())


def csv_trade_keys(path: Path) -> set[tuple[str, str, str]]:
    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"id": pa.string()}))
    return set(zip(t["exchange"].to_pylist(), t["symbol"].to_pylist(), t["id"].to_pylist(), strict=True))


def hot_trade_keys(client: Any) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in client.query("SELECT exchange, symbol, trade_id FROM hot_trades").result_rows]


class SensorDriver:
    """Evaluates the sensor like the daemon would and executes each run it requests, in process."""

    def __init__(self, instance: DagsterInstance, resources: dict[str, Any], max_msgs: int) -> None:
        self.sensor = make_hot_load_sensor(name="hot_load_sensor_test", max_msgs_per_run=max_msgs, max_runs_per_tick=3)
        self.instance = instance
        self.resources = resources
        self.cursor: str | None = None
        self.run_keys: list[str] = []
        self.ranges: list[tuple[int, int]] = []
        self.skips: list[str] = []

    def tick(self) -> int:
        ctx = build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        data = self.sensor.evaluate_tick(ctx)
        if data.skip_message:
            self.skips.append(data.skip_message)
        for request in data.run_requests or []:
            assert request.run_key not in self.run_keys, f"range requested twice: {request.run_key}"
            self.run_keys.append(request.run_key)
            cfg = request.run_config["ops"]["load_stream_range"]["config"]
            self.ranges.append((cfg["first_seq"], cfg["last_seq"]))
            result = hot_load.execute_in_process(
                run_config=request.run_config, instance=self.instance, resources=self.resources, tags=request.tags
            )
            assert result.success
        self.cursor = data.cursor if data.cursor is not None else self.cursor
        return len(data.run_requests or [])

    def catch_up(self, url: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.tick()
            if self.cursor and HotCursor.parse(self.cursor).landed >= stream_now(url).last_seq:
                return
        raise AssertionError("sensor did not catch up with the stream")


def start_feed(path: Path, url: str, log: Path, speed: float | str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.feed", "--file", str(path), "--nats", url, "--speed", str(speed),
         "--batch-trades", "200", "--batch-ms", "50"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=open(log, "a"),  # noqa: SIM115 - the child owns it
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def wait_replay_start(feed: subprocess.Popen[str]) -> float:
    line = feed.stdout.readline() if feed.stdout else ""
    assert line, "feed handler exited before starting its replay"
    assert json.loads(line)["event"] == "replay_start"
    return time.monotonic()


def tick_for(driver: SensorDriver, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        driver.tick()
        time.sleep(0.3)


# ------------------------------------------------------------------------------------------ tests


def test_live_path_is_exactly_once_through_crashes_and_bars_equal_dbt(
    tmp_path: Path, tickwh_env: Path, sim_day: Path, nats_server: NatsServer
) -> None:
    hot = HotTierResource(path=str(tmp_path / "chdb"), ttl_basis="ingest", live=True)
    nats = NatsResource(url=nats_server.url, timeout_s=1.0)
    resources = {"nats": nats, "hot": hot}
    feed_log = tmp_path / "feed.log"
    with instance_for_test() as instance:
        driver = SensorDriver(instance, resources, max_msgs=150)

        # 1. The feed handler publishes; the sensor loads what has arrived; the handler dies mid-day.
        speed = 86_400 / REPLAY_SECONDS
        feed = start_feed(sim_day, nats_server.url, feed_log, speed)
        wait_replay_start(feed)
        # The kill comes on time whatever a tick costs (a tick runs hot_load in process, seconds on a busy
        # machine): the handler must be cut at about 30% of the day, or the restart below has too little left.
        killer = threading.Timer(REPLAY_SECONDS * 0.3, feed.send_signal, [signal.SIGKILL])
        killer.start()
        tick_for(driver, REPLAY_SECONDS * 0.3)
        killer.join()
        feed.wait(10)
        killed_at = stream_now(nats_server.url).last_seq
        assert killed_at > 0, "nothing was published before the kill"

        # 2. Restarted, it resumes after what the stream holds; then the server dies and comes back.
        feed = start_feed(sim_day, nats_server.url, feed_log, speed)
        wait_replay_start(feed)
        # No tick here: a tick runs hot_load in process (seconds on a busy machine), and the server must die
        # while the handler still publishes (CI saw the handler finish during one slow tick).
        time.sleep(REPLAY_SECONDS * 0.05)
        assert feed.poll() is None, "the handler finished before the server died: the outage would test nothing"
        nats_server.kill()
        assert driver.tick() == 0 and "not reachable" in driver.skips[-1]
        time.sleep(1.0)
        nats_server.start()
        out, _ = feed.communicate(timeout=90)
        assert feed.returncode == 0, feed_log.read_text()[-3000:]
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["event"] == "done"
        assert stats["resumed_skipped"] > 0  # the restart skipped what was already stored
        assert stats["duplicates"] == 0 and stats["gaps"] == 0 and not stats["rejected"]
        # It really was publishing when the server died (acks pending across the outage are
        # either answered after the reconnect or retried under the same message id).
        assert "disconnected" in feed_log.read_text() and "reconnected" in feed_log.read_text()
        assert killed_at < stream_now(nats_server.url).last_seq  # and the first kill was mid-stream
        driver.catch_up(nats_server.url)

        # 3. Every trade of the file exactly once.
        expected = csv_trade_keys(sim_day)
        assert len(expected) == N_TRADES
        with hot.open() as client:
            keys = hot_trade_keys(client)
            assert len(keys) == N_TRADES
            assert set(keys) == expected
            assert client.query("SELECT sum(trade_count) FROM hot_ohlcv_1m_bars").result_rows[0][0] == N_TRADES
        # The ranges requested tile the stream: no gaps, no overlaps, each run key once.
        assert [r[0] for r in driver.ranges] == [1] + [r[1] + 1 for r in driver.ranges[:-1]]
        assert driver.ranges[-1][1] == stream_now(nats_server.url).last_seq
        assert len(driver.ranges) >= 3

        # 4. Re-executing a range (a retried or doubted run) changes nothing.
        first, last = driver.ranges[len(driver.ranges) // 2]
        config = {"ops": {"load_stream_range": {"config": {"first_seq": first, "last_seq": last}}}}
        assert hot_load.execute_in_process(run_config=config, instance=instance, resources=resources).success
        with hot.open() as client:
            assert len(hot_trade_keys(client)) == N_TRADES
            assert client.query("SELECT sum(trade_count) FROM hot_ohlcv_1m_bars").result_rows[0][0] == N_TRADES

    # 5. The warm pipeline on the same vendor file; the end-of-day check runs in the same run.
    landing = tickwh_env / "landing"
    landing.mkdir()
    (landing / sim_day.name).symlink_to(sim_day)
    snapshots = next(sim_day.parent.glob(f"*_book_snapshot_*_{DAY}_*.csv.gz"))
    (landing / snapshots.name).symlink_to(snapshots)
    warm_resources = {
        "warehouse": WarehouseResource.at(tickwh_env),
        "landing": LandingZoneResource(root=str(landing)),
        "dbt": dbt_resource(),
        "hot": hot,
    }
    result = materialize(
        [raw_trades, raw_book_snapshots, dbt_daily_marts, hot_tier_matches_warm],
        resources=warm_resources,
        partition_key=DAY.isoformat(),
    )
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "hot_tier_matches_warm"]
    assert check.passed, check.description
    assert check.metadata["minutes_different"].value == 0
    assert check.metadata["trades_hot"].value == N_TRADES

    with lakes.connect(tickwh_env, read_only=True) as con:
        dbt_bars = con.execute(
            f"SELECT {', '.join(BAR_COLUMNS)} FROM marts.ohlcv_1m WHERE bar_date = ? ORDER BY ALL", [DAY]
        ).fetchall()
    with hot.open() as client:
        live_bars = day_bars(client, DAY)
    assert len(dbt_bars) > 1000
    assert live_bars == [tuple(r) for r in dbt_bars]  # exactly, vwap included

    # 6. A trade the warm side never saw makes the check warn (and say where).
    with hot.open() as client:
        extra = pa.table(
            {
                "exchange": ["simex"], "symbol": ["BTCUSDT"], "ts_us": pa.array([1709251200_000000 + 60_000_000]),
                "local_ts_us": pa.array([1709251200_000001 + 60_000_000]), "trade_id": ["1"],
                "trade_seq": pa.array([1], pa.int64()), "side": ["buy"],
                "price": pa.array([Decimal("1.5")], pa.decimal128(22, 12)),
                "amount": pa.array([Decimal("2")], pa.decimal128(28, 12)),
            }
        )
        insert_trades(client, to_hot_rows(extra), token="test-extra-trade")
    # (A checks-only selection cannot take a partition key in Dagster 1.13; reloading the raw day is cheap.)
    result = materialize([raw_trades, hot_tier_matches_warm], resources=warm_resources, partition_key=DAY.isoformat())
    assert result.success  # WARN severity: the run still succeeds
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["minutes_different"].value == 1
    assert check.metadata["differences"].value[0]["minute"] == "2024-03-01 00:01:00"


def test_feed_checks_ids_normalises_and_publishes_batches(tmp_path: Path, nats_server: NatsServer) -> None:
    rows = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        "binance-futures,BTCUSDT,1582329602111000,1582329602418379,100,buy,9682,0.132",
        "binance-futures,BTCUSDT,1582329602116000,1582329602418420,101,SELL,9682.5,0.4",
        "binance-futures,BTCUSDT,1582329602116000,1582329602418420,101,sell,9682.5,0.4",  # duplicate id
        "binance-futures,BTCUSDT,1582329603000000,1582329603000100,105,buy,9683,1",  # gap: 102-104
        "binance-futures,BTC.PERP,1582329603000000,1582329603000100,abc-1,buy,9683,1",  # non-integer id, '.' symbol
        "binance-futures,BTCUSDT,1582329603100000,1582329603100100,106,buy,-1,1",  # non-positive price
        "binance-futures,BTCUSDT,1582329603200000,1582329603200100,107,sideways,1,1",  # invalid side
        "binance-futures,BTCUSDT,1582329603300000,1582329603300100,108,buy,0.123456785,1.5",  # 9 decimals, kept
        "Binance,BTCUSDT,1582329603400000,1582329603400100,109,buy,1,1",  # invalid exchange name
    ]
    path = tmp_path / "binance-futures_trades_2020-02-22_BTCUSDT.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    handler = FeedHandler(FeedConfig(nats_url=nats_server.url, speed=None, batch_max_trades=2, encoding="json"))
    stats = asyncio.run(handler.run(path))
    assert stats.rejected == {"non_positive_price": 1, "invalid_side": 1, "invalid_name": 1}
    assert stats.duplicates == 1 and stats.gaps == 1 and stats.missing_ids == 3
    # Rejected rows still count in the id sequence: 106 and 107 are no gap.
    assert stats.trades_published == 5 and stats.messages_published == 3  # BTCUSDT 2+2, BTC.PERP 1

    async def read_all() -> list[tuple[str, dict[str, str], pa.Table]]:
        nc = await connect(nats_server.url)
        try:
            js = nc.jetstream()
            state = await stream_state(js)
            return [(m.subject, m.headers or {}, decode(m.data, m.headers))
                    async for m in fetch_range(js, "TRADES", 1, state.last_seq)]
        finally:
            await nc.close()

    messages = asyncio.run(read_all())
    assert {s for s, _, _ in messages} == {"trades.binance-futures.BTCUSDT", "trades.binance-futures.BTC_PERP"}
    assert parse_subject("trades.binance-futures.BTC_PERP") == ("binance-futures", "BTC.PERP")
    ids = [tid for _, _, t in messages for tid in t["trade_id"].to_pylist()]
    assert sorted(ids) == ["100", "101", "105", "108", "abc-1"]
    by_id = {r["trade_id"]: r for _, _, t in messages for r in t.to_pylist()}
    assert by_id["101"]["side"] == "sell" and by_id["101"]["price"] == Decimal("9682.5")
    assert by_id["108"]["price"] == Decimal("0.123456785")  # never rounded (docs/contracts.md)
    assert by_id["abc-1"]["trade_seq"] is None and by_id["105"]["trade_seq"] == 105
    first_headers = next(h for s, h, _ in messages if s.endswith("BTCUSDT"))
    assert first_headers["Nats-Msg-Id"] == "binance-futures/BTCUSDT/100-101"

    # Replaying the same file again publishes nothing: every subject resumes after its last trade.
    again = asyncio.run(FeedHandler(FeedConfig(nats_url=nats_server.url, speed=None, batch_max_trades=2)).run(path))
    # (the duplicate 101 is among the 6 rows skipped)
    assert again.trades_published == 0 and again.resumed_skipped == 6 and again.duplicates == 0
    # Without resume, the deterministic message ids make the server drop the doubles.
    blind = asyncio.run(
        FeedHandler(FeedConfig(nats_url=nats_server.url, speed=None, batch_max_trades=2, resume=False)).run(path)
    )
    assert blind.trades_published == 0 and blind.trades_already_stored == 5
    assert stream_now(nats_server.url).messages == 3


def test_real_binance_file_live_bars_equal_warm_bars(
    tmp_path: Path, nats_server: NatsServer, real_trades_file: Path
) -> None:
    """Real Tardis data through the live path: the bars equal the warm loader's, minute by minute."""
    stats = asyncio.run(FeedHandler(FeedConfig(nats_url=nats_server.url, speed=None)).run(real_trades_file))
    assert stats.trades_published == 9_999 and stats.gaps == 0 and stats.duplicates == 0
    state = stream_now(nats_server.url)
    target = HotTarget(path=str(tmp_path / "chdb"))
    with open_hot_tier(target, HotSettings(ttl_basis="ingest")) as client:
        loaded = load_range(client, 1, state.last_seq, url=nats_server.url)
        assert loaded.trades == 9_999 and loaded.missing == 0
        hot_bars = day_bars(client, dt.date(2020, 2, 22))
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / real_trades_file.name).symlink_to(real_trades_file)
    with lakes.connect(tmp_path) as con:
        load_day(con, landing, dt.date(2020, 2, 22), "trades")
        warm = warm_bars(con, dt.date(2020, 2, 22))
        since = dt.datetime(2020, 2, 22, 1, 0)
        sides = warm_window(con, [dt.date(2020, 2, 21), dt.date(2020, 2, 22)], since)
    assert len(warm) == 126  # 00:00..02:05, the last one cut off in the file but the same on both sides
    for h, w in zip(hot_bars, warm, strict=True):
        assert h == w, [(c, a, b) for c, a, b in zip(BAR_COLUMNS, h, w, strict=True) if a != b]
    assert reconcile(dt.date(2020, 2, 22), warm, hot_bars).ok
    # With a horizon at 01:00 the window query fetches only the judged minutes' bars and sums the
    # rest; the reconciliation is the same as from every bar. The hot side lost a minute before
    # the horizon (not judged) and one after, and a third minute's close differs.
    day = dt.date(2020, 2, 22)
    assert sides[dt.date(2020, 2, 21)] == WarmSide() and len(sides[day].bars) == 66
    close = BAR_COLUMNS.index("close")
    hot = [b for i, b in enumerate(hot_bars) if i not in (30, 90)]
    hot[100] = hot[100][:close] + (hot[100][close] + 1,) + hot[100][close + 1:]
    full, split = reconcile(day, warm, hot, since), reconcile(day, sides[day], hot, since)
    assert split == full
    assert (full.minutes_compared, full.minutes_different, len(full.only_warm)) == (65, 1, 1)
    assert full.outside_window_warm_trades == sum(b[BAR_COLUMNS.index("trade_count")] for b in warm[:60]) > 0


def test_hot_tier_inserts_are_idempotent_and_settings_apply(tmp_path: Path) -> None:
    target = HotTarget(path=str(tmp_path / "chdb"))
    minute = (int(time.time()) // 60 - 5) * 60_000_000  # recent: event-time TTL must not expire it
    trades = pa.table(
        {
            "exchange": ["x"] * 3, "symbol": ["S"] * 3, "ts_us": pa.array([minute, minute, minute + 1_000_000]),
            "local_ts_us": pa.array([None, None, None], pa.int64()), "trade_id": ["b", "a", "c"],
            "trade_seq": pa.array([None, None, None], pa.int64()), "side": ["buy", "sell", "unknown"],
            "price": pa.array([Decimal("3"), Decimal("2"), Decimal("5")], pa.decimal128(22, 12)),
            "amount": pa.array([Decimal("1"), Decimal("1"), Decimal("0.5")], pa.decimal128(28, 12)),
        }
    )
    with open_hot_tier(target, HotSettings(ttl_hours=24, ttl_basis="event")) as client:
        engine = client.command("SELECT engine_full FROM system.tables WHERE name = 'hot_trades'")
        assert "TTL toDateTime(ts) + toIntervalHour(24)" in engine
        for _ in range(3):
            insert_trades(client, to_hot_rows(trades), token="same-range")
        insert_trades(client, to_hot_rows(trades.slice(2)), token="other-range")
        bars = client.query("SELECT trade_count, open, close, buy_volume, sell_volume FROM hot_ohlcv_1m_bars")
        assert client.query("SELECT count() FROM hot_trades").result_rows == [(4,)]
    # Ties on ts resolve by (ts, 0, trade_id): 'a' opens; without integer ids order_seq is 0.
    assert bars.result_rows == [(4, Decimal("2"), Decimal("5"), Decimal("1"), Decimal("1"))]
    with open_hot_tier(target, HotSettings(ttl_hours=48, ttl_basis="ingest", dedup_window=500)) as client:
        engine = client.command("SELECT engine_full FROM system.tables WHERE name = 'hot_trades'")
        assert "TTL toDateTime(ingested_at) + toIntervalHour(48)" in engine
        assert "non_replicated_deduplication_window = 500" in engine
    with open_hot_tier(target, HotSettings(ttl_hours=0, ttl_basis="ingest", dedup_window=500)) as client:
        engine = client.command("SELECT engine_full FROM system.tables WHERE name = 'hot_ohlcv_1m'")
        assert " TTL " not in engine


def test_sensor_ranges_and_skips_without_nats() -> None:
    state = StreamState(first_seq=1, last_seq=250, messages=250, bytes=0)
    assert hot_range_requests(0, state, 100, 5) == ([(1, 100), (101, 200), (201, 250)], 250)
    assert hot_range_requests(250, state, 100, 5) == ([], 250)
    assert hot_range_requests(0, state, 100, 2) == ([(1, 100), (101, 200)], 200)
    # Sequences that expired before they were requested are skipped, not requested forever.
    expired = StreamState(first_seq=180, last_seq=250, messages=71, bytes=0)
    assert hot_range_requests(100, expired, 100, 5) == ([(180, 250)], 250)

    sensor = make_hot_load_sensor(name="hot_load_sensor_down")
    with instance_for_test() as instance:
        down = NatsResource(url=f"nats://127.0.0.1:{free_port()}", timeout_s=0.5)
        ctx = build_sensor_context(instance=instance, cursor="42", resources={"nats": down})
        result = sensor(ctx)
    assert isinstance(result, SkipReason) and "not reachable" in (result.skip_message or "")


def test_codecs_round_trip_and_subjects() -> None:
    raw = pa.table(
        {
            "exchange": ["bitmex"] * 2, "symbol": ["XBTUSD"] * 2, "timestamp": ["1", "2"],
            "local_timestamp": ["3", None], "id": ["6f1c-uuid", "7"], "side": ["Buy", "sell"],
            "price": ["1.00000001", "2"], "amount": ["5", "0.5"],
        }
    )
    canonical, rejected = normalise(raw)
    assert not rejected and canonical["src_row"].to_pylist() == [0, 1]
    assert canonical["rejected"].to_pylist() == [False, False]
    canonical = canonical.drop_columns(["rejected"])
    for encoding in ("arrow", "json"):
        back = decode(encode(canonical, encoding), {"Tw-Format": encoding})
        assert back.to_pylist() == canonical.drop_columns(["src_row"]).to_pylist()
    assert subject_for("bitmex", "XBT.USD") == "trades.bitmex.XBT_USD"
    with pytest.raises(ValueError):
        subject_for("BitMEX", "XBTUSD")
    tracker = SequenceTracker()
    keep = tracker.check(("x", "s"), np.array([5, 6, 6, 9, 3, 10]), np.ones(6, dtype=bool))
    assert keep.tolist() == [True, True, False, True, False, True]
    assert (tracker.stats(("x", "s")).gaps, tracker.stats(("x", "s")).missing) == (1, 2)


def test_stream_is_created_and_updated_idempotently(nats_server: NatsServer) -> None:
    async def go() -> tuple[float, float, float]:
        nc = await connect(nats_server.url)
        try:
            js = nc.jetstream()
            first = await ensure_stream(js, StreamSettings(max_age_s=3600, duplicate_window_s=60))
            again = await ensure_stream(js, StreamSettings(max_age_s=3600, duplicate_window_s=60))
            updated = await ensure_stream(js, StreamSettings(max_age_s=7200, duplicate_window_s=120))
            assert first.config.subjects == ["trades.>"] and again.config.storage == first.config.storage
            return first.config.max_age, again.config.max_age, updated.config.duplicate_window
        finally:
            await nc.close()

    assert asyncio.run(go()) == (3600, 3600, 120)


def test_vwap_double_conversion_matches_duckdb_bit_for_bit(tmp_path: Path) -> None:
    """The hot view turns decimal sums into doubles exactly the way DuckDB (dbt) does."""
    rng = random.Random(5)
    cases = {8: ["57.81500000"], 16: ["559243.4154300000000000", "663.8164400000000000"], 12: [], 20: []}
    for scale in (8, 12, 16, 20):
        for _ in range(300):  # unscaled values below and above 2^53
            cases[scale].append(str(Decimal(rng.randrange(1, 10 ** rng.randint(3, 26))).scaleb(-scale)))
    with open_hot_tier(HotTarget(path=str(tmp_path / "chdb"))) as client, duckdb.connect() as con:
        for scale, texts in cases.items():
            sql = ", ".join(duckdb_double(f"toDecimal128('{t}', {scale})", scale) for t in texts)
            ours = list(client.query(f"SELECT {sql}").result_rows[0])
            theirs = [con.execute(f"SELECT '{t}'::DECIMAL(38, {scale})::DOUBLE").fetchone()[0] for t in texts]
            assert ours == theirs
