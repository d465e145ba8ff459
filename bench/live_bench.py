"""Live path benchmark: feed handler -> JetStream -> ClickHouse hot tier, with real servers on loopback.

`python -m bench.live_bench [--trades 1000000] [--poll-s 1,0.5] [--freshness-s 20]`

* Throughput: a simulated day (1M trades, 20 symbols) replayed at speed "max" by the real feed
  handler process (`python -m ingest.feed`) into a nats-server started here, while this process
  loads new stream ranges with the exact code the `hot_load` job runs (`ingest.hot.load_range`,
  ranges sliced like the sensor slices them). Figure: trades / (time from starting the feed
  process to the last trade being queryable in `hot_trades`), against the 1M trades/s
  target. The feed and the loader run as two processes on the machine's cores, as they would
  in production.
* Freshness: a 20-second slice of the same day replayed at 1x; the loader polls the stream
  every `--poll-s` seconds (`tickwh hot-loader` polls every 0.5 s; the sensor's minimum interval is 5 s),
  against a p95 of 1 s. For every trade, event time
  (the instant the replay clock released it) to queryable (the insert containing it returned).
  Dagster's own per-run cost is measured separately (one in-process `hot_load` run); a daemon
  launching each run in a new process adds that process's start-up on top.

Everything runs in a scratch folder under `$TICKWH_HOME/bench` that is removed afterwards; the
simulated day is cached there (shared with the other benches).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.common import Workload, bench_home, ensure_workload, scratch
from ingest.feed.stream import StreamState, connect, stream_state
from ingest.hot import HotSettings, HotTarget, close_idle, load_range, open_hot_tier
from ingest.landing import trades_file_name

TARGET = 1_000_000  # trades/s the live path is meant to sustain (issue 26; 200k before it)
FRESHNESS_P95_S = 1.0  # issue 26, with a long-lived loader
NATS_SERVER = Path(sys.executable).parent / "nats-server"
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nats_server(store: Path) -> Iterator[str]:
    """A real JetStream server on a free loopback port, stopped on exit."""
    port = _free_port()
    store.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(NATS_SERVER), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("nats-server did not start") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _state(url: str) -> StreamState | None:
    async def read() -> StreamState | None:
        nc = await connect(url)
        try:
            return await stream_state(nc.jetstream())
        except Exception:
            return None  # the feed handler has not created the stream yet
        finally:
            await nc.close()

    return asyncio.run(read())


def child_env() -> dict[str, str]:
    """Environment of the feed process: bytecode cached outside the venv, as a deployed service has it.

    This sandbox sets PYTHONDONTWRITEBYTECODE=1, so every start would recompile numpy, pyarrow
    and pandas from source (about 1.5 s, all start-up). The cache goes under the bench home,
    never into the venv.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(bench_home() / "pycache")
    env["PYTHONPATH"] = str(REPO)
    return env


def warm_bytecode_cache() -> None:
    subprocess.run([sys.executable, "-c", "import ingest.feed.__main__, pandas"], cwd=REPO, env=child_env(),
                   check=True)


def start_feed(path: Path, url: str, speed: str, log: Path, batch_trades: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.feed", "--file", str(path), "--nats", url, "--speed", speed,
         "--batch-trades", str(batch_trades), "--log-level", "WARNING"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=open(log, "a"),  # noqa: SIM115 - the child owns it
        text=True,
        env=child_env(),
    )


@dataclass
class Loader:
    """The sensor's slicing plus the job's load, in a loop: what the orchestrator does, minus Dagster."""

    client: object
    url: str
    range_msgs: int
    cursor: int = 0
    trades: int = 0
    busy_s: float = 0.0
    loads: list[tuple[int, int, float]] = field(default_factory=list)  # (first, last, queryable at)

    def poll(self) -> int:
        from orchestration.defs.live.sensors import hot_range_requests

        state = _state(self.url)
        if state is None:
            return 0
        ranges, self.cursor = hot_range_requests(self.cursor, state, self.range_msgs, 1_000)
        loaded = 0
        for first, last in ranges:
            t0 = time.perf_counter()
            result = load_range(self.client, first, last, url=self.url)  # type: ignore[arg-type]
            self.busy_s += time.perf_counter() - t0
            self.loads.append((first, last, time.time()))
            loaded += result.trades
        self.trades += loaded
        return loaded


@dataclass
class _LivePath:
    url: str
    client: Any
    loader: Loader
    feed: subprocess.Popen[str]
    started: float  # perf_counter before the feed process started
    replay_start: dict[str, Any]  # the feed's first line


