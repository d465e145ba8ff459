"""Row 7 of the fault matrix: the hot tier holds each trade exactly once, whatever ranges are loaded,
after its loader is killed mid-insert, and when a range's run fails and the sensor asks again.

Real nats-server (JetStream) fed by the real feed handler process; real embedded ClickHouse
(chdb) on disk; the killed loader is a real subprocess (SIGKILL); the failing run fails because
another real process holds the chdb directory.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import RetryPolicy, build_sensor_context, job
from dagster._core.test_utils import instance_for_test

from ingest.hot import HotSettings, HotTarget, close_idle, load_range, open_hot_tier
from ingest.simulator import simulate_day
from orchestration.defs.live.jobs import load_stream_range
from orchestration.defs.live.resources import HotTierResource, NatsResource
from orchestration.defs.live.sensors import HotCursor, make_hot_load_sensor
from tests.test_live import NatsServer, csv_trade_keys, start_feed, stream_now

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2024, 3, 1)
N_TRADES = 30_000


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, set[tuple[str, str, str]]]]:
    """(NATS URL, last sequence, expected trade keys): one simulated day published by the real feed handler."""
    base = tmp_path_factory.mktemp("hot_faults")
    trades = simulate_day(DAY, base / "landing", trades_per_day=N_TRADES, seed=13).trades_path
    (base / "jetstream").mkdir()
    server = NatsServer(base / "jetstream")
    server.start()
    try:
        feed = start_feed(trades, server.url, base / "feed.log", "max")
        out, _ = feed.communicate(timeout=120)
        assert feed.returncode == 0, (base / "feed.log").read_text()[-2000:]
        assert json.loads(out.strip().splitlines()[-1])["event"] == "done"
        expected = csv_trade_keys(trades)
        assert len(expected) == N_TRADES
        yield server.url, stream_now(server.url).last_seq, expected
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _release_chdb() -> Iterator[None]:
    yield
    close_idle()


def _hot_state(path: Path) -> tuple[list[tuple[str, str, str]], int]:
    """(trade keys, sum of bar trade counts) of the hot tier at `path`."""
    with open_hot_tier(HotTarget(path=str(path)), HotSettings(ttl_basis="ingest")) as client:
        keys = [tuple(r) for r in client.query("SELECT exchange, symbol, trade_id FROM hot_trades").result_rows]
        bars = client.query("SELECT sum(trade_count) FROM hot_ohlcv_1m_bars").result_rows[0][0]
    close_idle()
    return keys, int(bars or 0)


def _assert_exactly_once(path: Path, expected: set[tuple[str, str, str]]) -> None:
    keys, bar_trades = _hot_state(path)
    assert len(keys) == len(set(keys)) == N_TRADES  # nothing doubled
    assert set(keys) == expected  # nothing lost
    assert bar_trades == N_TRADES  # the live bars counted each trade once too


def test_overlapping_and_manual_ranges_insert_each_trade_once(
    tmp_path: Path, stream: tuple[str, int, set[tuple[str, str, str]]]
) -> None:
    url, last, expected = stream
    assert last > 100
    ranges = [(1, 40), (30, 90), (85, 100), (1, last), (last - 7, last), (55, 56)]
    target = HotTarget(path=str(tmp_path / "chdb"))
    loaded: list[tuple[int, int]] = []
    with open_hot_tier(target, HotSettings(ttl_basis="ingest")) as client:
        for first, end in ranges:
            result = load_range(client, first, end, url=url, part_msgs=16)  # blocks of 16 never match the ranges
            loaded.append((result.trades, result.already_present))
            count = client.query("SELECT count(), uniqExact(exchange, symbol, trade_id) FROM hot_trades").result_rows
            assert count[0][0] == count[0][1]  # after every range: no trade twice
    # New trades go in once; everything a range overlapped was found already present.
    assert sum(t for t, _ in loaded) == N_TRADES
    assert loaded[0][1] == 0 and loaded[1][1] > 0 and loaded[4] == (0, loaded[4][1]) and loaded[5][0] == 0
    assert loaded[3][1] == sum(t for t, _ in loaded[:3])  # the full manual range re-found all of the first three
    close_idle()
    _assert_exactly_once(tmp_path / "chdb", expected)


def test_loader_killed_mid_insert_then_restarted_inserts_each_trade_once(
    tmp_path: Path, stream: tuple[str, int, set[tuple[str, str, str]]]
) -> None:
    url, last, expected = stream
    for attempt in range(3):  # the kill races the insert: proven to land inside it below, else tried again
        chdb = tmp_path / f"chdb{attempt}"
        cmd = [sys.executable, "-m", "tests.faults.hot_child", str(chdb), url, "1", str(last), "40"]
        child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        lines: list[str] = []
        while sum(line.startswith("insert ") for line in lines) < 2:
            line = child.stdout.readline()
            assert line, f"loader exited early: {child.stderr.read()[-2000:] if child.stderr else ''}"
            lines.append(line.strip())
        child.send_signal(signal.SIGKILL)  # the second insert has been handed to the engine
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        lines += child.stdout.read().splitlines()
        # Inside the insert: the second `insert` line has no `inserted` after it (the engine never returned).
        if lines[-1].startswith("insert "):
            break
    else:
        pytest.fail(f"the kill never landed inside an insert in 3 tries: {lines}")
    announced = [int(line.split()[1]) for line in lines if line.startswith("insert ")]
    assert len(announced) == 2 and lines.count(f"inserted {announced[0]}") == 1
    landed, _ = _hot_state(chdb)  # what the killed process left: whole inserts only, the first one at least
    assert len(landed) in (announced[0], announced[0] + announced[1]) and len(landed) < N_TRADES, (
        len(landed), announced)

    restarted = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    result = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert result["already_present"] == len(landed) and result["trades"] == N_TRADES - len(landed)
    _assert_exactly_once(chdb, expected)


@job(description="hot_load without step retries, so a failing range fails its run at once")
def hot_load_no_retry() -> None:
    load_stream_range.with_retry_policy(RetryPolicy(max_retries=0))()


def test_failed_range_is_requested_again_and_cursor_marks_only_landed(
    tmp_path: Path, stream: tuple[str, int, set[tuple[str, str, str]]]
) -> None:
    url, last, expected = stream
    chdb = tmp_path / "chdb"
    hot = HotTierResource(path=str(chdb), ttl_basis="ingest", open_timeout_s=1.0)
    resources: dict[str, Any] = {"nats": NatsResource(url=url, timeout_s=2.0), "hot": hot}
    sensor = make_hot_load_sensor(name="hot_load_sensor_faults", max_msgs_per_run=last // 3, max_runs_per_tick=3)
    holder: subprocess.Popen[str] | None = None
    with instance_for_test() as instance:
        cursor: str | None = None

        def tick() -> list[Any]:
            nonlocal cursor
            data = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
            cursor = data.cursor if data.cursor is not None else cursor
            return list(data.run_requests or [])

        def execute(request: Any) -> bool:
            result = hot_load_no_retry.execute_in_process(
                run_config=request.run_config, instance=instance, resources=resources, tags=request.tags,
                raise_on_error=False,
            )
            close_idle()
            return result.success

        first_tick = tick()
        assert [r.run_key for r in first_tick][:1] == [f"hot-1-{last // 3}"] and len(first_tick) == 3
        assert execute(first_tick[0])
        # The hot tier becomes unavailable: a real process holds the chdb directory.
        holder = subprocess.Popen(
            [sys.executable, "-c", "import time\nfrom ingest.hot import HotTarget, hot_client\n"
             f"with hot_client(HotTarget(path={str(chdb)!r})):\n    print('held', flush=True); time.sleep(300)"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        try:
            assert [execute(r) for r in first_tick[1:]] == [False, False]
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
        landed_first = int(first_tick[0].tags["tickwh/seq_range"].split("-")[1])

        second_tick = tick()
        state = HotCursor.parse(cursor)
        # The failed ranges are asked for again under new run keys; the cursor's landed mark stays
        # behind them, after the one range that succeeded.
        retried = [r for r in second_tick if "-retry" in r.run_key]
        assert sorted(r.run_key for r in retried) == sorted(f"{r.run_key}-retry1" for r in first_tick[1:])
        assert state.landed == landed_first < state.requested
        assert all(execute(r) for r in second_tick)

        while tick_requests := tick():
            assert all(execute(r) for r in tick_requests)
        state = HotCursor.parse(cursor)
        assert state.landed == state.requested == last and state.pending == []
    _assert_exactly_once(chdb, expected)
