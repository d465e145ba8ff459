"""Frames the suites validate: one partition's slice read from DuckDB, plus derived columns.

Why derive here: GE has no built-in for "largest move between consecutive trades", "robust
spike score", "gap in a contiguous id sequence", "longest silence of a feed" or "1m bars add up
to the raw day". Each is computed as a plain column (in DuckDB SQL, or per symbol in numpy where
an order-dependent window over a whole day is cheaper there: `ingest.quality.series`), and the
threshold on that column is an ordinary expectation of the suite. Nothing here decides
pass or fail.

The big frames (one row per trade or snapshot) are returned as `SqlFrame`s, queries evaluated
inside DuckDB by `ingest.quality.sql_eval`, never pulled into pandas unless the suite sends
the frame to GE (`"engine": "pandas"`: `suites.run_window` reads each day into a DataFrame).

Every read of a partition binds the day as a parameter; table names come from the suites
and are checked against a strict identifier pattern before they reach SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ingest.quality.series import trade_series
from ingest.quality.spec import SuiteSpec
from ingest.quality.sql_eval import SqlFrame

Frames = dict[str, pd.DataFrame | SqlFrame]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\Z")
US = 1_000_000


def table_name(name: str) -> str:
    """`name` if it is a plain `schema.table`, for SQL text; else ValueError."""
    if not _IDENT.match(name):
        raise ValueError(f"not a schema.table name: {name!r}")
    return name


def _window(days: list[dt.date] | None, name: str) -> dict[str, dt.date]:
    """The first and last day a window's frames read (bound as parameters)."""
    if not days:
        raise ValueError(f"{name} is validated one window of days at a time")
    return {"first": min(days), "last": max(days)}


def _days_between(window: dict[str, dt.date]) -> list[dt.date]:
    return [window["first"] + dt.timedelta(days=i) for i in range((window["last"] - window["first"]).days + 1)]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()




def schema_frames(con: duckdb.DuckDBPyConnection, table: str) -> Frames:
    """`head`: the table's columns with no rows (for column-set rules); `columns`: one row per
    column with its DuckDB type as `name TYPE` (for type rules). The same for every day of a
    window, so evaluated once per window."""
    table = table_name(table)
    head = _df(con, f"SELECT * FROM {table} LIMIT 0")
    cols = _df(con, f"DESCRIBE {table}")[["column_name", "column_type"]]
    cols["column_def"] = cols["column_name"] + " " + cols["column_type"]
    return {"head": head, "columns": cols}


# The day each row belongs to: the `by` column of a window's frames (SqlFrame.by).
DAY = "partition_day"


def quarantine_frame(con: duckdb.DuckDBPyConnection, dataset: str, table: str, date_column: str,
                     window: dict[str, dt.date]) -> SqlFrame:
    """One row per day and quarantine rule: how many rows, their share of every row the day's
    files held (accepted + quarantined), and the first file:line as an example."""
    return SqlFrame(
        con,
        f"""WITH q AS (
            SELECT partition_date AS {DAY}, rule, count(*) AS rows,
                   min(source_file || ':' || coalesce(CAST(source_line AS VARCHAR), '-')) AS example
            FROM raw.quarantine WHERE dataset = $dataset AND partition_date BETWEEN $first AND $last GROUP BY ALL),
        t AS (SELECT {DAY}, sum(rows) AS quarantined FROM q GROUP BY ALL),
        n AS (SELECT {date_column} AS {DAY}, count(*) AS loaded FROM {table_name(table)}
              WHERE {date_column} BETWEEN $first AND $last GROUP BY ALL)
        SELECT q.{DAY}, rule, rows, rows / (coalesce(n.loaded, 0) + t.quarantined) AS share, example
        FROM q JOIN t USING ({DAY}) LEFT JOIN n USING ({DAY})""",
        {"dataset": dataset, **window},
        order_by=("rule",),
        by=DAY,
    )


_DAY_START = f"epoch_us(CAST({DAY} AS TIMESTAMP))"
_DAY_END = f"({_DAY_START} + 86400000000)"
_TRADES_COLUMNS = f"""
    trade_date AS {DAY}, exchange, symbol, ts, trade_id, trade_seq, side,
    CAST(price AS DOUBLE) AS price, CAST(amount AS DOUBLE) AS amount, source_file,
    (epoch_us(ts) - epoch_us(CAST(trade_date AS TIMESTAMP))) / 1e6 AS day_offset_s,
    (epoch_us(ts) - $now) / 1e6 AS seconds_ahead_of_now"""
