"""Frames the suites validate: one partition's slice read from DuckDB, plus derived columns.

Why derive here: GE has no built-in for "largest move between consecutive trades", "robust
spike score", "gap in a contiguous id sequence", "longest silence of a feed" or "1m bars add up
to the raw day". Each is computed as a plain column (in DuckDB where a window function does it,
in pandas where a rolling median is much faster), and the threshold on that column is an
ordinary expectation in the suite file. Nothing here decides pass or fail.

Every read of a partition binds the day as a parameter; table names come from the suite files
and are checked against a strict identifier pattern before they reach SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ingest.quality.suites import SuiteSpec

Frames = dict[str, pd.DataFrame]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
US = 1_000_000


def _table(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a schema.table name: {name!r}")
    return name


def _day_bounds_us(day: dt.date) -> tuple[int, int]:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * US
    return start, start + 86_400 * US


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def schema_frames(con: duckdb.DuckDBPyConnection, table: str) -> Frames:
    """`head`: the table's columns with no rows (for column-set rules); `columns`: one row per
    column with its DuckDB type as `name TYPE` (for type rules)."""
    table = _table(table)
    head = _df(con, f"SELECT * FROM {table} LIMIT 0")
    cols = _df(con, f"DESCRIBE {table}")[["column_name", "column_type"]]
    cols["column_def"] = cols["column_name"] + " " + cols["column_type"]
    return {"head": head, "columns": cols}


def quarantine_frame(con: duckdb.DuckDBPyConnection, dataset: str, table: str, date_column: str,
                     day: dt.date) -> pd.DataFrame:
    """One row per quarantine rule of the day: how many rows, their share of every row the files
    held (accepted + quarantined), and the first file:line as an example."""
    return _df(
        con,
        f"""WITH q AS (
            SELECT rule, count(*) AS rows,
                   min(source_file || ':' || coalesce(CAST(source_line AS VARCHAR), '-')) AS example
            FROM raw.quarantine WHERE dataset = ? AND partition_date = ? GROUP BY rule),
        n AS (SELECT count(*) AS loaded FROM {_table(table)} WHERE {date_column} = ?)
        SELECT rule, rows, rows / (n.loaded + (SELECT sum(rows) FROM q)) AS share, example
        FROM q, n ORDER BY rule""",
        [dataset, day, day],
    )


def _spike_scores(df: pd.DataFrame, window: int, floor_bps: float) -> pd.Series:
    """|price - rolling median| / robust scale, per symbol, over a centred window of trades.

    The scale is the rolling median of the absolute deviations from the rolling median (a
    rolling MAD), floored at `floor_bps` of the price: on a flat tape the MAD is zero and any tick
    would otherwise look infinite. `df` must be sorted by symbol, then time.
    """
    if df.empty:
        return pd.Series(dtype="float64", index=df.index)
    keys = [df["exchange"], df["symbol"]]
    price = df["price"].astype("float64")

    def rolling_median(s: pd.Series) -> pd.Series:
        return s.rolling(window, center=True, min_periods=1).median()

    med = price.groupby(keys, sort=False).transform(rolling_median)
    dev = (price - med).abs()
    scale = dev.groupby(keys, sort=False).transform(rolling_median)
    scale = np.maximum(scale, price * floor_bps / 1e4)
    return dev / scale


def prep_raw_trades(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
                    now: dt.datetime) -> Frames:
    assert day is not None, "raw_trades is validated one day at a time"
    start_us, end_us = _day_bounds_us(day)
    now_us = int(now.timestamp() * US)
    params = suite.params
    frames = schema_frames(con, "raw.trades")
    # seq_gap counts ids missing before each trade. Ids the loader quarantined are not missing
    # (the vendor delivered them; the quarantine rules report them), so they join the sequence.
    # The quarantine keeps the id as the 5th field of raw_line (parsed fields or the CSV line).
    rows = _df(
        con,
        """WITH t AS (SELECT * FROM raw.trades WHERE trade_date = $day),
        q AS (
            SELECT DISTINCT split_part(raw_line, ',', 1) AS exchange, split_part(raw_line, ',', 2) AS symbol,
                   TRY_CAST(split_part(raw_line, ',', 5) AS BIGINT) AS seq
            FROM raw.quarantine
            WHERE dataset = 'trades' AND partition_date = $day AND rule <> 'duplicate_trade_id'),
        k AS (
            SELECT exchange, symbol, trade_seq AS seq, trade_id, 0 AS quarantined FROM t WHERE trade_seq IS NOT NULL
            UNION ALL
            SELECT exchange, symbol, seq, NULL, 1 FROM q WHERE seq IS NOT NULL),
        g AS (
            SELECT exchange, symbol, trade_id, quarantined,
                   seq - lag(seq) OVER (PARTITION BY exchange, symbol ORDER BY seq, quarantined) - 1 AS seq_gap
            FROM k)
        SELECT t.exchange, t.symbol, t.ts, t.trade_id, t.trade_seq, t.side,
               CAST(t.price AS DOUBLE) AS price, CAST(t.amount AS DOUBLE) AS amount, t.source_file,
               (epoch_us(t.ts) - $start) / 1e6 AS day_offset_s,
               (epoch_us(t.ts) - $now) / 1e6 AS seconds_ahead_of_now,
               g.seq_gap,
               abs(CAST(t.price AS DOUBLE) / lag(CAST(t.price AS DOUBLE)) OVER (
                   PARTITION BY t.exchange, t.symbol ORDER BY t.ts, t.trade_seq, t.trade_id) - 1) * 100 AS abs_move_pct
        FROM t LEFT JOIN g ON g.quarantined = 0 AND g.exchange = t.exchange AND g.symbol = t.symbol
                          AND g.trade_id = t.trade_id
        ORDER BY t.exchange, t.symbol, t.ts, t.trade_seq, t.trade_id""",
        {"day": day, "start": start_us, "now": now_us},
    )
    rows["spike_score"] = _spike_scores(rows, int(params.get("spike_window_trades", 101)),
                                        float(params.get("spike_floor_bps", 1.0)))
    frames["rows"] = rows
    frames["symbols"] = _df(
        con,
        """WITH t AS (SELECT exchange, symbol, ts, local_ts, trade_seq, trade_id
                      FROM raw.trades WHERE trade_date = $day),
        o AS (
            SELECT exchange, symbol, ts,
                   CAST(ts < lag(ts) OVER (PARTITION BY exchange, symbol
                        ORDER BY coalesce(trade_seq, epoch_us(local_ts)), trade_id) AS INTEGER) AS back,
                   epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY exchange, symbol ORDER BY ts)) AS gap_us
            FROM t),
        a AS (
            SELECT exchange, symbol, count(*) AS trades, min(ts) AS first_ts, max(ts) AS last_ts,
                   sum(back) / count(*) AS out_of_order_share,
                   coalesce(max(gap_us), 0) / 1e6 AS max_gap_s,
                   CASE WHEN count(*) > 1 AND max(ts) > min(ts)
                        THEN (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 / (count(*) - 1) END AS mean_gap_s,
                   greatest(epoch_us(min(ts)) - $start, least($end, $now) - epoch_us(max(ts)), 0) / 1e6 AS edge_gap_s
            FROM o GROUP BY exchange, symbol)
        SELECT *, max_gap_s / mean_gap_s AS stale_ratio, edge_gap_s / mean_gap_s AS edge_ratio
        FROM a ORDER BY exchange, symbol""",
        {"day": day, "start": start_us, "end": end_us, "now": now_us},
    )
    frames["quarantine"] = quarantine_frame(con, "trades", "raw.trades", "trade_date", day)
    return frames


def prep_raw_book_snapshots(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
                            now: dt.datetime) -> Frames:
    assert day is not None, "raw_book_snapshots is validated one day at a time"
    start_us, end_us = _day_bounds_us(day)
    now_us = int(now.timestamp() * US)
    frames = schema_frames(con, "raw.book_snapshots")
    frames["rows"] = _df(
        con,
        """WITH s AS (SELECT * FROM raw.book_snapshots WHERE snapshot_date = $day),
        d AS (
            SELECT *, (ask_price - bid_price) / ((ask_price + bid_price) / 2) * 1e4 AS spread_bps,
                   len(list_filter(bid_prices || ask_prices, lambda p: p IS NULL OR NOT isfinite(p) OR p <= 0))
                 + len(list_filter(bid_amounts || ask_amounts, lambda a: a IS NULL OR NOT isfinite(a) OR a < 0))
                 + CASE WHEN bid_prices = list_sort(bid_prices, 'DESC') AND ask_prices = list_sort(ask_prices, 'ASC')
                             AND len(list_distinct(bid_prices)) = len(bid_prices)
                             AND len(list_distinct(ask_prices)) = len(ask_prices) THEN 0 ELSE 1 END
                 + CASE WHEN len(bid_prices) = depth AND len(ask_prices) = depth
                             AND len(bid_amounts) = depth AND len(ask_amounts) = depth THEN 0 ELSE 1 END
                   AS bad_levels
            FROM s)
        SELECT exchange, symbol, ts, depth, bid_price, bid_amount, ask_price, ask_amount, source_file,
               (epoch_us(ts) - $start) / 1e6 AS day_offset_s,
               (epoch_us(ts) - $now) / 1e6 AS seconds_ahead_of_now,
               spread_bps,
               spread_bps / nullif(median(spread_bps) FILTER (WHERE spread_bps > 0)
                                   OVER (PARTITION BY exchange, symbol), 0) AS spread_to_median,
               bad_levels
        FROM d ORDER BY exchange, symbol, ts""",
        {"day": day, "start": start_us, "now": now_us},
    )
    frames["symbols"] = _df(
        con,
        """WITH s AS (SELECT exchange, symbol, ts, local_ts, bid_price, ask_price
                      FROM raw.book_snapshots WHERE snapshot_date = $day),
        o AS (
            SELECT *, CAST(ts < lag(ts) OVER (PARTITION BY exchange, symbol ORDER BY local_ts, ts) AS INTEGER) AS back,
                   epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY exchange, symbol ORDER BY ts)) AS gap_us
            FROM s)
        SELECT exchange, symbol, count(*) AS snapshots, min(ts) AS first_ts, max(ts) AS last_ts,
               avg(CASE WHEN bid_price >= ask_price THEN 1.0 ELSE 0.0 END) AS crossed_or_locked_share,
               sum(back) / count(*) AS out_of_order_share,
               coalesce(max(gap_us), 0) / 1e6 AS max_gap_s,
               greatest(epoch_us(min(ts)) - $start, least($end, $now) - epoch_us(max(ts)), 0) / 1e6 AS edge_gap_s
        FROM o GROUP BY exchange, symbol ORDER BY exchange, symbol""",
        {"day": day, "start": start_us, "end": end_us, "now": now_us},
    )
    frames["quarantine"] = quarantine_frame(con, "book_snapshots", "raw.book_snapshots", "snapshot_date", day)
    return frames


_BAR_SELECT = """
    exchange, symbol, bar_date, bucket_start, bucket_end,
    CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
    CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, trade_count, vwap,
    CAST(buy_volume AS DOUBLE) AS buy_volume, CAST(sell_volume AS DOUBLE) AS sell_volume,
    CAST(volume - buy_volume - sell_volume AS DOUBLE) AS unsided_volume,
    (epoch_us(bucket_end) - epoch_us(bucket_start)) / 1e6 AS bucket_width_s,
    (epoch_us(bucket_start) - epoch_us(CAST(bar_date AS TIMESTAMP))) / 1e6 AS bucket_offset_s,
    ((epoch_us(bucket_start) - epoch_us(CAST(bar_date AS TIMESTAMP))) % (CAST($interval AS BIGINT) * 1000000)) / 1e6
        AS bucket_misalignment_s,
    (epoch_us(first_trade_ts) - epoch_us(bucket_start)) / 1e6 AS first_trade_offset_s,
    (epoch_us(last_trade_ts) - epoch_us(bucket_start)) / 1e6 AS last_trade_offset_s,
    greatest(CAST(low AS DOUBLE) - vwap, vwap - CAST(high AS DOUBLE), 0) / CAST(low AS DOUBLE) * 1e4
        AS vwap_outside_bps
