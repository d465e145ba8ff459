"""Cold tier benchmark: archive throughput and warm-vs-cold read latency of the historical API.

`python -m bench.cold_bench [--trades 1000000] [--reps 7]`

* Archive: one simulated day (1M trades by default, book snapshots every second) loaded into a
  fresh warm warehouse (an embedded DuckLake: SQLite catalog + Parquet files), then archived to
  a real S3 server (SeaweedFS started here on loopback) table by table: export with zstd,
  upload, verify, publish the manifest. Re-run
  `--archive-reps` times (each run replaces the last, as a re-archive does); median rows/s.
* Latency: `HistoricalData.get_trades` / `get_book_snapshots` for one symbol-day from warm,
  from cold (download + sha256 verification every call, the default), and from cold with a
  verified local cache. Median of `--reps` calls after one warm-up call.

The landing files are cached under `$TICKWH_HOME/bench/cold` so a re-run skips simulation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ingest import lake
from ingest.cold.archive import archive_table
from ingest.cold.config import ColdStoreConfig, default_var_dir
from ingest.cold.layout import RAW_BOOK_SNAPSHOTS, RAW_TRADES, new_run_id
from ingest.cold.seaweed import SeaweedServer
from ingest.history import HistoricalData
from ingest.loader import load_day
from ingest.simulator import simulate_day

DAY = dt.date(2024, 1, 1)
SYMBOL = "BTCUSDT"


def _median_seconds(fn: Callable[[], object], reps: int, warmup: int = 1) -> tuple[float, object]:
    result: object = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000, help="trades in the day")
    parser.add_argument("--snapshot-interval-ms", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7, help="repetitions per latency figure")
    parser.add_argument("--archive-reps", type=int, default=3, help="archive runs (median)")
    args = parser.parse_args(argv)

    landing = default_var_dir() / "bench" / "cold" / f"t{args.trades}_i{args.snapshot_interval_ms}"
    if not any(landing.glob(f"*_trades_{DAY}_*.csv.gz")):
        t = time.perf_counter()
        simulate_day(DAY, landing, trades_per_day=args.trades, snapshot_interval_ms=args.snapshot_interval_ms)
        print(f"simulated {DAY} into {landing} in {time.perf_counter() - t:.1f} s")

    with tempfile.TemporaryDirectory(prefix="tickwh-cold-bench-") as tmp_name:
        tmp = Path(tmp_name)
        warehouse = lake.LakeConfig.embedded(tmp)  # <tmp>/lake/
        t = time.perf_counter()
        with lake.connect(warehouse) as con:
            for dataset in ("trades", "book_snapshots"):
                load_day(con, landing, DAY, dataset)
            n_trades = con.execute("SELECT count(*) FROM raw.trades").fetchone()[0]  # type: ignore[index]
            n_book = con.execute("SELECT count(*) FROM raw.book_snapshots").fetchone()[0]  # type: ignore[index]
        print(f"warm load: {n_trades:,} trades, {n_book:,} book snapshots in {time.perf_counter() - t:.1f} s")

        key, secret = "bench" + secrets.token_hex(4), secrets.token_urlsafe(24)
        t = time.perf_counter()
        server = SeaweedServer(tmp / "seaweed", access_key=key, secret_key=secret).start()
        print(f"SeaweedFS S3 at {server.endpoint_url}, ready in {time.perf_counter() - t:.1f} s")
        try:
            config = ColdStoreConfig(endpoint_url=server.endpoint_url, bucket="bench", prefix="warehouse",
                                     access_key_id=key, secret_access_key=secret)
            tier = config.open()
            tier.store.ensure_ready()
            work = tmp / "work"
            work.mkdir()

            archive: dict[str, list[float]] = {RAW_TRADES.name: [], RAW_BOOK_SNAPSHOTS.name: []}
            sizes: dict[str, int] = {}
            rows: dict[str, int] = {}
            with lake.connect(warehouse, read_only=True) as con:
                for _ in range(args.archive_reps):
                    run_id = new_run_id()
                    for table in (RAW_TRADES, RAW_BOOK_SNAPSHOTS):
                        t = time.perf_counter()
                        result = archive_table(con, tier, table, DAY, run_id=run_id, work_dir=work)
                        archive[table.name].append(time.perf_counter() - t)
                        sizes[table.name], rows[table.name] = result.bytes, result.rows

            warm_api = HistoricalData(warehouse, None)
            cold_api = HistoricalData(None, tier)
            cached_api = HistoricalData(None, tier, cache_dir=tmp / "cache")
            end = DAY + dt.timedelta(days=1)
            latency: dict[str, dict[str, float]] = {}
            symbol_rows: dict[str, int] = {}
            calls: dict[str, Callable[[HistoricalData], object]] = {
                "trades": lambda api: api.get_trades(SYMBOL, DAY, end),
                "book_snapshots": lambda api: api.get_book_snapshots(SYMBOL, DAY, end),
            }
            for name, call in calls.items():
                latency[name] = {}
                reference = None
                for tier_name, api in (("warm", warm_api), ("cold", cold_api), ("cold+cache", cached_api)):
                    seconds, table = _median_seconds(lambda api=api, call=call: call(api), args.reps)
                    latency[name][tier_name] = seconds
                    if reference is None:
                        reference = table
                    elif not table.equals(reference):  # type: ignore[attr-defined]
                        raise SystemExit(f"{name}: {tier_name} rows differ from warm rows")
                symbol_rows[name] = reference.num_rows  # type: ignore[attr-defined]
        finally:
            server.stop(timeout=1.0)

    print()
    print(f"Archive of one day to S3 (SeaweedFS, loopback), median of {args.archive_reps} runs:")
    print(f"  {'table':<20} {'rows':>11} {'parquet MB':>11} {'seconds':>8} {'rows/s':>12}")
    total_rows = total_s = 0.0
    for name, times in archive.items():
        med = statistics.median(times)
        total_rows += rows[name]
        total_s += med
        print(f"  {name:<20} {rows[name]:>11,} {sizes[name] / 1e6:>11.1f} {med:>8.2f} {rows[name] / med:>12,.0f}")
    print(f"  {'both':<20} {int(total_rows):>11,} {'':>11} {total_s:>8.2f} {total_rows / total_s:>12,.0f}")
    print()
    print(f"API latency for {SYMBOL} on {DAY} (one symbol-day), median of {args.reps} calls:")
    print(f"  {'call':<16} {'rows':>9} {'warm ms':>9} {'cold ms':>9} {'cached ms':>10} {'cold/warm':>10} "
          f"{'cached/warm':>12}")
    for name, lat in latency.items():
        warm, cold, cached = lat["warm"], lat["cold"], lat["cold+cache"]
        print(f"  {name:<16} {symbol_rows[name]:>9,} {warm * 1e3:>9.1f} {cold * 1e3:>9.1f} {cached * 1e3:>10.1f} "
              f"{cold / warm:>9.1f}x {cached / warm:>11.1f}x")
    print()
    print("cold = HEAD + download of the whole day's object + sha256 + DuckDB read_parquet, every call;")
    print("cached = HEAD + sha256 of the cached file + read_parquet. Machine: "
          f"{os.cpu_count()} cores.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