_TRADES_DERIVED = "seq_gap, abs_move_pct, spike_score"
_TRADES_WHERE = "FROM raw.trades WHERE trade_date BETWEEN $first AND $last"
# The whole frame joins the derived columns back by row id; rules on a single column read the
# table or the derived columns alone (SqlFrame.parts), so the join is only paid for examples.
_TRADES_ROWS = f"""
    SELECT t.* EXCLUDE (row_id), {_TRADES_DERIVED}
    FROM (SELECT rowid AS row_id, {_TRADES_COLUMNS} {_TRADES_WHERE}) t
    LEFT JOIN {{derived}} USING (row_id)"""

_TRADES_SYMBOLS = f"""
    WITH a AS (
        SELECT {DAY}, exchange, symbol, trades, make_timestamp(first_us) AS first_ts,
               make_timestamp(last_us) AS last_ts,
               back_sum / trades AS out_of_order_share,
               coalesce(max_gap_us, 0) / 1e6 AS max_gap_s,
               CASE WHEN trades > 1 AND last_us > first_us
                    THEN (last_us - first_us) / 1e6 / (trades - 1) END AS mean_gap_s,
               greatest(first_us - {_DAY_START}, least({_DAY_END}, $now) - last_us, 0) / 1e6
                   AS edge_gap_s
        FROM {{stats}})
    SELECT *, max_gap_s / mean_gap_s AS stale_ratio, edge_gap_s / mean_gap_s AS edge_ratio FROM a"""


def _by_day(tables: list[tuple[dt.date, pa.Table]]) -> pa.Table:
    """Per-day Arrow tables as one, with the day as a column. An empty day's table has untyped
    (null) columns: it adds no rows, so it is left out unless every day is empty."""
    found = [t.append_column(DAY, pa.array([day] * t.num_rows, pa.date32())) for day, t in tables
             if t.num_rows or day == tables[-1][0]]
    return pa.concat_tables(found, promote_options="default")


def prep_raw_trades(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                    now: dt.datetime) -> Frames:
    """`rows`: every trade of the window with `day_offset_s`, `seconds_ahead_of_now`, `seq_gap`
    (ids missing before the trade in id order; ids the loader quarantined were delivered, so they
    are not missing), `abs_move_pct` (move from the previous trade in time) and `spike_score`.
    `symbols`: per day and (exchange, symbol) order and silence statistics. See `series` for the
    order definitions, computed one day at a time."""
    window = _window(days, "raw_trades")
    bounds = {**window, "now": int(now.timestamp() * US)}
    params = suite.params
    frames = schema_frames(con, "raw.trades")
    series = [(day, trade_series(con, day, int(params.get("spike_window_trades", 101)),
                                 float(params.get("spike_floor_bps", 1.0)))) for day in _days_between(window)]
    derived = SqlFrame.table_name("tickwh_trade_series")
    frames["rows"] = SqlFrame(
        con,
        _TRADES_ROWS.format(derived=derived),
        bounds,
        order_by=("exchange", "symbol", "ts", "trade_seq", "trade_id"),
        tables={derived: _by_day([(day, x.derived) for day, x in series])},
        parts=(f"SELECT {_TRADES_COLUMNS} {_TRADES_WHERE}", f"SELECT {DAY}, {_TRADES_DERIVED} FROM {derived}"),
        by=DAY,
    )
    stats = SqlFrame.table_name("tickwh_trade_symbols")
    frames["symbols"] = SqlFrame(
        con, _TRADES_SYMBOLS.format(stats=stats), bounds, order_by=("exchange", "symbol"),
        tables={stats: _by_day([(day, x.symbols) for day, x in series])}, by=DAY,
    )
    frames["quarantine"] = quarantine_frame(con, "trades", "raw.trades", "trade_date", window)
    return frames


