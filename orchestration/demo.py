"""`make demo`: simulate a few days, run the daily pipeline over them as one run, build the docs, summarise."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from decimal import Decimal
from pathlib import Path

import duckdb

from ingest import lake
from ingest.names import parse_day
from orchestration.settings import default_landing_root

log = logging.getLogger("demo")

SUMMARY_TABLES = [
    "raw.trades",
    "raw.book_snapshots",
    "raw.quarantine",
    "marts.ohlcv_1m",
    "marts.ohlcv_5m",
    "marts.ohlcv_15m",
    "marts.ohlcv_1h",
    "marts.ohlcv_1d",
    "marts.daily_stats",
    "marts.rollup_weekly",
    "marts.rollup_monthly",
    "marts.market_daily_summary",
]


def run_pipeline(first: dt.date, last: dt.date) -> None:
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.partitions import range_tags

    instance = DagsterInstance.get()
    # Dagster's console logger already prints each event; keep it to INFO so the demo stays readable.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    tags = range_tags(first, last)
    daily = defs.resolve_job_def("daily_pipeline")
    log.info("daily_pipeline for %s..%s as one run", first, last)
    result = daily.execute_in_process(instance=instance, tags=tags, run_config=quiet)
    log.info("daily_pipeline run %s: %s", result.run_id, "success" if result.success else "FAILED")
    # The sensors that chain these after the daily run need the daemon; the demo runs them directly.
    for name, run_tags in (("rollups", {}), ("archive", tags)):
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, tags=run_tags, run_config=quiet)
        log.info("%s run %s: %s", name, result.run_id, "success" if result.success else "FAILED")


def summary(config: lake.LakeConfig) -> str:
    lines = [f"warehouse: {config.describe()}", ""]
    with lake.connect(config, read_only=True) as con:
        lines[1] = f"  snapshot {lake.current_snapshot(con)} (pin it: tickwh history ... --as-of <snapshot>)"
        lines.append("")
        width = max(len(t) for t in SUMMARY_TABLES)
        for table in SUMMARY_TABLES:
            try:
                n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except duckdb.Error:
                n = "missing"
            lines.append(f"  {table:<{width}}  {n:>12}")
        lines.append("")
        lines.append("  daily_stats (close, trades, realized vol, mean spread bps):")
        for row in con.execute(
            """SELECT bar_date, symbol, close, trade_count, round(realized_vol, 5), round(mean_spread_bps, 2)
            FROM marts.daily_stats ORDER BY bar_date, symbol LIMIT 12"""
        ).fetchall():
            lines.append("    " + "  ".join(str(v) for v in row))
        lines.append("")
        lines.append("  wide-range instruments, first day's 1d bars (open, high, low, close, volume, quote volume):")
        for row in con.execute(
            """SELECT symbol, open, high, low, close, volume, quote_volume FROM marts.ohlcv_1d
            WHERE exchange = 'simdex' AND bar_date = (SELECT min(bar_date) FROM marts.ohlcv_1d) ORDER BY symbol"""
        ).fetchall():
            lines.append("    " + "  ".join(format(v, "f") if isinstance(v, Decimal) else str(v) for v in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2024-01-01", help="first day (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--trades-per-day", type=int, default=200_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("dagster").propagate = False

    from ingest.simulator import simulate_days, wide_range_symbols

    start = parse_day(args.start)
    last = start + dt.timedelta(days=args.days - 1)
    landing = Path(default_landing_root())
    t0 = time.perf_counter()
    simulate_days(start, args.days, landing, trades_per_day=args.trades_per_day)
    # A second venue with the instruments at the numeric contract's edges (docs/contracts.md).
    simulate_days(start, args.days, landing, symbols=wide_range_symbols(), exchange="simdex",
                  trades_per_day=max(1, args.trades_per_day // 10), snapshot_interval_ms=60_000)
    log.info("simulated %d days into %s in %.1fs", args.days, landing, time.perf_counter() - t0)

    run_pipeline(start, last)

    from orchestration.docs import build_dbt_docs

    docs_index = build_dbt_docs()
    print()
    print("=" * 72)
    print(summary(lake.LakeConfig.from_env()))
    print()
    from orchestration.settings import default_cold_config

    cold = default_cold_config()
    where = cold.endpoint_url and f"s3://{cold.bucket}/{cold.prefix} at {cold.endpoint_url}" or cold.local_root
    print(f"landing files : {landing}")
    print(f"cold tier     : {where}")
    print(f"dbt docs      : {docs_index}   (make docs-serve)")
    print("Dagster UI    : make ui  -> http://127.0.0.1:3000 (runs of this demo are in its history)")
    print("=" * 72)


if __name__ == "__main__":
    main()