@contextmanager
def _live_path(feed_file: Path, work: Path, nats_dir: str, speed: str, args: argparse.Namespace) -> Iterator[_LivePath]:
    """A fresh NATS server, an emptied hot tier, its loader, and a feed replaying `feed_file` that has begun."""
    with nats_server(work / nats_dir) as url, open_hot_tier(
        HotTarget(path=str(work / "chdb")), HotSettings(ttl_basis="ingest")
    ) as client:
        client.command("TRUNCATE TABLE hot_trades")
        client.command("TRUNCATE TABLE hot_ohlcv_1m")
        loader = Loader(client, url, args.range_msgs)
        started = time.perf_counter()
        feed = start_feed(feed_file, url, speed, work / "feed.log", args.batch_trades)
        line = feed.stdout.readline() if feed.stdout else ""
        if not line:
            raise RuntimeError(f"feed handler failed: {(work / 'feed.log').read_text()[-2000:]}")
        yield _LivePath(url, client, loader, feed, started, json.loads(line))


def bench_throughput(day_file: Path, n_trades: int, work: Path, rep: int, args: argparse.Namespace) -> dict[str, float]:
    with _live_path(day_file, work, f"js-throughput-{rep}", "max", args) as live:
        replay_started = time.perf_counter()
        url, client, loader, feed, started = live.url, live.client, live.loader, live.feed, live.started
        while loader.trades < n_trades:
            if not loader.poll():
                if feed.poll() is not None and loader.trades < n_trades and _state(url).last_seq <= loader.cursor:
                    raise RuntimeError(f"feed ended but only {loader.trades} of {n_trades} trades were loaded")
                time.sleep(0.05)
        done = time.perf_counter()
        out, _ = feed.communicate(timeout=60)
        feed_stats = json.loads(out.strip().splitlines()[-1])
        stored = client.query("SELECT count() FROM hot_trades").result_rows[0][0]
        assert stored == n_trades, f"hot tier holds {stored} trades, expected {n_trades}"
        state = _state(url)
    return {
        "trades": n_trades,
        "messages": state.messages if state else 0,
        "end_to_end_s": done - started,
        "from_replay_start_s": done - replay_started,
        "feed_s": float(feed_stats["seconds"]),
        "loader_busy_s": loader.busy_s,
        "loads": len(loader.loads),
    }


def write_slice(day_file: Path, out: Path, start_s: int, seconds: float) -> int:
    """The day's trades in [start_s, start_s + seconds) of the day, as a Tardis CSV."""
    t = pacsv.read_csv(day_file, convert_options=pacsv.ConvertOptions(column_types={"id": pa.string(),
                       "price": pa.string(), "amount": pa.string()}))
    day0 = t["timestamp"][0].as_py() // 86_400_000_000 * 86_400_000_000
    lo = day0 + start_s * 1_000_000
    hi = lo + int(seconds * 1_000_000)
    ts = t["timestamp"]
    part = t.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
    with open(out, "wb") as fh:  # Arrow quotes header names even with quoting_style="none"
        fh.write((",".join(part.column_names) + "\n").encode())
        pacsv.write_csv(part, fh, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return part.num_rows


def bench_freshness(day_file: Path, work: Path, poll_s: float, args: argparse.Namespace) -> dict[str, float]:
    slice_file = work / f"slice_{poll_s:g}.csv"
    n = write_slice(day_file, slice_file, 12 * 3600, args.freshness_s)
    with _live_path(slice_file, work, f"js-fresh-{poll_s:g}", "1", args) as live:
        url, client, loader, feed, origin = live.url, live.client, live.loader, live.feed, live.replay_start
        latencies: list[float] = []
        seen = 0
        while loader.trades < n:
            next_poll = time.monotonic() + poll_s
            before = len(loader.loads)
            loader.poll()
            for first, last, queryable in loader.loads[before:]:
                rows = client.query(
                    "SELECT toUnixTimestamp64Micro(ts) FROM hot_trades "
                    "WHERE stream_seq BETWEEN {a:UInt64} AND {b:UInt64}",
                    parameters={"a": first, "b": last},
                ).result_rows
                for (ts_us,) in rows:
                    released = (origin["wall_us"] + (ts_us - origin["ts_us"])) / 1e6  # speed 1
                    latencies.append(queryable - released)
                seen += len(rows)
            if feed.poll() is not None and _state(url).last_seq <= loader.cursor and loader.trades < n:
                break
            time.sleep(max(0.0, next_poll - time.monotonic()))
        feed.communicate(timeout=60)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "poll_s": poll_s,
        "trades": seen,
        "p50_s": q[49],
        "p95_s": q[94],
        "max_s": latencies[-1] if latencies else float("nan"),
        "mean_load_s": loader.busy_s / max(1, len(loader.loads)),
    }