# 0 when bids strictly fall and asks strictly rise, else 1. Tested pairwise (each level against
# the one before it): the verdict of comparing with list_sort and list_distinct (which keeps two
# NaNs apart), at a third of the cost.
LEVELS_OUT_OF_ORDER = """CASE
    WHEN len(list_filter({bids}, lambda p, i: p IS NULL OR (i > 1 AND NOT (
             {bids}[i - 1] > p OR (isnan(p) AND isnan({bids}[i - 1])))))) = 0
     AND len(list_filter({asks}, lambda p, i: p IS NULL OR (i > 1 AND NOT (
             p > {asks}[i - 1] OR (isnan(p) AND isnan({asks}[i - 1])))))) = 0
    THEN 0 ELSE 1 END"""


def prep_raw_book_snapshots(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                            now: dt.datetime) -> Frames:
    window = _window(days, "raw_book_snapshots")
    bounds = {**window, "now": int(now.timestamp() * US)}
    frames = schema_frames(con, "raw.book_snapshots")
    frames["rows"] = SqlFrame(
        con,
        f"""WITH s AS (SELECT * FROM raw.book_snapshots WHERE snapshot_date BETWEEN $first AND $last),
        d AS (
            SELECT *, (ask_price - bid_price) / ((ask_price + bid_price) / 2) * 1e4 AS spread_bps,
                   len(list_filter(bid_prices || ask_prices, lambda p: p IS NULL OR NOT isfinite(p) OR p <= 0))
                 + len(list_filter(bid_amounts || ask_amounts, lambda a: a IS NULL OR NOT isfinite(a) OR a < 0))
                 + {LEVELS_OUT_OF_ORDER.format(bids="bid_prices", asks="ask_prices")}
                 + CASE WHEN len(bid_prices) = depth AND len(ask_prices) = depth
                             AND len(bid_amounts) = depth AND len(ask_amounts) = depth THEN 0 ELSE 1 END
                   AS bad_levels
            FROM s)
        SELECT snapshot_date AS {DAY}, exchange, symbol, ts, depth, bid_price, bid_amount, ask_price, ask_amount,
               source_file,
               (epoch_us(ts) - epoch_us(CAST(snapshot_date AS TIMESTAMP))) / 1e6 AS day_offset_s,
               (epoch_us(ts) - $now) / 1e6 AS seconds_ahead_of_now,
               spread_bps,
               spread_bps / nullif(median(spread_bps) FILTER (WHERE spread_bps > 0)
                                   OVER (PARTITION BY snapshot_date, exchange, symbol), 0) AS spread_to_median,
               bad_levels
        FROM d""",
        bounds,
        order_by=("exchange", "symbol", "ts"),
        by=DAY,
    )
    frames["symbols"] = SqlFrame(
        con,
        f"""WITH s AS (SELECT snapshot_date AS {DAY}, exchange, symbol, ts, local_ts, bid_price, ask_price
                      FROM raw.book_snapshots WHERE snapshot_date BETWEEN $first AND $last),
        o AS (
            SELECT *, CAST(ts < lag(ts) OVER (PARTITION BY {DAY}, exchange, symbol ORDER BY local_ts, ts) AS INTEGER)
                          AS back,
                   epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY {DAY}, exchange, symbol ORDER BY ts)) AS gap_us
            FROM s)
        SELECT {DAY}, exchange, symbol, count(*) AS snapshots, min(ts) AS first_ts, max(ts) AS last_ts,
               avg(CASE WHEN bid_price >= ask_price THEN 1.0 ELSE 0.0 END) AS crossed_or_locked_share,
               sum(back) / count(*) AS out_of_order_share,
               coalesce(max(gap_us), 0) / 1e6 AS max_gap_s,
               greatest(epoch_us(min(ts)) - {_DAY_START},
                        least({_DAY_END}, $now) - epoch_us(max(ts)), 0) / 1e6 AS edge_gap_s
        FROM o GROUP BY {DAY}, exchange, symbol""",
        bounds,
        order_by=("exchange", "symbol"),
        by=DAY,
    )
    frames["quarantine"] = quarantine_frame(con, "book_snapshots", "raw.book_snapshots", "snapshot_date",
                                            window)
    return frames


def _per_symbol(con: duckdb.DuckDBPyConnection, sql: str, window: dict[str, dt.date]) -> SqlFrame:
    """A window's frame of one row per day and (exchange, symbol), in that order."""
    return SqlFrame(con, sql, window, order_by=("exchange", "symbol"), by=DAY)


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


