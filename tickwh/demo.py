"""`make demo`: simulate a few days, run the daily pipeline over them as one run, build the docs, summarise."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import duckdb

from ingest import args as rules
from ingest import lake
from ingest.args import Parser
from ingest.datasets import DATASETS
from ingest.logs import heartbeat, setup_logging
from ingest.settings import Settings
from ingest.sql import qualified

log = logging.getLogger("demo")

RAW_TABLES = [*(d.table for d in DATASETS), "raw.quarantine"]


STATS_SHOWN = 12


def run_pipeline(first: dt.date, last: dt.date) -> None:
    with heartbeat(log, "loading the code location (Dagster, dbt manifest)"):
        from orchestration.lib.logs import console_run_config
        from orchestration.lib.partitions import range_tags
        from tickwh.home import instance, prepare_code_location

        defs = prepare_code_location()
    dagster = instance()
    quiet = console_run_config()
    tags = range_tags(first, last)
    # The sensors that chain rollups and archive after the daily run need the daemon; the demo runs them directly.
    for name, run_tags in (("daily_pipeline", tags), ("rollups", {}), ("archive", tags)):
        log.info("%s for %s as one run", name, f"{first}..{last}" if run_tags else "all days")
        with heartbeat(log, f"running {name}"):
            result = defs.resolve_job_def(name).execute_in_process(instance=dagster, tags=run_tags, run_config=quiet)
        log.info("%s run %s: %s", name, result.run_id, "success" if result.success else "FAILED")


def summary(config: lake.LakeConfig) -> tuple[str, str | None]:
    """The summary text, and the symbol with the most trades (for the commands it suggests)."""
    from orchestration.defs.marts.project import marts

    tables = RAW_TABLES + [f"marts.{name}" for name in marts()]
    lines = [f"warehouse: {config.describe()}", ""]
    with lake.connect(config, read_only=True) as con:
        lines[1] = f"  snapshot {lake.current_snapshot(con)} (pin it: tickwh history ... --as-of <snapshot>)"
        lines.append("")
        width = max(len(t) for t in tables)
        for table in tables:
            try:
                n = con.execute(f"SELECT count(*) FROM {qualified(*table.split('.'))}").fetchone()[0]
            except duckdb.Error:
                n = "missing"
            lines.append(f"  {table:<{width}}  {n:>12}")
        total = con.execute("SELECT count(*) FROM marts.daily_stats").fetchone()[0]
        top = con.execute("SELECT symbol FROM marts.daily_stats GROUP BY symbol ORDER BY sum(trade_count) DESC "
                          "LIMIT 1").fetchone()
        lines.append("")
        shown = min(total, STATS_SHOWN)
        lines.append(f"  daily_stats, {shown} of {total} rows (close, trades, realized vol and mean spread bps, "
                     "rounded to 5 and 2 decimals):")
        for row in con.execute(
            """SELECT bar_date, symbol, close, trade_count, round(realized_vol, 5), round(mean_spread_bps, 2)
            FROM marts.daily_stats ORDER BY bar_date, symbol LIMIT ?""",
            [STATS_SHOWN],
        ).fetchall():
            lines.append("    " + "  ".join(_text(v) for v in row))
        if total > shown:
            lines.append(f"    ... {total - shown} more: tickwh history daily-stats <SYMBOL>")
        lines.append("")
        lines.append("  derivatives, last day (funding events and summed rate, open interest at close, liquidations "
                     "buy/sell and their notional):")
        for row in con.execute(
            """SELECT bar_date, exchange, symbol, funding_event_count, funding_rate_sum, open_interest_close,
                      buy_liquidation_count, sell_liquidation_count,
                      buy_liquidation_notional + sell_liquidation_notional
            FROM marts.daily_stats WHERE funding_event_count > 0
              AND bar_date = (SELECT max(bar_date) FROM marts.daily_stats) ORDER BY exchange, symbol LIMIT ?""",
            [STATS_SHOWN],
        ).fetchall():
            lines.append("    " + "  ".join(_text(v) for v in row))
        lines.append("")
        lines.append("  wide-range instruments, first day's 1d bars (open, high, low, close, volume, quote volume):")
        for row in con.execute(
            """SELECT symbol, open, high, low, close, volume, quote_volume FROM marts.ohlcv_1d
            WHERE exchange = 'simdex' AND bar_date = (SELECT min(bar_date) FROM marts.ohlcv_1d) ORDER BY symbol"""
        ).fetchall():
            lines.append("    " + "  ".join(_text(v) for v in row))
    return "\n".join(lines), top[0] if top else None


def _text(value: object) -> str:
    """Numbers as every command prints them (ingest/numbers.py: shortest exact decimal), the rest as str."""
    from ingest.numbers import number_text

    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        return number_text(value)
    return str(value)


def cold_lines(settings: Settings, first: dt.date, last: dt.date, symbol: str) -> list[str]:
    """Where the archive went, and the exact command that reads it back after the demo."""
    from ingest.cold.config import ColdStoreConfig
    from ingest.cold.seaweed import read_state, state_dir

    cold = ColdStoreConfig.from_settings(settings)
    read = f"tickwh history ohlcv {symbol} --start {first} --end {last + dt.timedelta(days=1)} --no-warm"
    if cold.endpoint_url and (read_state(state_dir()) or {}).get("endpoint_url") == cold.endpoint_url:
        # `seaweed run` stops the server it started when the demo ends; its data stays in var/seaweed.
        where = f"s3://{cold.bucket}/{cold.prefix} on SeaweedFS over {state_dir()} (server stopped after the demo)"
        read = f"tickwh cold run -- {read}"
    else:
        where = cold.describe()
    return [f"cold tier     : {where}", f"  read it     : {read}"]


def main(argv: list[str] | None = None) -> int:
    from ingest import simulator

    parser = Parser(prog="tickwh demo", description=__doc__)
    parser.add_argument("--start", type=rules.arg(simulator.START), default=dt.date(2024, 1, 1),
                        help="first day (YYYY-MM-DD)")
    parser.add_argument("--days", type=rules.arg(simulator.DAYS), default=3, help="how many days (1 to 366)")
    parser.add_argument("--trades-per-day", type=rules.arg(simulator.TRADES_PER_DAY), default=200_000)
    parser.add_argument("--snapshot-interval-ms", type=rules.arg(simulator.SNAPSHOT_INTERVAL_MS), default=1000,
                        help="book snapshot cadence")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show third-party INFO logs")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    start = args.start
    last = start + dt.timedelta(days=args.days - 1)
    # Refused before anything runs: a day the pipeline has no partition for would fail its run midway.
    first_partition = dt.date.fromisoformat(settings.partitions_start)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if start < first_partition:
        parser.error(f"--start {start} is before the first partition {first_partition} (TICKWH_PARTITIONS_START)")
    if last > yesterday:
        parser.error(f"--start {start} with --days {args.days} ends on {last}, after yesterday ({yesterday}, "
                     "the newest daily partition)")
    setup_logging(args.verbose or None)

    from ingest.simulator import simulate_days, wide_range_symbols

    landing = settings.landing_root
    t0 = time.perf_counter()
    with heartbeat(log, "simulating"):
        simulate_days(start, args.days, landing, trades_per_day=args.trades_per_day,
                      snapshot_interval_ms=args.snapshot_interval_ms)
        # A second venue with the instruments at the numeric contract's edges (docs/contracts.md).
        simulate_days(start, args.days, landing, symbols=wide_range_symbols(), exchange="simdex",
                      trades_per_day=max(1, args.trades_per_day // 10), snapshot_interval_ms=60_000)
    log.info("simulated %d days into %s in %.1fs", args.days, landing, time.perf_counter() - t0)

    run_pipeline(start, last)

    from tickwh.docs import build_dbt_docs

    docs_index = build_dbt_docs(settings)
    text, symbol = summary(lake.LakeConfig.from_settings(settings))
    print()
    print("=" * 72)
    print(text)
    print()
    print(f"landing files : {landing}")
    for line in cold_lines(settings, start, last, symbol or "BTCUSDT"):
        print(line)
    print(f"dbt docs      : {docs_index}   (make docs-serve)")
    print("Dagster UI    : tickwh ui (make ui) -> http://127.0.0.1:3000 (this demo's runs are in its history)")
    print(f"total time    : {time.perf_counter() - t0:.0f}s")
    print("=" * 72)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
