"""End-of-day reconciliation: the hot tier's bars for a day against bars from warm `raw.trades`.

The live path and the vendor file are independent routes to the same trades, so once the
day's file is loaded they must agree minute by minute. Differences mean trades the feed
missed (gaps), trades it doubled, or trades one side rejected. The hot tier keeps only its
retention window, so minutes older than the window's horizon are reported but not held
against it.

The warm bars are computed here from `raw.trades` with dbt `ohlcv_1m`'s definition rather
than read from the mart, because the check runs right after the raw load, before dbt.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from ingest.hot.tier import BAR_COLUMNS

# Same expressions as dbt's stg_trades + ohlcv_1m, over raw.trades, for the minutes from
# $since (the hot tier's horizon) on each day of a window. tests/test_dbt_models.py builds both
# on the same trades and requires equal bars, so a change to one that misses the other fails.
WARM_BARS_SQL = """
SELECT
    trade_date,
    exchange,
    symbol,
    date_trunc('minute', ts) AS bucket_start,
    arg_min(price, struct_pack(ts := ts, order_seq := coalesce(trade_seq, 0), trade_id := trade_id)) AS open,
    max(price) AS high,
    min(price) AS low,
    arg_max(price, struct_pack(ts := ts, order_seq := coalesce(trade_seq, 0), trade_id := trade_id)) AS close,
    cast(sum(amount) AS decimal(38, 12)) AS volume,
    cast(sum(price * amount) AS decimal(38, 20)) AS quote_volume,
    cast(count(*) AS bigint) AS trade_count,
    cast(cast(sum(price * amount) AS decimal(38, 20)) / nullif(sum(amount), 0) AS double) AS vwap,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS decimal(38, 12)) AS buy_volume,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS decimal(38, 12)) AS sell_volume,
    min(ts) AS first_trade_ts,
    max(ts) AS last_trade_ts
FROM raw.trades
WHERE trade_date BETWEEN $first AND $last
GROUP BY trade_date, exchange, symbol, bucket_start
HAVING bucket_start >= $since
ORDER BY ALL
"""
# The minutes before $since are reported, not judged: their trade count and volume per symbol
# are all the reconciliation reads of them, so they are summed here instead of fetched as bars
# (fetching a day of bars as Python values cost ~0.3 s; a backfill reads 30 such days).
WARM_TOTALS_SQL = """
SELECT trade_date, exchange, symbol, cast(count(*) AS bigint), cast(sum(amount) AS decimal(38, 12))
FROM raw.trades
WHERE trade_date BETWEEN $first AND $last AND date_trunc('minute', ts) < $since
GROUP BY ALL
"""

_VALUE_FIELDS = BAR_COLUMNS[3:]
VWAP_REL_TOL = 1e-12


# Earlier than any trade: "judge every minute".
_WHOLE_DAY = dt.datetime(1970, 1, 1)


@dataclass
class WarmSide:
    """The warm side of one day: bars of the judged minutes, totals of the others."""

    bars: list[tuple] = field(default_factory=list)
    before: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)  # (exchange, symbol)


def warm_window(con: duckdb.DuckDBPyConnection, days: list[dt.date],
                since: dt.datetime | None = None) -> dict[dt.date, WarmSide]:
    """Each day's `WarmSide` from `raw.trades`, in two queries for the whole window."""
    window = {"first": min(days), "last": max(days), "since": since or _WHOLE_DAY}
    out = {day: WarmSide() for day in days}
    for row in con.execute(WARM_BARS_SQL, window).fetchall():
        if row[0] in out:
            out[row[0]].bars.append(tuple(row[1:]))
    if since is not None:
        for day, exchange, symbol, trades, volume in con.execute(WARM_TOTALS_SQL, window).fetchall():
            if day in out:
                out[day].before[(exchange, symbol)] = (trades, volume)
    return out


def warm_bars(con: duckdb.DuckDBPyConnection, day: dt.date) -> list[tuple]:
    """Every 1-minute bar of `day` from `raw.trades` (BAR_COLUMNS order)."""
    return warm_window(con, [day])[day].bars