def prep_ohlcv(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
               now: dt.datetime) -> Frames:
    """Bars of a window with their invariants as columns, and a per-day and symbol reconciliation:
    1m bars against the raw trades, coarser bars against the 1m bars (exact DECIMAL differences)."""
    window = _window(days, suite.name)
    table = table_name(suite.meta["table"])
    interval = int(suite.params["interval_seconds"])
    frames = schema_frames(con, table)
    frames["rows"] = SqlFrame(
        con,
        f"SELECT bar_date AS {DAY}, {_BAR_SELECT} FROM {table} WHERE bar_date BETWEEN $first AND $last",
        {**window, "interval": interval},
        order_by=("exchange", "symbol", "bucket_start"),
        by=DAY,
    )
    if suite.params.get("reconcile_with") == "raw.trades":
        source = f"""SELECT trade_date AS {DAY}, exchange, symbol, sum(amount) AS v, count(*) AS n,
                           coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS b,
                           coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS s,
                           coalesce(sum(amount) FILTER (WHERE side = 'unknown'), 0) AS u,
                           max(price) AS hi, min(price) AS lo
                    FROM raw.trades WHERE trade_date BETWEEN $first AND $last GROUP BY ALL"""
    else:
        base = table_name(suite.params["reconcile_with"])
        source = f"""SELECT bar_date AS {DAY}, exchange, symbol, sum(volume) AS v,
                            CAST(sum(trade_count) AS BIGINT) AS n, sum(buy_volume) AS b, sum(sell_volume) AS s,
                            sum(volume - buy_volume - sell_volume) AS u,
                            max(high) AS hi, min(low) AS lo
                     FROM {base} WHERE bar_date BETWEEN $first AND $last GROUP BY ALL"""
    frames["reconciliation"] = _per_symbol(
        con,
        f"""WITH r AS ({source}),
        m AS (SELECT bar_date AS {DAY}, exchange, symbol, sum(volume) AS v, CAST(sum(trade_count) AS BIGINT) AS n,
                     sum(buy_volume) AS b, sum(sell_volume) AS s, max(high) AS hi, min(low) AS lo
              FROM {table} WHERE bar_date BETWEEN $first AND $last GROUP BY ALL)
        SELECT coalesce(r.{DAY}, m.{DAY}) AS {DAY},
               coalesce(r.exchange, m.exchange) AS exchange, coalesce(r.symbol, m.symbol) AS symbol,
               coalesce(r.n, 0) AS source_trade_count, coalesce(m.n, 0) AS bar_trade_count,
               coalesce(m.n, 0) - coalesce(r.n, 0) AS trade_count_diff,
               CAST(coalesce(m.v, 0) - coalesce(r.v, 0) AS DOUBLE) AS volume_diff,
               CAST(coalesce(m.b, 0) - coalesce(r.b, 0) AS DOUBLE) AS buy_volume_diff,
               CAST(coalesce(m.s, 0) - coalesce(r.s, 0) AS DOUBLE) AS sell_volume_diff,
               CAST((coalesce(m.v, 0) - coalesce(m.b, 0) - coalesce(m.s, 0)) - coalesce(r.u, 0) AS DOUBLE)
                   AS unknown_side_volume_diff,
               CAST(m.hi - r.hi AS DOUBLE) AS high_diff, CAST(m.lo - r.lo AS DOUBLE) AS low_diff
        FROM r FULL OUTER JOIN m ON r.{DAY} = m.{DAY} AND r.exchange = m.exchange AND r.symbol = m.symbol""",
        window,
    )
    return frames