def dagster_overhead(work: Path, day_file: Path) -> float:
    """Seconds one in-process `hot_load` run costs beyond the load itself (a one-message range)."""
    from dagster import DagsterInstance

    from orchestration.defs.live.jobs import hot_load
    from orchestration.defs.live.resources import HotTierResource, NatsResource

    with nats_server(work / "js-dagster") as url:
        tiny = work / "tiny.csv"
        write_slice(day_file, tiny, 12 * 3600, 1)
        subprocess.run(
            [sys.executable, "-m", "ingest.feed", "--file", str(tiny), "--nats", url, "--speed", "max",
             "--log-level", "WARNING"],
            cwd=REPO, check=True, capture_output=True, env=child_env(),
        )
        resources = {"nats": NatsResource(url=url), "hot": HotTierResource(path=str(work / "chdb"), ttl_basis="ingest")}
        config = {"ops": {"load_stream_range": {"config": {"first_seq": 1, "last_seq": 1}}}}
        instance = DagsterInstance.ephemeral()
        hot_load.execute_in_process(run_config=config, instance=instance, resources=resources)  # warm-up
        with open_hot_tier(HotTarget(path=str(work / "chdb")), HotSettings(ttl_basis="ingest")) as client:
            t0 = time.perf_counter()
            load_range(client, 1, 1, url=url)
            bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert hot_load.execute_in_process(run_config=config, instance=instance, resources=resources).success
        return time.perf_counter() - t0 - bare


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.live_bench", description=__doc__.splitlines()[0])
    p.add_argument("--trades", type=int, default=1_000_000, help="trades in the simulated day")
    p.add_argument("--batch-trades", type=int, default=1000, help="feed handler: most trades per message")
    p.add_argument("--range-msgs", type=int, default=20_000, help="loader: most messages per range (as the sensor)")
    p.add_argument("--freshness-s", type=float, default=20.0, help="length of the 1x replay")
    p.add_argument("--poll-s", default="1,0.5", help="loader poll intervals to measure freshness at")
    p.add_argument("--reps", type=int, default=3, help="throughput runs (median reported)")
    args = p.parse_args(argv)

    workload = Workload(args.trades)
    landing = ensure_workload(workload)
    day_file = landing / trades_file_name("simex", workload.start)
    print(f"live bench: {workload.describe()}; {os.cpu_count()} cores", flush=True)
    warm_bytecode_cache()
    with scratch("live-") as work:
        runs = []
        for rep in range(args.reps):
            tp = bench_throughput(day_file, args.trades, work, rep, args)
            runs.append(tp)
            print(
                f"  run {rep + 1}: {tp['end_to_end_s']:.2f} s feed start -> all queryable "
                f"({tp['from_replay_start_s']:.2f} s from the first trade read); feed handler "
                f"{tp['feed_s']:.2f} s; loader busy {tp['loader_busy_s']:.2f} s in {tp['loads']} loads",
                flush=True,
            )
        tp = sorted(runs, key=lambda r: r["end_to_end_s"])[len(runs) // 2]
        rate = tp["trades"] / tp["end_to_end_s"]
        best = max(r["trades"] / r["end_to_end_s"] for r in runs)
        print(
            f"throughput  {tp['trades']:,} trades in {tp['messages']:,} messages, median of {len(runs)}: "
            f"{tp['end_to_end_s']:.2f} s from starting the feed process to the last trade queryable "
            f"-> {rate:,.0f} trades/s = {rate / TARGET:.2f}x the {TARGET:,} target (best run {best:,.0f}/s; "
            f"{tp['trades'] / tp['from_replay_start_s']:,.0f}/s from the first trade read)",
            flush=True,
        )
        print(
            f"            in that run: feed handler {tp['trades'] / tp['feed_s']:,.0f}/s, "
            f"loader {tp['trades'] / tp['loader_busy_s']:,.0f}/s while busy (both sharing the cores)",
            flush=True,
        )
        for poll in [float(x) for x in args.poll_s.split(",") if x]:
            fr = bench_freshness(day_file, work, poll, args)
            print(
                f"freshness   1x replay of {args.freshness_s:g} s, loader polling every {poll:g} s: "
                f"{fr['trades']} trades, event->queryable p50 {fr['p50_s']:.2f} s, p95 {fr['p95_s']:.2f} s, "
                f"max {fr['max_s']:.2f} s (one load {fr['mean_load_s'] * 1000:.0f} ms); target p95 <= "
                f"{FRESHNESS_P95_S:g} s: {'met' if fr['p95_s'] <= FRESHNESS_P95_S else 'missed'}",
                flush=True,
            )
        close_idle()
        overhead = dagster_overhead(work, day_file)
        print(f"dagster     one hot_load run in process adds {overhead:.2f} s to a load "
              "(a daemon-launched run also pays a new process's start-up)", flush=True)
        close_idle()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