@dataclass
class Reconciliation:
    """Result for one day. `ok` judges only minutes inside the hot window (`since` onwards)."""

    day: dt.date
    since: dt.datetime | None
    warm_trades: int = 0
    hot_trades: int = 0
    warm_volume: Decimal = Decimal(0)
    hot_volume: Decimal = Decimal(0)
    minutes_compared: int = 0
    minutes_equal: int = 0
    only_warm: list[tuple[str, str, dt.datetime]] = field(default_factory=list)
    only_hot: list[tuple[str, str, dt.datetime]] = field(default_factory=list)
    minutes_different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)  # the first differing minutes
    outside_window_warm_trades: int = 0
    per_symbol: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, side: str, exchange: str, symbol: str, trades: int, volume: Decimal) -> None:
        """Count trades and volume of `side` ("warm" or "hot") in the totals and per symbol."""
        sym = self.per_symbol.setdefault(
            f"{exchange}:{symbol}", {"warm_trades": 0, "hot_trades": 0, "warm_volume": "0", "hot_volume": "0"}
        )
        sym[f"{side}_trades"] += trades
        sym[f"{side}_volume"] = str(Decimal(sym[f"{side}_volume"]) + volume)
        setattr(self, f"{side}_trades", getattr(self, f"{side}_trades") + trades)
        setattr(self, f"{side}_volume", getattr(self, f"{side}_volume") + volume)

    @property
    def ok(self) -> bool:
        return not (self.only_warm or self.only_hot or self.minutes_different)

    def summary(self) -> str:
        if self.ok:
            return f"{self.day}: {self.minutes_compared} minute bars equal ({self.hot_trades} trades)"
        return (
            f"{self.day}: {self.minutes_different} minute bars differ, {len(self.only_warm)} only in warm, "
            f"{len(self.only_hot)} only in hot; trades warm {self.warm_trades} vs hot {self.hot_trades}"
        )


def _same(name: str, a: Any, b: Any) -> bool:
    if name == "vwap" and a is not None and b is not None:
        # A double quotient of two exact sums: engines may round the last bit differently.
        return math.isclose(float(a), float(b), rel_tol=VWAP_REL_TOL)
    return a == b


def reconcile(
    day: dt.date, warm: list[tuple] | WarmSide, hot: list[tuple], since: dt.datetime | None = None,
    max_examples: int = 20,
) -> Reconciliation:
    """Compare bars (BAR_COLUMNS order). Minutes before `since` (naive UTC) are not judged; a
    `WarmSide` brings their warm totals instead of their bars."""
    result = Reconciliation(day=day, since=since)
    if isinstance(warm, WarmSide):
        for (exchange, symbol), (trades, volume) in warm.before.items():
            result.add("warm", exchange, symbol, trades, volume)
            result.outside_window_warm_trades += trades
        warm = warm.bars
    w = {(r[0], r[1], r[2]): r for r in warm}
    h = {(r[0], r[1], r[2]): r for r in hot}
    count_i, volume_i = BAR_COLUMNS.index("trade_count"), BAR_COLUMNS.index("volume")

    def judged(key: tuple) -> bool:
        return since is None or key[2] >= since

    for key in sorted(w.keys() | h.keys()):
        a, b = w.get(key), h.get(key)
        if a is not None:
            result.add("warm", key[0], key[1], a[count_i], a[volume_i])
        if b is not None:
            result.add("hot", key[0], key[1], b[count_i], b[volume_i])
        if not judged(key):
            if a is not None:
                result.outside_window_warm_trades += a[count_i]
            continue
        if a is None:
            result.only_hot.append(key)
            continue
        if b is None:
            result.only_warm.append(key)
            continue
        result.minutes_compared += 1
        diffs = {
            name: {"warm": str(x), "hot": str(y)}
            for name, x, y in zip(_VALUE_FIELDS, a[3:], b[3:], strict=True)
            if not _same(name, x, y)
        }
        if diffs:
            result.minutes_different += 1
            if len(result.examples) < max_examples:
                result.examples.append({"exchange": key[0], "symbol": key[1], "minute": str(key[2]), **diffs})
        else:
            result.minutes_equal += 1
    return result