def prep_daily_stats(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                     now: dt.datetime) -> Frames:
    window = _window(days, "daily_stats")
    frames = schema_frames(con, "marts.daily_stats")
    frames["rows"] = _per_symbol(
        con,
        f"""SELECT bar_date AS {DAY}, exchange, symbol, bar_date,
               CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
               CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, trade_count,
               CAST(volume - buy_volume - sell_volume AS DOUBLE) AS unsided_volume,
               buy_sell_imbalance, return_oc, return_cc, minutes_with_trades, realized_vol,
               max_trade_gap_seconds, snapshot_count, mean_spread_bps, crossed_or_locked_share
        FROM marts.daily_stats WHERE bar_date BETWEEN $first AND $last""",
        window,
    )
    frames["reconciliation"] = _per_symbol(
        con,
        f"""SELECT coalesce(s.bar_date, d.bar_date) AS {DAY},
               coalesce(s.exchange, d.exchange) AS exchange, coalesce(s.symbol, d.symbol) AS symbol,
               coalesce(s.trade_count, 0) - coalesce(d.trade_count, 0) AS trade_count_diff,
               CAST(coalesce(s.volume, 0) - coalesce(d.volume, 0) AS DOUBLE) AS volume_diff,
               CAST(s.open - d.open AS DOUBLE) AS open_diff, CAST(s.close - d.close AS DOUBLE) AS close_diff,
               CAST(s.high - d.high AS DOUBLE) AS high_diff, CAST(s.low - d.low AS DOUBLE) AS low_diff
        FROM (SELECT * FROM marts.daily_stats WHERE bar_date BETWEEN $first AND $last) s
        FULL OUTER JOIN (SELECT * FROM marts.ohlcv_1d WHERE bar_date BETWEEN $first AND $last) d
            ON s.bar_date = d.bar_date AND s.exchange = d.exchange AND s.symbol = d.symbol""",
        window,
    )
    return frames