"""


def prep_ohlcv(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None, now: dt.datetime) -> Frames:
    """Bars of one day with their invariants as columns, and a per-symbol reconciliation: 1m bars
    against the raw trades, coarser bars against the 1m bars (exact DECIMAL differences)."""
    assert day is not None, f"{suite.name} is validated one day at a time"
    table = _table(suite.meta["table"])
    interval = int(suite.params["interval_seconds"])
    frames = schema_frames(con, table)
    frames["rows"] = _df(
        con,
        f"SELECT {_BAR_SELECT} FROM {table} WHERE bar_date = $day ORDER BY exchange, symbol, bucket_start",
        {"day": day, "interval": interval},
    )
    if suite.params.get("reconcile_with") == "raw.trades":
        source = """SELECT exchange, symbol, sum(amount) AS v, count(*) AS n,
                           coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS b,
                           coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS s,
                           coalesce(sum(amount) FILTER (WHERE side = 'unknown'), 0) AS u,
                           max(price) AS hi, min(price) AS lo
                    FROM raw.trades WHERE trade_date = $day GROUP BY exchange, symbol"""
    else:
        base = _table(suite.params["reconcile_with"])
        source = f"""SELECT exchange, symbol, sum(volume) AS v, sum(trade_count) AS n, sum(buy_volume) AS b,
                            sum(sell_volume) AS s, sum(volume - buy_volume - sell_volume) AS u,
                            max(high) AS hi, min(low) AS lo
                     FROM {base} WHERE bar_date = $day GROUP BY exchange, symbol"""
    frames["reconciliation"] = _df(
        con,
        f"""WITH r AS ({source}),
        m AS (SELECT exchange, symbol, sum(volume) AS v, sum(trade_count) AS n, sum(buy_volume) AS b,
                     sum(sell_volume) AS s, max(high) AS hi, min(low) AS lo
              FROM {table} WHERE bar_date = $day GROUP BY exchange, symbol)
        SELECT coalesce(r.exchange, m.exchange) AS exchange, coalesce(r.symbol, m.symbol) AS symbol,
               coalesce(r.n, 0) AS source_trade_count, coalesce(m.n, 0) AS bar_trade_count,
               coalesce(m.n, 0) - coalesce(r.n, 0) AS trade_count_diff,
               CAST(coalesce(m.v, 0) - coalesce(r.v, 0) AS DOUBLE) AS volume_diff,
               CAST(coalesce(m.b, 0) - coalesce(r.b, 0) AS DOUBLE) AS buy_volume_diff,
               CAST(coalesce(m.s, 0) - coalesce(r.s, 0) AS DOUBLE) AS sell_volume_diff,
               CAST((coalesce(m.v, 0) - coalesce(m.b, 0) - coalesce(m.s, 0)) - coalesce(r.u, 0) AS DOUBLE)
                   AS unknown_side_volume_diff,
               CAST(m.hi - r.hi AS DOUBLE) AS high_diff, CAST(m.lo - r.lo AS DOUBLE) AS low_diff
        FROM r FULL OUTER JOIN m ON r.exchange = m.exchange AND r.symbol = m.symbol
        ORDER BY 1, 2""",
        {"day": day},
    )
    return frames


def prep_daily_stats(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
                     now: dt.datetime) -> Frames:
    assert day is not None, "daily_stats is validated one day at a time"
    frames = schema_frames(con, "marts.daily_stats")
    frames["rows"] = _df(
        con,
        """SELECT exchange, symbol, bar_date,
               CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
               CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, trade_count,
               CAST(volume - buy_volume - sell_volume AS DOUBLE) AS unsided_volume,
               buy_sell_imbalance, return_oc, return_cc, minutes_with_trades, realized_vol,
               max_trade_gap_seconds, snapshot_count, mean_spread_bps, crossed_or_locked_share
        FROM marts.daily_stats WHERE bar_date = ? ORDER BY exchange, symbol""",
        [day],
    )
    frames["reconciliation"] = _df(
        con,
        """SELECT coalesce(s.exchange, d.exchange) AS exchange, coalesce(s.symbol, d.symbol) AS symbol,
               coalesce(s.trade_count, 0) - coalesce(d.trade_count, 0) AS trade_count_diff,
               CAST(coalesce(s.volume, 0) - coalesce(d.volume, 0) AS DOUBLE) AS volume_diff,
               CAST(s.open - d.open AS DOUBLE) AS open_diff, CAST(s.close - d.close AS DOUBLE) AS close_diff,
               CAST(s.high - d.high AS DOUBLE) AS high_diff, CAST(s.low - d.low AS DOUBLE) AS low_diff
        FROM (SELECT * FROM marts.daily_stats WHERE bar_date = $day) s
        FULL OUTER JOIN (SELECT * FROM marts.ohlcv_1d WHERE bar_date = $day) d
            ON s.exchange = d.exchange AND s.symbol = d.symbol
        ORDER BY 1, 2""",
        {"day": day},
    )
    return frames


def prep_market_daily_summary(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
                              now: dt.datetime) -> Frames:
    """A whole-table rebuild, so the whole table is checked (it has one row per day and venue)."""
    frames = schema_frames(con, "marts.market_daily_summary")
    frames["rows"] = _df(
        con,
        """SELECT bar_date, exchange, symbols_traded, total_trades, advancers, decliners, unchanged,
               CAST(total_notional AS DOUBLE) AS total_notional, top_symbol, mean_spread_bps,
               advancers + decliners + unchanged - symbols_traded AS breadth_diff
        FROM marts.market_daily_summary ORDER BY bar_date, exchange""",
    )
    frames["reconciliation"] = _df(
        con,
        """WITH d AS (SELECT bar_date, exchange, count(*) AS symbols, sum(trade_count) AS trades,
                             sum(quote_volume) AS notional
                      FROM marts.daily_stats GROUP BY bar_date, exchange)
        SELECT coalesce(m.bar_date, d.bar_date) AS bar_date, coalesce(m.exchange, d.exchange) AS exchange,
               coalesce(m.total_trades, 0) - coalesce(d.trades, 0) AS total_trades_diff,
               coalesce(m.symbols_traded, 0) - coalesce(d.symbols, 0) AS symbols_traded_diff,
               CAST(coalesce(m.total_notional, 0) - coalesce(d.notional, 0) AS DOUBLE) AS total_notional_diff
        FROM marts.market_daily_summary m FULL OUTER JOIN d ON m.bar_date = d.bar_date AND m.exchange = d.exchange
        ORDER BY 1, 2""",
    )
    return frames


def prep_rollup(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None, now: dt.datetime) -> Frames:
    table = _table(suite.meta["table"])
    period = suite.params["period"]
    if period not in ("week", "month"):
        raise ValueError(f"{suite.name}: params.period must be week or month")
    frames = schema_frames(con, table)
    frames["rows"] = _df(
        con,
        f"""SELECT exchange, symbol, period_start, period_end, first_bar_date, last_bar_date, days_with_trades,
               CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
               CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, trade_count,
               CAST(volume - buy_volume - sell_volume AS DOUBLE) AS unsided_volume,
               period_end - period_start AS period_days,
               first_bar_date - period_start AS first_bar_offset_days,
               period_end - last_bar_date AS last_bar_days_before_end,
               days_with_trades - (period_end - period_start) AS days_with_trades_excess
        FROM {table} ORDER BY exchange, symbol, period_start""",
    )
    frames["reconciliation"] = _df(
        con,
        f"""WITH d AS (SELECT exchange, symbol, CAST(date_trunc('{period}', bar_date) AS DATE) AS period_start,
                             sum(trade_count) AS n, sum(volume) AS v, count(*) AS days
                      FROM marts.daily_stats GROUP BY ALL)
        SELECT coalesce(r.exchange, d.exchange) AS exchange, coalesce(r.symbol, d.symbol) AS symbol,
               coalesce(r.period_start, d.period_start) AS period_start,
               coalesce(r.trade_count, 0) - coalesce(d.n, 0) AS trade_count_diff,
               CAST(coalesce(r.volume, 0) - coalesce(d.v, 0) AS DOUBLE) AS volume_diff,
               coalesce(r.days_with_trades, 0) - coalesce(d.days, 0) AS days_with_trades_diff
        FROM {table} r FULL OUTER JOIN d
            ON r.exchange = d.exchange AND r.symbol = d.symbol AND r.period_start = d.period_start
        ORDER BY 1, 2, 3""",
    )
    return frames


Preparer = Callable[[duckdb.DuckDBPyConnection, SuiteSpec, "dt.date | None", dt.datetime], Frames]

PREPARERS: dict[str, Preparer] = {
    "raw_trades": prep_raw_trades,
    "raw_book_snapshots": prep_raw_book_snapshots,
    "ohlcv": prep_ohlcv,
    "daily_stats": prep_daily_stats,
    "market_daily_summary": prep_market_daily_summary,
    "rollup": prep_rollup,
}


def prepare(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
            now: dt.datetime | None = None) -> Frames:
    """The frames `suite` validates for `day` (None for whole-table suites)."""
    kind = suite.meta.get("prep")
    if kind not in PREPARERS:
        raise ValueError(f"suite {suite.name}: meta.prep {kind!r} is not one of {sorted(PREPARERS)}")
    return PREPARERS[kind](con, suite, day, now or dt.datetime.now(dt.UTC))
