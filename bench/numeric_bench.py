"""Issue 18: the cost of the exact numeric contract, before (DECIMAL(18,8)) and after, on one simulated day.

* load: ``load_trades`` as it is now vs the same loader with the previous numeric parts put back
  (typed ``read_csv`` to DECIMAL(18,8), the old rules, a DECIMAL(18,8) ``raw.trades``): everything
  else (reject store, rules, transaction, quarantine) is the same code.
* bars: the 1-minute bars of the day with the old expressions (operands widened to DECIMAL(38,8))
  vs the current ones (``price * amount`` as DECIMAL(38,24), narrowed to scale 20 per minute).
* the new loader on a day of the wide-range instruments (12-decimal prices, 1e11-unit amounts).

Each figure is the median of ``reps`` interleaved runs in this process, wall time with DuckDB's
default threads, on a fresh warehouse file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from bench.common import Report, Row, Workload, bench_home, ensure_workload, median, scratch

_OLD_RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE raw.trades (
    trade_date DATE NOT NULL, exchange VARCHAR NOT NULL, symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL,
    local_ts TIMESTAMP, trade_id VARCHAR NOT NULL, trade_seq BIGINT, side VARCHAR NOT NULL,
    price DECIMAL(18, 8) NOT NULL, amount DECIMAL(18, 8) NOT NULL, source_file VARCHAR NOT NULL
);
"""

_BARS_SQL = """
SELECT exchange, symbol, date_trunc('minute', ts) AS bucket_start,
    arg_min(price, struct_pack(ts := ts, s := coalesce(trade_seq, 0), id := trade_id)) AS open,
    max(price) AS high, min(price) AS low,
    arg_max(price, struct_pack(ts := ts, s := coalesce(trade_seq, 0), id := trade_id)) AS close,
    cast(sum(amount) AS decimal(38, {vscale})) AS volume, {quote} AS quote_volume, count(*) AS trade_count,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS decimal(38, {vscale})) AS buy_volume,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS decimal(38, {vscale})) AS sell_volume
FROM raw.trades GROUP BY ALL
"""
OLD_BARS = _BARS_SQL.format(
    vscale=8, quote="cast(sum(cast(price AS decimal(38, 8)) * cast(amount AS decimal(38, 8))) AS decimal(38, 16))"
)
NEW_BARS = _BARS_SQL.format(vscale=12, quote="cast(sum(price * amount) AS decimal(38, 20))")


def _old_trades_dataset():  # noqa: ANN202 - a loader-private dataclass
    from ingest import loader

    def types(header: list[str]) -> dict[str, str]:
        known = {"timestamp": "BIGINT", "local_timestamp": "BIGINT", "price": "DECIMAL(18,8)",
                 "amount": "DECIMAL(18,8)"}
        return {name: known.get(name, "VARCHAR") for name in header}

    rule_case = loader.TRADES.rule_case
    start, end = rule_case.index("    WHEN price IS NULL THEN"), rule_case.index("    WHEN exchange || '|'")
    rule_case = rule_case[:start] + rule_case[end:]
    start, end = rule_case.index("    WHEN amount > 10000"), rule_case.index("    WHEN ts_us < $1")
    rule_case = (rule_case[:start] + rule_case[end:]).replace(
        "(price IS NULL AND price_text IS NULL) OR (amount IS NULL AND amount_text IS NULL)",
        "price IS NULL OR amount IS NULL")
    return dataclasses.replace(
        loader.TRADES,
        csv_types=types,
        staged_select=lambda header: ("exchange, symbol, timestamp AS ts_us, local_timestamp AS local_us, "
                                      "id AS trade_id, lower(side) AS side, price, amount"),
        wrap=lambda inner: inner,
        rule_case=rule_case,
        raw_line_expr=loader._fields_line("exchange", "symbol", "ts_us", "local_us", "trade_id", "side", "price",
                                          "amount"),
    )


def _load(landing: Path, day: dt.date, work: Path, old: bool) -> tuple[float, Path]:
    from ingest import loader

    db = work / ("old.duckdb" if old else "new.duckdb")
    con = duckdb.connect(str(db))
    saved = loader.TRADES
    try:
        if old:
            con.execute(_OLD_RAW_DDL)
            loader.TRADES = _old_trades_dataset()
        t0 = time.perf_counter()
        report = loader.load_trades(con, landing, day)
        con.execute("CHECKPOINT")
        seconds = time.perf_counter() - t0
    finally:
        loader.TRADES = saved
        con.close()
    if report.rows_quarantined:
        raise RuntimeError(f"numeric bench: {report.quarantine_by_rule} quarantined on a clean day")
    return seconds, db


def _bars(db: Path, sql: str) -> tuple[float, int]:
    with duckdb.connect(str(db)) as con:
        t0 = time.perf_counter()
        n = con.execute(f"CREATE OR REPLACE TEMP TABLE bars AS {sql}").fetchone()[0]
        return time.perf_counter() - t0, int(n)


def _wide_landing(trades: int, log: Callable[[str], None]) -> tuple[Path, dt.date]:
    from ingest.simulator import simulate_day, wide_range_symbols

    day = dt.date(2024, 1, 2)
    landing = bench_home() / "data" / f"numeric-wide-{trades}"
    marker = landing / f".done-{day}"
    if not marker.exists():
        t0 = time.perf_counter()
        simulate_day(day, landing, symbols=wide_range_symbols(), exchange="simdex", trades_per_day=trades,
                     snapshot_interval_ms=86_400_000)
        marker.write_text("ok")
        log(f"  simulated the wide-range day ({trades} trades) in {time.perf_counter() - t0:.1f}s")
    return landing, day


def bench_numeric(trades: int, reps: int, report: Report, log: Callable[[str], None] = print) -> None:
    w = Workload(trades, snapshot_interval_ms=86_400_000)
    landing = ensure_workload(w, log)
    wide, wide_day = _wide_landing(trades, log)
    old_load, new_load, old_bars, new_bars, wide_load = [], [], [], [], []
    for rep in range(reps):
        with scratch("numeric-") as work:
            s_old, db_old = _load(landing, w.start, work, old=True)
            s_new, db_new = _load(landing, w.start, work, old=False)
            b_old, n_old = _bars(db_old, OLD_BARS)
            b_new, n_new = _bars(db_new, NEW_BARS)
            s_wide, _ = _load(wide, wide_day, work, old=False)
        old_load.append(s_old)
        new_load.append(s_new)
        old_bars.append(b_old)
        new_bars.append(b_new)
        wide_load.append(s_wide)
        log(f"  numeric rep {rep + 1}: load {s_old:.2f}s -> {s_new:.2f}s, bars {b_old:.3f}s -> {b_new:.3f}s "
            f"({n_old}/{n_new} bars), wide-range day load {s_wide:.2f}s")
    size = f"{w.describe().split(', ')[0]}"
    report.add(Row("numeric", f"load_trades, exact contract ({size})", median(new_load),
                   reference="same loader, DECIMAL(18,8)", ref_value=median(old_load), target="<= 1.2x",
                   ok=median(new_load) <= 1.2 * median(old_load), samples=new_load, ref_samples=old_load))
    report.add(Row("numeric", f"1m bars, DECIMAL(22,12)/(38,20) ({size})", median(new_bars),
                   reference="DECIMAL(18,8)/(38,16)", ref_value=median(old_bars), samples=new_bars,
                   ref_samples=old_bars))
    report.add(Row("numeric", f"load_trades, wide-range instruments ({size})", median(wide_load),
                   reference="default universe", ref_value=median(new_load), samples=wide_load,
                   ref_samples=new_load))