def prep_market_daily_summary(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
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


def prep_rollup(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                now: dt.datetime) -> Frames:
    table = table_name(suite.meta["table"])
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


# -- quotes, the derivative ticker, liquidations --------------------------------------------------

def _offsets(date_column: str) -> str:
    return (f"(epoch_us(ts) - epoch_us(CAST({date_column} AS TIMESTAMP))) / 1e6 AS day_offset_s, "
            "(epoch_us(ts) - $now) / 1e6 AS seconds_ahead_of_now")


def prep_raw_quotes(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                    now: dt.datetime) -> Frames:
    """`rows`: every quote with its spread in bps and `crossed` (1 when bid > ask: the loader quarantines
    those, so any here is a defect)."""
    window = _window(days, "raw_quotes")
    frames = schema_frames(con, "raw.quotes")
    frames["rows"] = SqlFrame(
        con,
        f"""SELECT quote_date AS {DAY}, exchange, symbol, ts, CAST(bid_price AS DOUBLE) AS bid_price,
               CAST(bid_amount AS DOUBLE) AS bid_amount, CAST(ask_price AS DOUBLE) AS ask_price,
               CAST(ask_amount AS DOUBLE) AS ask_amount, source_file, {_offsets('quote_date')},
               CAST((ask_price - bid_price) / ((ask_price + bid_price) / 2) * 10000 AS DOUBLE) AS spread_bps,
               CASE WHEN bid_price > ask_price THEN 1 ELSE 0 END AS crossed
        FROM raw.quotes WHERE quote_date BETWEEN $first AND $last""",
        {**window, "now": int(now.timestamp() * US)},
        order_by=("exchange", "symbol", "ts"),
        by=DAY,
    )
    frames["quarantine"] = quarantine_frame(con, "quotes", "raw.quotes", "quote_date", window)
    return frames


def prep_raw_derivative_ticker(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                               now: dt.datetime) -> Frames:
    """`rows`: every ticker row with `abs_funding_rate`, `funding_off_hour` (1 when the funding time is not a
    whole hour: every exchange settles on the hour) and `abs_basis` (|mark / index - 1|)."""
    window = _window(days, "raw_derivative_ticker")
    frames = schema_frames(con, "raw.derivative_ticker")
    frames["rows"] = SqlFrame(
        con,
        f"""SELECT ticker_date AS {DAY}, exchange, symbol, ts, funding_ts,
               CAST(funding_rate AS DOUBLE) AS funding_rate, CAST(abs(funding_rate) AS DOUBLE) AS abs_funding_rate,
               CAST(open_interest AS DOUBLE) AS open_interest, CAST(mark_price AS DOUBLE) AS mark_price,
               CAST(index_price AS DOUBLE) AS index_price, CAST(last_price AS DOUBLE) AS last_price, source_file,
               {_offsets('ticker_date')},
               CASE WHEN funding_ts IS NULL THEN 0
                    WHEN funding_ts = date_trunc('hour', funding_ts) THEN 0 ELSE 1 END AS funding_off_hour,
               CAST(abs(mark_price / index_price - 1) AS DOUBLE) AS abs_basis
        FROM raw.derivative_ticker WHERE ticker_date BETWEEN $first AND $last""",
        {**window, "now": int(now.timestamp() * US)},
        order_by=("exchange", "symbol", "ts"),
        by=DAY,
    )
    frames["quarantine"] = quarantine_frame(con, "derivative_ticker", "raw.derivative_ticker", "ticker_date", window)
    return frames


def prep_raw_liquidations(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                          now: dt.datetime) -> Frames:
    window = _window(days, "raw_liquidations")
    frames = schema_frames(con, "raw.liquidations")
    frames["rows"] = SqlFrame(
        con,
        f"""SELECT liquidation_date AS {DAY}, exchange, symbol, ts, liquidation_id, side,
               CAST(price AS DOUBLE) AS price, CAST(amount AS DOUBLE) AS amount, source_file,
               {_offsets('liquidation_date')}
        FROM raw.liquidations WHERE liquidation_date BETWEEN $first AND $last""",
        {**window, "now": int(now.timestamp() * US)},
        order_by=("exchange", "symbol", "ts"),
        by=DAY,
    )
    frames["quarantine"] = quarantine_frame(con, "liquidations", "raw.liquidations", "liquidation_date", window)
    return frames


def prep_perp_basis(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                    now: dt.datetime) -> Frames:
    """Minutes of a window with their offset in the day; the prices and basis as floats (the rules
    compare them with bounds; the mart keeps them exact)."""
    window = _window(days, suite.name)
    frames = schema_frames(con, "marts.perp_basis_1m")
    frames["rows"] = SqlFrame(
        con,
        f"""SELECT bar_date AS {DAY}, exchange, symbol, bucket_start, is_filled,
               CAST(mark_price AS DOUBLE) AS mark_price, CAST(index_price AS DOUBLE) AS index_price,
               CAST(basis_bps AS DOUBLE) AS basis_bps,
               (epoch_us(bucket_start) - epoch_us(CAST(bar_date AS TIMESTAMP))) / 1e6 AS bucket_offset_s
        FROM marts.perp_basis_1m WHERE bar_date BETWEEN $first AND $last""",
        window,
        order_by=("exchange", "symbol", "bucket_start"),
        by=DAY,
    )
    return frames


Preparer = Callable[[duckdb.DuckDBPyConnection, SuiteSpec, "list[dt.date] | None", dt.datetime], Frames]

PREPARERS: dict[str, Preparer] = {
    "raw_trades": prep_raw_trades,
    "raw_book_snapshots": prep_raw_book_snapshots,
    "raw_quotes": prep_raw_quotes,
    "raw_derivative_ticker": prep_raw_derivative_ticker,
    "raw_liquidations": prep_raw_liquidations,
    "ohlcv": prep_ohlcv,
    "daily_stats": prep_daily_stats,
    "market_daily_summary": prep_market_daily_summary,
    "rollup": prep_rollup,
    "perp_basis": prep_perp_basis,
}


def prepare_window(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, days: list[dt.date] | None,
                   now: dt.datetime | None = None) -> Frames:
    """The frames `suite` validates for a window of days (None for whole-table suites): each
    day-keyed frame is one `SqlFrame` sliced by `DAY`, evaluated for every day at once
    (`suites.run_window`); the schema frames are the same for every day."""
    kind = suite.meta.get("prep")
    if kind not in PREPARERS:
        raise ValueError(f"suite {suite.name}: meta.prep {kind!r} is not one of {sorted(PREPARERS)}")
    return PREPARERS[kind](con, suite, days, now or dt.datetime.now(dt.UTC))


def prepare(con: duckdb.DuckDBPyConnection, suite: SuiteSpec, day: dt.date | None,
            now: dt.datetime | None = None) -> Frames:
    """The frames `suite` validates for one `day` (None for whole-table suites), each a plain
    frame of that day's rows: what GE and the Data Docs read."""
    frames = prepare_window(con, suite, None if day is None else [day], now)
    for name, f in frames.items():
        if isinstance(f, SqlFrame) and f.by:
            one = f.slice(day)
            frames[name] = one if suite.engine(name) == "duckdb" else one.to_df()  # GE reads pandas
    return frames
