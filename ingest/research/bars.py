"""OHLCV bars of any interval, aligned to a time zone's wall clock, optionally gap-filled.

Buckets. An interval is `<n><unit>` with unit s, m, h or d. Below a day it must divide a day, and
buckets follow the wall clock of `tz` from local midnight: with tz=America/New_York, "4h" bars
start at 00:00, 04:00, ... New York time and "1d" bars are New York calendar days, 23 hours
long on the spring change and 25 on the autumn one. A trade belongs to the bucket that holds the
local time its clock showed; so in the repeated autumn hour both 01:xx hours fall in the 01:00
bucket, and a bucket wholly inside the skipped spring hour does not exist. `bucket_start` and
`bucket_end` are the first and last UTC instants of a bucket (naive UTC, like the marts), and
`local_start` is its wall-clock label. "Nd" buckets are N local days counted from 2000-01-01.
A bucket is returned when start <= bucket_start < end; naive start/end are wall-clock times in
`tz`, aware ones are instants.

Sources. A whole number of minutes is rolled up from `marts.ohlcv_1m` exactly as
macros/rollup_ohlcv.sql does (open of the earliest minute, close of the latest, DECIMAL sums at the
numeric contract's scales, vwap = sum(quote_volume) / sum(volume)): valid because every time zone offset since 1972 is a
whole number of minutes, so a UTC minute lies in one local minute. Other intervals are built from
trades with the marts' 1m rules (open/close by (ts, coalesce(trade_seq, 0), trade_id)).

fill="prev": Binance's kline semantics, as `ohlcv_1m_filled`: from the first to the last traded
bucket of each exchange and symbol in the answer, a bucket without trades gets volume 0, trade
count 0 and open = high = low = close = the previous close (`is_filled` true, vwap and trade
times null).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest import numeric
from ingest.history import HistoricalData
from ingest.research.columns import TRADE_COLUMNS
from ingest.research.common import (
    ResearchError,
    Result,
    Time,
    check_tz,
    read,
    result_of,
    span,
    work_connection,
)
from ingest.sql import sql_literal

DAY_S = 86_400
MAX_INTERVAL_DAYS = 3660  # ten years: a longer bar holds no more than the whole range does
ORIGIN = dt.datetime(2000, 1, 1)  # a local midnight: buckets of whole days count from here
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY_S}
_EPOCH = dt.datetime(1970, 1, 1)
BAR_1M_COLUMNS = ["exchange", "symbol", "bucket_start", "open", "high", "low", "close", "volume", "quote_volume",
                  "trade_count", "buy_volume", "sell_volume", "first_trade_ts", "last_trade_ts"]


@dataclass(frozen=True)
class Interval:
    text: str
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Interval:
        m = re.fullmatch(r"([1-9]\d{0,6})([smhd])", text.strip()) if isinstance(text, str) else None
        if not m:
            raise ResearchError(f"unknown interval {text!r}: expected a positive number and a unit s, m, h or d "
                                "(e.g. 30s, 5m, 4h, 1d)")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
        if seconds > MAX_INTERVAL_DAYS * DAY_S:
            raise ResearchError(f"interval {text!r} is longer than {MAX_INTERVAL_DAYS}d, the longest bar allowed")
        if seconds < DAY_S and DAY_S % seconds:
            raise ResearchError(f"interval {text!r} does not divide a day: bars below a day must tile it")
        if seconds > DAY_S and seconds % DAY_S:
            raise ResearchError(f"interval {text!r} is over a day but not a whole number of days")
        return cls(text.strip(), seconds)

    @property
    def from_minutes(self) -> bool:
        return self.seconds % 60 == 0


def _offset_segments(lo: int, hi: int, tz: zoneinfo.ZoneInfo) -> list[tuple[int, int, int]]:
    """[(from, to, utc offset)] in epoch seconds covering [lo, hi): one per stretch of constant offset."""

    def off(t: int) -> int:
        o = dt.datetime.fromtimestamp(t, tz).utcoffset()
        assert o is not None
        return int(o.total_seconds())

    segments: list[tuple[int, int, int]] = []
    seg_start, cur = lo, off(lo)
    t = lo
    while t < hi:
        nxt = min(hi, t + 3600)
        if off(nxt) != cur and nxt < hi:  # a change inside (t, nxt]: find its first second
            a, b = t, nxt
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if off(mid) == cur else (a, mid)
            segments.append((seg_start, b, cur))
            seg_start, cur = b, off(b)
        t = nxt
    segments.append((seg_start, hi, cur))
    return segments


def bucket_grid(lo: dt.datetime, hi: dt.datetime, interval: Interval, tz: zoneinfo.ZoneInfo) -> pa.Table:
    """Every bucket with lo <= bucket_start < hi: label (local wall clock), bucket_start, bucket_end (UTC)."""
    w = interval.seconds
    origin = int((ORIGIN - _EPOCH).total_seconds())
    a = int((lo - _EPOCH).total_seconds()) - w - 2 * DAY_S
    b = int((hi - _EPOCH).total_seconds()) + w + 2 * DAY_S
    labels, starts, ends = [], [], []
    for s0, s1, off in _offset_segments(a, b, tz):
        k = np.arange((s0 + off - origin) // w, -(-(s1 + off - origin) // w), dtype=np.int64)
        label = origin + k * w
        start = np.maximum(label - off, s0)
        end = np.minimum(label + w - off, s1)
        keep = start < end
        labels.append(label[keep])
        starts.append(start[keep])
        ends.append(end[keep])
    pieces = pa.table({"label": np.concatenate(labels), "start": np.concatenate(starts), "end": np.concatenate(ends)})
    grid = pieces.group_by("label").aggregate([("start", "min"), ("end", "max")]).sort_by("label")
    lo_s, hi_s = (lo - _EPOCH).total_seconds(), (hi - _EPOCH).total_seconds()
    grid = grid.filter(pc.and_(pc.greater_equal(grid["start_min"], lo_s), pc.less(grid["start_min"], hi_s)))

    def ts(col: pa.ChunkedArray) -> pa.Array:
        return pc.cast(pc.multiply(pc.cast(col, pa.int64()), 1_000_000), pa.timestamp("us"))

    return pa.table({"label": ts(grid["label"]), "bucket_start": ts(grid["start_min"]),
                     "bucket_end": ts(grid["end_max"])})


# Sums keep the numeric contract's scales (ingest/numeric.py), as the marts do (macros/bar_columns.sql):
# volumes DECIMAL(38, 12), quote volumes DECIMAL(38, 20); each trade's notional is taken at the sums'
# scale before it is summed (exact by the contract), so a bar of any width sums without overflow.
_ROLLUP_AGG = f"""
    arg_min(open, bucket_start) AS open, max(high) AS high, min(low) AS low, arg_max(close, bucket_start) AS close,
    CAST(sum(volume) AS {numeric.VOLUME_SQL}) AS volume,
    CAST(sum(quote_volume) AS {numeric.NOTIONAL_SQL}) AS quote_volume,
    CAST(sum(trade_count) AS BIGINT) AS trade_count,
    CAST(sum(quote_volume) / nullif(sum(volume), 0) AS DOUBLE) AS vwap,
    CAST(sum(buy_volume) AS {numeric.VOLUME_SQL}) AS buy_volume,
    CAST(sum(sell_volume) AS {numeric.VOLUME_SQL}) AS sell_volume,
    min(first_trade_ts) AS first_trade_ts, max(last_trade_ts) AS last_trade_ts"""

_TRADES_AGG = f"""
    arg_min(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) AS open,
    max(price) AS high, min(price) AS low,
    arg_max(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) AS close,
    CAST(sum(amount) AS {numeric.VOLUME_SQL}) AS volume,
    CAST(sum(quote_amount) AS {numeric.NOTIONAL_SQL}) AS quote_volume,
    CAST(count(*) AS BIGINT) AS trade_count, CAST(sum(quote_amount) / nullif(sum(amount), 0) AS DOUBLE) AS vwap,
    CAST(coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS {numeric.VOLUME_SQL}) AS buy_volume,
    CAST(coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS {numeric.VOLUME_SQL}) AS sell_volume,
    min(ts) AS first_trade_ts, max(ts) AS last_trade_ts"""

_VALUES = ["open", "high", "low", "close", "volume", "quote_volume", "trade_count", "vwap", "buy_volume",
           "sell_volume", "first_trade_ts", "last_trade_ts"]


def bars_sql(interval: Interval, tz_name: str, fill: str | None, from_minutes: bool) -> str:
    """The query over `_src` (1m bars or trades) and `_grid`; time-major order."""
    time_col = "bucket_start" if from_minutes else "ts"
    local = time_col if tz_name == "UTC" else f"timezone({sql_literal(tz_name)}, {time_col}::TIMESTAMPTZ)"
    label = f"time_bucket(to_microseconds({interval.seconds * 1_000_000}), {local}, TIMESTAMP '2000-01-01')"
    if from_minutes:
        src = f"SELECT *, {label} AS label FROM _src"
        agg = _ROLLUP_AGG
    else:
        src = (f"SELECT *, coalesce(trade_seq, 0) AS order_seq, "
               f"{numeric.notional_sql()} AS quote_amount, {label} AS label "
               f"FROM _src")
        agg = _TRADES_AGG
    bars = f"""WITH src AS ({src}),
        agg AS (SELECT exchange, symbol, label, {agg} FROM src GROUP BY exchange, symbol, label),
        bars AS (SELECT a.exchange, a.symbol, g.bucket_start, g.bucket_end, g.label AS local_start,
                        {', '.join('a.' + v for v in _VALUES)}
                 FROM agg a JOIN _grid g ON g.label = a.label)"""
    if fill is None:
        return bars + " SELECT * FROM bars ORDER BY bucket_start, exchange, symbol"
    return bars + f""",
        spans AS (SELECT exchange, symbol, min(bucket_start) AS lo, max(bucket_start) AS hi FROM bars GROUP BY ALL),
        joined AS (
            SELECT s.exchange, s.symbol, g.bucket_start, g.bucket_end, g.label AS local_start,
                   {', '.join('b.' + v for v in _VALUES)},
                   last_value(b.close IGNORE NULLS) OVER (
                       PARTITION BY s.exchange, s.symbol ORDER BY g.bucket_start
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS carried_close
            FROM spans s JOIN _grid g ON g.bucket_start BETWEEN s.lo AND s.hi
            LEFT JOIN bars b ON b.exchange = s.exchange AND b.symbol = s.symbol AND b.bucket_start = g.bucket_start)
        SELECT exchange, symbol, bucket_start, bucket_end, local_start,
               coalesce(open, carried_close) AS open, coalesce(high, carried_close) AS high,
               coalesce(low, carried_close) AS low, coalesce(close, carried_close) AS close,
               coalesce(volume, CAST(0 AS {numeric.VOLUME_SQL})) AS volume,
               coalesce(quote_volume, CAST(0 AS {numeric.NOTIONAL_SQL})) AS quote_volume,
               coalesce(trade_count, CAST(0 AS BIGINT)) AS trade_count, vwap,
               coalesce(buy_volume, CAST(0 AS {numeric.VOLUME_SQL})) AS buy_volume,
               coalesce(sell_volume, CAST(0 AS {numeric.VOLUME_SQL})) AS sell_volume,
               first_trade_ts, last_trade_ts, trade_count IS NULL AS is_filled
        FROM joined ORDER BY bucket_start, exchange, symbol"""


def get_bars(
    hist: HistoricalData,
    symbols: str | Sequence[str],
    interval: str,
    start: Time,
    end: Time,
    *,
    tz: str = "UTC",
    fill: str | None = None,
    exchange: str | None = None,
    source: str = "auto",
    batch_rows: int = 1 << 16,
    numeric: str | None = None,
) -> Result:
    """Bars of `interval` for `symbols`, buckets with start <= bucket_start < end (see the module doc).
    `source`: "auto" (1m bars for whole minutes, else trades), "1m" or "trades" (the same bars, slower)."""
    iv = Interval.parse(interval)
    zone = check_tz(tz)
    if fill not in (None, "prev"):
        raise ResearchError(f"unknown fill {fill!r}: expected None or 'prev'")
    if source not in ("auto", "1m", "trades"):
        raise ResearchError(f"unknown source {source!r}: expected auto, 1m or trades")
    if source == "1m" and not iv.from_minutes:
        raise ResearchError(f"interval {interval!r} is not a whole number of minutes: it needs source='trades'")
    from_minutes = iv.from_minutes and source != "trades"
    syms, exchange, lo, hi = span(symbols, start, end, exchange, zone)
    grid = bucket_grid(*_data_bounded(hist, "ohlcv_1m" if from_minutes else "trades", syms, lo, hi, iv, exchange),
                       iv, zone)
    sql = bars_sql(iv, zone.key, fill, from_minutes)

    def chunks() -> Iterator[pa.RecordBatch]:
        con = work_connection()
        try:
            con.register("_grid", grid)
            if grid.num_rows:  # read exactly the buckets' span, so the first and last bars are whole
                read_lo, read_hi = grid["bucket_start"][0].as_py(), pc.max(grid["bucket_end"]).as_py()
                dataset, cols = ("ohlcv_1m", BAR_1M_COLUMNS) if from_minutes else ("trades", TRADE_COLUMNS)
                con.register("_src", read(hist, dataset, syms, read_lo, read_hi, exchange, cols))
            else:  # a range shorter than any bucket start: the right columns, no rows
                con.execute(f"CREATE TEMP TABLE _src AS SELECT * FROM ({_empty_source(from_minutes)}) WHERE false")
            reader = con.execute(sql).to_arrow_reader(batch_rows)
            yield pa.RecordBatch.from_pylist([], schema=reader.schema)
            yield from reader
        finally:
            con.close()

    return result_of(chunks(), numeric or hist.numeric)


def _data_bounded(hist: HistoricalData, dataset: str, symbols: list[str], lo: dt.datetime, hi: dt.datetime,
                  iv: Interval, exchange: str | None) -> tuple[dt.datetime, dt.datetime]:
    """[lo, hi) narrowed to the days the tiers hold, so the grid (and the work) is sized by the data, not
    the range: 1s bars over 200 years with three days of trades build three days of buckets. The margin
    (one bucket and a day, for time zones) keeps every bucket that can hold a row of those days."""
    held = hist.data_span(dataset, symbols, lo, hi, exchange)
    if held is None:
        return lo, lo  # no data: no bucket
    margin = dt.timedelta(seconds=iv.seconds) + dt.timedelta(days=1)
    first = dt.datetime.combine(held[0], dt.time()) - margin
    last = dt.datetime.combine(held[1], dt.time()) + dt.timedelta(days=2)
    return max(lo, first), min(hi, last)


def _empty_source(from_minutes: bool) -> str:
    """No rows, the source's columns and types (`close` is a keyword: every alias is quoted)."""
    if from_minutes:
        p, v, q = numeric.PRICE_SQL, numeric.VOLUME_SQL, numeric.NOTIONAL_SQL
        return f"""SELECT ''::VARCHAR AS "exchange", ''::VARCHAR AS "symbol", NULL::TIMESTAMP AS "bucket_start",
            0::{p} AS "open", 0::{p} AS "high", 0::{p} AS "low", 0::{p} AS "close",
            0::{v} AS "volume", 0::{q} AS "quote_volume", 0::BIGINT AS "trade_count",
            0::{v} AS "buy_volume", 0::{v} AS "sell_volume", NULL::TIMESTAMP AS "first_trade_ts",
            NULL::TIMESTAMP AS "last_trade_ts" """
    return f"""SELECT ''::VARCHAR AS "exchange", ''::VARCHAR AS "symbol", NULL::TIMESTAMP AS "ts",
        NULL::TIMESTAMP AS "local_ts", ''::VARCHAR AS "trade_id", 0::BIGINT AS "trade_seq", ''::VARCHAR AS "side",
        0::{numeric.PRICE_SQL} AS "price", 0::{numeric.AMOUNT_SQL} AS "amount" """
