"""Information-driven bars from trades: tick, volume and dollar bars.

Per exchange and symbol, trades are taken in the research order (ts, coalesce(trade_seq, 0),
trade_id) from the first trade at or after `start`, and each is measured: 1 (tick), its amount
(volume) or its quote amount price x amount (dollar), exactly (scaled integers, no floats).
With R(i) the running total before trade i and T the threshold, trade i belongs to bar
floor(R(i) / T): a bar closes with the trade that reaches or crosses the next multiple of T, and
a trade that crosses several multiples at once closes one bar (bars are numbered densely, from 0,
per exchange and symbol). Tick bars are therefore exactly every T trades.

Because the running total is carried from one UTC day to the next (with the unfinished bar of
the day, merged with its continuation), a bar may span days, and the answer is the same however
the range is cut into days and on every rerun. The last bar of each symbol is returned with
is_complete = false when the data ran out before it reached the threshold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ingest import numeric
from ingest.history import HistoricalData
from ingest.research.columns import TRADE_COLUMNS
from ingest.research.common import (
    ResearchError,
    Result,
    Time,
    day_chunks,
    positive_decimal,
    read,
    result_of,
    span,
    work_connection,
)


# A positive DECIMAL `v` with at most `s` decimals as the exact integer v * 10^s. One multiplication
# would overflow DuckDB's 38 digits for large values (the product keeps v's scale), so the whole and
# fractional parts are scaled apart (the fraction in steps of at most 10 digits).
def _units(v: str, s: int) -> str:
    whole = f"CAST(trunc({v}) AS HUGEINT) * CAST(1e{s} AS HUGEINT)"
    frac = f"({v} - trunc({v}))"
    if s <= 12:
        return f"({whole} + CAST({frac} * CAST(1e{s} AS HUGEINT) AS HUGEINT))"
    hi = f"({frac} * CAST(1e10 AS HUGEINT))"
    return (f"({whole} + CAST(trunc({hi}) AS HUGEINT) * CAST(1e{s - 10} AS HUGEINT)"
            f" + CAST(({hi} - trunc({hi})) * CAST(1e{s - 10} AS HUGEINT) AS HUGEINT))")


# One trade's notional, exact: the contract keeps it below 1e14 with at most 20 decimals.
_NOTIONAL = numeric.notional_sql()
# kind -> (measure of one trade as an exact integer, decimal places of that integer)
_MEASURES = {
    "tick": ("CAST(1 AS HUGEINT)", 0),
    "volume": (_units("amount", numeric.SCALE), numeric.SCALE),
    "dollar": (_units(_NOTIONAL, numeric.NOTIONAL_SCALE), numeric.NOTIONAL_SCALE),
}

_FRAGMENTS = """
WITH t AS (
    SELECT exchange, symbol, ts, coalesce(trade_seq, 0) AS order_seq, trade_id, side, price, amount,
           {notional} AS quote_amount, {measure} AS x
    FROM _trades
),
r AS (
    SELECT t.*, coalesce(k.total, CAST(0 AS HUGEINT))
               + sum(x) OVER (PARTITION BY t.exchange, t.symbol ORDER BY ts, order_seq, trade_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS after
    FROM t LEFT JOIN _carry k ON k.exchange = t.exchange AND k.symbol = t.symbol
)
SELECT exchange, symbol, (after - x) // CAST($threshold AS HUGEINT) AS grid_id,
       arg_min(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) AS open,
       max(price) AS high, min(price) AS low,
       arg_max(price, struct_pack(ts := ts, order_seq := order_seq, trade_id := trade_id)) AS close,
       CAST(sum(amount) AS {volume}) AS volume, CAST(sum(quote_amount) AS {quote}) AS quote_volume,
       CAST(count(*) AS BIGINT) AS trade_count,
       CAST(coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS {volume}) AS buy_volume,
       CAST(coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS {volume}) AS sell_volume,
       min(ts) AS first_trade_ts, max(ts) AS last_trade_ts, max(after) AS after_total
FROM r GROUP BY exchange, symbol, grid_id
"""

_VOLUME, _QUOTE = numeric.VOLUME_SQL, numeric.NOTIONAL_SQL
# Fragments of one bar from consecutive days combine: part 0 is the carried (earlier) one.
_MERGE = f"""
CREATE OR REPLACE TEMP TABLE _merged AS
SELECT exchange, symbol, grid_id,
       arg_min(open, part) AS open, max(high) AS high, min(low) AS low, arg_max(close, part) AS close,
       CAST(sum(volume) AS {_VOLUME}) AS volume, CAST(sum(quote_volume) AS {_QUOTE}) AS quote_volume,
       CAST(sum(trade_count) AS BIGINT) AS trade_count,
       CAST(sum(buy_volume) AS {_VOLUME}) AS buy_volume, CAST(sum(sell_volume) AS {_VOLUME}) AS sell_volume,
       min(first_trade_ts) AS first_trade_ts, max(last_trade_ts) AS last_trade_ts, max(after_total) AS after_total,
       max(after_total) // CAST($threshold AS HUGEINT) > grid_id AS is_complete
FROM (SELECT 0 AS part, * FROM _pending UNION ALL BY NAME SELECT 1 AS part, * FROM _fragments)
GROUP BY exchange, symbol, grid_id
"""

_EMIT = """
SELECT m.exchange, m.symbol, coalesce(n.bars, 0)
           + row_number() OVER (PARTITION BY m.exchange, m.symbol ORDER BY m.grid_id) - 1 AS bar,
       m.first_trade_ts, m.last_trade_ts, m.open, m.high, m.low, m.close, m.volume, m.quote_volume, m.trade_count,
       CAST(m.quote_volume / nullif(m.volume, 0) AS DOUBLE) AS vwap, m.buy_volume, m.sell_volume, m.is_complete
FROM _merged m LEFT JOIN _counts n ON n.exchange = m.exchange AND n.symbol = m.symbol
WHERE m.is_complete = $complete
ORDER BY m.last_trade_ts, m.exchange, m.symbol, bar
"""


def threshold_units(kind: str, threshold: Any) -> int:
    """The threshold as an integer in the measure's units (tick: trades; volume: 1e-12; dollar: 1e-20)."""
    if kind not in _MEASURES:
        raise ResearchError(f"unknown bar kind {kind!r}: expected tick, volume or dollar")
    value = positive_decimal(threshold, f"{kind} threshold")
    scaled = value * (Decimal(10) ** _MEASURES[kind][1])
    if scaled != scaled.to_integral_value():
        places = _MEASURES[kind][1]
        raise ResearchError(f"{kind} threshold {threshold!r} has more than {places} decimal places"
                            + (" (tick bars count whole trades)" if kind == "tick" else ""))
    return int(scaled)


def info_bars(
    hist: HistoricalData,
    symbols: str | Sequence[str],
    kind: str,
    threshold: Any,
    start: Time,
    end: Time,
    *,
    exchange: str | None = None,
    numeric: str | None = None,
) -> Result:
    """Tick ("tick"), volume ("volume") or dollar ("dollar") bars of `symbols` from trades in [start, end)."""
    units = threshold_units(kind, threshold)
    syms, exchange, lo, hi = span(symbols, start, end, exchange)
    fragments_sql = _FRAGMENTS.format(measure=_MEASURES[kind][0], notional=_NOTIONAL, volume=_VOLUME, quote=_QUOTE)
    th = {"threshold": str(units)}

    def chunks() -> Iterator[pa.RecordBatch]:
        con = work_connection()
        try:
            con.execute("CREATE TEMP TABLE _carry (exchange VARCHAR, symbol VARCHAR, total HUGEINT)")
            con.execute("CREATE TEMP TABLE _counts (exchange VARCHAR, symbol VARCHAR, bars BIGINT)")
            pending_made = False
            for c_lo, c_hi in day_chunks(lo, hi):
                con.register("_trades", read(hist, "trades", syms, c_lo, c_hi, exchange, TRADE_COLUMNS))
                con.execute(f"CREATE OR REPLACE TEMP TABLE _fragments AS {fragments_sql}", th)
                con.unregister("_trades")
                if not pending_made:  # same columns as a fragment, no rows
                    con.execute("CREATE TEMP TABLE _pending AS SELECT * FROM _fragments WHERE false")
                    pending_made = True
                con.execute(_MERGE, th)
                yield from con.execute(_EMIT, {"complete": True}).to_arrow_table().to_batches()
                con.execute("""
                    CREATE OR REPLACE TEMP TABLE _counts AS
                    SELECT exchange, symbol, sum(bars) AS bars FROM (
                        SELECT exchange, symbol, bars FROM _counts
                        UNION ALL SELECT exchange, symbol, count(*) FROM _merged WHERE is_complete GROUP BY ALL)
                    GROUP BY ALL;
                    CREATE OR REPLACE TEMP TABLE _carry AS
                    SELECT exchange, symbol, max(total) AS total FROM (
                        SELECT exchange, symbol, total FROM _carry
                        UNION ALL SELECT exchange, symbol, after_total FROM _merged)
                    GROUP BY ALL;
                    CREATE OR REPLACE TEMP TABLE _pending AS
                    SELECT * EXCLUDE (is_complete) FROM _merged WHERE NOT is_complete;""")
            if pending_made:
                yield from con.execute(_EMIT, {"complete": False}).to_arrow_table().to_batches()
            schema = con.execute(_EMIT.replace("WHERE", "WHERE false AND"), {"complete": False})
            yield pa.RecordBatch.from_pylist([], schema=schema.to_arrow_table().schema)
        finally:
            con.close()

    return result_of(chunks(), numeric or hist.numeric)

