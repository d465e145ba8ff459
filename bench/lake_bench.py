"""Read latency on the DuckLake against the single DuckDB file it replaced, quiet and during a backfill.

`python -m bench --only lake` (or `python -m bench.lake_bench [--trades N --days D --reads R]`).

Both stores hold the same rows (the lake is built by the loader and dbt; the single file is a copy
of its tables). A read is what a researcher does through the history API: one symbol-day of 1m
bars, or one symbol-hour of trades. On the single file each read opens the file read-only, the way
the history API did before the lake; on the lake it goes through `HistoricalData`.

During a backfill a separate process reloads the days in a loop (raw loads, then `dbt build` on
the lake; raw loads on the single file): the lake's readers keep their latency, the single file's
readers fail with DuckDB's lock error, counted as failed reads.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.common import Report, Row, Workload, bench_home, ensure_workload, render_table
from ingest import lake
from ingest.history import HistoricalData
from ingest.loader import load_day
from ingest.settings import DBT_PROJECT_DIR, dbt_executable

SYMBOL = "BTCUSDT"
BAR_SQL = ("SELECT * FROM marts.ohlcv_1m WHERE symbol = ? AND bucket_start >= ? AND bucket_start < ? "
           "ORDER BY bucket_start, exchange")
TRADES_SQL = ("SELECT * FROM raw.trades WHERE symbol = ? AND ts >= ? AND ts < ? "
              "ORDER BY ts, exchange, trade_seq, trade_id")


def build(work: Path, workload: Workload, log) -> tuple[lake.LakeConfig, Path, list[dt.date]]:
    landing = ensure_workload(workload, log)
    days = [workload.start + dt.timedelta(days=i) for i in range(workload.days)]
    config = lake.LakeConfig.embedded(work)
    single = work / "warehouse.duckdb"
    if single.exists() and config.exists():
        return config, single, days
    log(f"   building the lake and the single file from {workload.describe()}")
    with lake.connect(config) as con:
        for day in days:
            for dataset in ("trades", "book_snapshots"):
                load_day(con, landing, day, dataset)
    subprocess.run([dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                    str(DBT_PROJECT_DIR)], check=True, cwd=DBT_PROJECT_DIR, env={**os.environ, **config.env()})
    with lake.connect(config) as con:
        con.execute(f"ATTACH {lake.sql_literal(str(single))} AS single")
        for table in ("raw.trades", "raw.book_snapshots", "raw.quarantine", "marts.ohlcv_1m"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS single.{table.split('.')[0]}")
            con.execute(f"CREATE TABLE single.{table} AS SELECT * FROM lake.{table}")
        con.execute("DETACH single")
    return config, single, days


def _single_read(path: Path, sql: str, params: list) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return len(con.execute(sql, params).fetchall())


def reads(config: lake.LakeConfig, single: Path, day: dt.date, n: int, writer: subprocess.Popen | None = None,
          stores: tuple[str, ...] = ("lake", "single")) -> dict[str, tuple[list[float], int]]:
    """Latency samples (s) and failed-read counts per (store, query); stops early when a writer ends."""
    hour = dt.datetime.combine(day, dt.time(12))
    day_start = dt.datetime.combine(day, dt.time())
    bars_args = [SYMBOL, day_start, day_start + dt.timedelta(days=1)]
    trades_args = [SYMBOL, hour, hour + dt.timedelta(hours=1)]
    api = HistoricalData(config)
    out: dict[str, tuple[list[float], int]] = {}
    samples: dict[str, list[float]] = {k: [] for k in ("lake bars", "lake trades", "single bars", "single trades")}
    failed = dict.fromkeys(samples, 0)
    calls = {
        "lake bars": lambda: api.get_ohlcv(SYMBOL, "1m", day, day + dt.timedelta(days=1)).num_rows,
        "lake trades": lambda: api.get_trades(SYMBOL, trades_args[1], trades_args[2]).num_rows,
        "single bars": lambda: _single_read(single, BAR_SQL, bars_args),
        "single trades": lambda: _single_read(single, TRADES_SQL, trades_args),
    }
    calls = {k: v for k, v in calls.items() if k.split()[0] in stores}
    for call in calls.values():  # opening the store (extensions, catalog) once, outside the samples
        with contextlib.suppress(Exception):
            call()
    for _ in range(n):
        if writer is not None and writer.poll() is not None:
            break
        for name, call in calls.items():
            t0 = time.perf_counter()
            try:
                call()
                samples[name].append(time.perf_counter() - t0)
            except Exception:  # a failed read is the figure here, whatever its type
                failed[name] += 1
    api.close()
    for name in samples:
        out[name] = (samples[name], failed[name])
    return out


def writer_loop(work: Path, landing: Path, days: list[dt.date], seconds: float, store: str) -> None:
    """The backfill beside the readers: reload the days again and again for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if store == "lake":
            config = lake.LakeConfig.embedded(work)
            with lake.connect(config) as con:
                for day in days:
                    for dataset in ("trades", "book_snapshots"):
                        load_day(con, landing, day, dataset)
            subprocess.run([dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                            "--profiles-dir", str(DBT_PROJECT_DIR)], check=True, cwd=DBT_PROJECT_DIR,
                           env={**os.environ, **config.env()})
        else:
            # The loader of the single file waits for the readers' locks to clear, as a retrying
            # scheduler would; its failed attempts are printed for the report.
            try:
                with duckdb.connect(str(work / "warehouse.duckdb")) as con:
                    for day in days:
                        load_day(con, landing, day, "trades")
            except duckdb.IOException:
                print("writer: lock held by a reader", flush=True)
                time.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_lake(workload: Workload, n_reads: int, backfill_s: float, report: Report, log) -> None:
    work = bench_home() / "lake" / workload.name
    work.mkdir(parents=True, exist_ok=True)
    config, single, days = build(work, workload, log)
    read_day = days[0]
    quiet = reads(config, single, read_day, n_reads)
    landing = ensure_workload(workload, log)
    during: dict[str, dict[str, tuple[list[float], int]]] = {}
    for store in ("lake", "single"):
        writer = subprocess.Popen([sys.executable, "-m", "bench.lake_bench", "writer", str(work), str(landing),
                                   ",".join(d.isoformat() for d in days), str(backfill_s), store])
        time.sleep(2.0)  # let the writer start loading
        during[store] = reads(config, single, read_day, 10**6, writer, stores=(store,))
        writer.wait()
    for query in ("bars", "trades"):
        what = "1m bars, one symbol-day" if query == "bars" else "trades, one symbol-hour"
        lake_s, _ = quiet[f"lake {query}"]
        single_s, _ = quiet[f"single {query}"]
        for q, label in ((0.5, "p50"), (0.95, "p95")):
            report.add(Row("lake reads", f"{what}, {label}, quiet", pct(lake_s, q), reference="single DuckDB file",
                           ref_value=pct(single_s, q), samples=lake_s, ref_samples=single_s))
        lake_d, lake_failed = during["lake"][f"lake {query}"]
        single_d, single_failed = during["single"][f"single {query}"]
        for q, label in ((0.5, "p50"), (0.95, "p95")):
            report.add(Row("lake reads", f"{what}, {label}, during a backfill", pct(lake_d, q),
                           reference="single file during its load", ref_value=pct(single_d, q) if single_d else None,
                           target="0 failed reads", ok=lake_failed == 0, samples=lake_d, ref_samples=single_d))
        report.detail(f"during a backfill, {what}: lake {len(lake_d)} reads, {lake_failed} failed; single file "
                      f"{len(single_d)} reads, {single_failed} failed (lock held by the loading process)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "writer":
        work, landing, days, seconds, store = argv[1:6]
        writer_loop(Path(work), Path(landing), [dt.date.fromisoformat(d) for d in days.split(",")],
                    float(seconds), store)
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.lake_bench", description=__doc__.split("\n")[0])
    p.add_argument("--trades", type=int, default=1_000_000, help="trades per day")
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--reads", type=int, default=30, help="quiet reads per query and store")
    p.add_argument("--backfill-seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    report = Report()
    bench_lake(Workload(args.trades, days=args.days, snapshot_interval_ms=10_000), args.reads,
               args.backfill_seconds, report, lambda m: print(m, flush=True))
    print(render_table(report.rows))
    for d in report.details:
        print(f"- {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

