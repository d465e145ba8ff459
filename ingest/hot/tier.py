"""The hot tier's tables in ClickHouse, and the two things done to them: idempotent inserts and bars.

* `hot_trades`: every trade of the last `ttl_hours`, MergeTree ordered by (exchange, symbol,
  ts), partitioned by day, with the JetStream sequence of its message (`stream_seq`, min/max
  indexed). Loads leave out the trades already present per sequence and tag each insert with
  a token of its rows (`non_replicated_deduplication_window`): see `ingest.hot.load`.
* `hot_ohlcv_1m`: AggregatingMergeTree fed by the materialized view `hot_ohlcv_1m_mv`, so bars
  are current the moment an insert returns, without re-reading trades. Partial states merge in
  the background; `hot_ohlcv_1m_bars` finalises them at read time.

The bar definition is dbt's `ohlcv_1m` column for column (bucket [minute, minute + 1),
open/close by (ts, trade_seq or 0, trade_id), exact DECIMAL sums, quote volume computed in
DECIMAL(38,20), vwap the double quotient of the two sums), so live and warm bars of the same
trades compare equal.

TTL: `event` expires rows 24 h after their exchange timestamp (production: the hot window),
`ingest` 24 h after they were loaded (replaying an old day for tests or demos would otherwise
expire on arrival). The target table of the view gets the same rule.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

TTL_BASES = ("event", "ingest")
BAR_COLUMNS = (
    "exchange",
    "symbol",
    "bucket_start",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "vwap",
    "buy_volume",
    "sell_volume",
    "first_trade_ts",
    "last_trade_ts",
)


@dataclass(frozen=True)
class HotSettings:
    ttl_hours: int = 24  # 0 keeps rows forever
    ttl_basis: str = "event"
    dedup_window: int = 10_000  # inserts (blocks) whose tokens are remembered

    def __post_init__(self) -> None:
        if self.ttl_basis not in TTL_BASES:
            raise ValueError(f"ttl_basis must be one of {TTL_BASES}, got {self.ttl_basis!r}")
        if self.ttl_hours < 0 or self.dedup_window < 1:
            raise ValueError("ttl_hours must be >= 0 and dedup_window >= 1")


def _table_ddl(name: str, columns: str, engine: str, time_column: str) -> str:
    """Both hot tables: a partition per UTC day, sorted by instrument and time, the retention TTL
    (`{ttl}`) and the dedup window (`{window}`) that makes a repeated insert a no-op."""
    return f"""
CREATE TABLE IF NOT EXISTS {name} ({columns})
ENGINE = {engine}
PARTITION BY toDate({time_column})
ORDER BY (exchange, symbol, {time_column})
{{ttl}}
SETTINGS non_replicated_deduplication_window = {{window}}
"""


_TRADES_DDL = _table_ddl("hot_trades", """
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    ts DateTime64(6, 'UTC'),
    local_ts Nullable(DateTime64(6, 'UTC')),
    trade_id String,
    trade_seq Nullable(Int64),
    side LowCardinality(String),
    price Decimal(22, 12),
    amount Decimal(28, 12),
    stream_seq UInt64,
    ingested_at DateTime64(6, 'UTC') DEFAULT now64(6)
""", "MergeTree", "ts")

_BARS_DDL = _table_ddl("hot_ohlcv_1m", """
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    bucket_start DateTime64(6, 'UTC'),
    open AggregateFunction(argMin, Decimal(22, 12), Tuple(DateTime64(6, 'UTC'), Int64, String)),
    high SimpleAggregateFunction(max, Decimal(22, 12)),
    low SimpleAggregateFunction(min, Decimal(22, 12)),
    close AggregateFunction(argMax, Decimal(22, 12), Tuple(DateTime64(6, 'UTC'), Int64, String)),
    volume SimpleAggregateFunction(sum, Decimal(38, 12)),
    quote_volume SimpleAggregateFunction(sum, Decimal(38, 20)),
    trade_count SimpleAggregateFunction(sum, UInt64),
    buy_volume SimpleAggregateFunction(sum, Decimal(38, 12)),
    sell_volume SimpleAggregateFunction(sum, Decimal(38, 12)),
    first_trade_ts SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_trade_ts SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    last_ingested_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
""", "AggregatingMergeTree", "bucket_start")

# The dedup window on the view's target matters: ClickHouse deduplicates the view's insert
# at its target table, with a token derived from ours.
_MV_DDL = """
CREATE MATERIALIZED VIEW IF NOT EXISTS hot_ohlcv_1m_mv TO hot_ohlcv_1m AS
SELECT{bar},
    max(ingested_at) AS last_ingested_at
FROM hot_trades
GROUP BY exchange, symbol, bucket_start
"""



def minute_bar_columns(state: str = "") -> str:
    """The 1m bar over trade rows in ClickHouse, grouped by (exchange, symbol, bucket_start).

    `state="State"` gives the partial states the materialized view stores (merged at read time);
    "" the finished values of a one-shot GROUP BY. vwap is left to the reader (see duckdb_double).
    """
    return f"""
    exchange,
    symbol,
    toDateTime64(toStartOfMinute(ts), 6, 'UTC') AS bucket_start,
    argMin{state}(price, (ts, ifNull(trade_seq, 0), trade_id)) AS open,
    max(price) AS high,
    min(price) AS low,
    argMax{state}(price, (ts, ifNull(trade_seq, 0), trade_id)) AS close,
    sum(toDecimal128(amount, 12)) AS volume,
    -- price * amount is Decimal(38, 24) as in DuckDB; the feed refuses notionals beyond 20
    -- decimals, so narrowing the block's per-minute sum to the column's scale is exact.
    toDecimal128(sum(toDecimal128(price, 12) * toDecimal128(amount, 12)), 20) AS quote_volume,
    toUInt64(count()) AS trade_count,
    sumIf(toDecimal128(amount, 12), side = 'buy') AS buy_volume,
    sumIf(toDecimal128(amount, 12), side = 'sell') AS sell_volume,
    min(ts) AS first_trade_ts,
    max(ts) AS last_trade_ts"""


_BARS_VIEW_DDL = """
CREATE OR REPLACE VIEW hot_ohlcv_1m_bars AS
SELECT
    exchange,
    symbol,
    toDate(bucket_start) AS bar_date,
    bucket_start,
    bucket_start + INTERVAL 1 MINUTE AS bucket_end,
    argMinMerge(open) AS open,
    max(high) AS high,
    min(low) AS low,
    argMaxMerge(close) AS close,
    sum(volume) AS volume,
    sum(quote_volume) AS quote_volume,
    sum(trade_count) AS trade_count,
    -- `volume` and `quote_volume` are the aliases above (ClickHouse resolves aliases first).
    if(volume = 0, NULL, {vwap_num} / {vwap_den}) AS vwap,
    sum(buy_volume) AS buy_volume,
    sum(sell_volume) AS sell_volume,
    min(first_trade_ts) AS first_trade_ts,
    max(last_trade_ts) AS last_trade_ts
FROM hot_ohlcv_1m
GROUP BY exchange, symbol, bucket_start
"""


def duckdb_double(column: str, scale: int) -> str:
    """SQL for DuckDB's DECIMAL(38, scale) -> DOUBLE cast, bit for bit, on a ClickHouse Decimal128.

    vwap is a double quotient of two exact sums, so live and dbt bars agree to the bit only if
    both sides turn the sums into doubles the same way. Neither cast is correctly rounded, and
    they differ: ClickHouse's `toFloat64` gives 559243.4154299999 for 559243.41543, DuckDB
    559243.41543, and for 663.81644 it is DuckDB that is off by an ulp. DuckDB 1.5.5
    (TryCastDecimalToFloatingPoint): unscaled / 10^scale when the unscaled integer is exact in a
    double (|u| <= 2^53), else double(u div 10^scale) + double(u mod 10^scale) / 10^scale, the
    128-bit quotient converted as lower + upper * 2^64. Checked against DuckDB on random values.
    """
    p = 10**scale
    u = f"reinterpretAsInt128({column})"
    # 10^scale as a string: a numeric literal above 2^64 would be parsed as a Float64.
    q = f"intDiv({u}, toInt128('{p}'))"
    r = f"({u} % toInt128('{p}'))"

    def int128_double(x: str) -> str:
        return (
            f"(toFloat64(toUInt64(bitAnd({x}, toInt128('18446744073709551615')))) "
            f"+ toFloat64(toInt64(bitShiftRight({x}, 64))) * 18446744073709551616.0)"
        )

    # Scales above 18 leave remainders beyond int64: DuckDB converts them as 128-bit integers too.
    r_double = int128_double(r) if p > 2**63 else f"toFloat64(toInt64({r}))"
    return (
        f"if(abs({u}) <= 9007199254740992, toFloat64(toInt64({u})) / {float(p)!r}, "
        f"{int128_double(q)} + {r_double} / {float(p)!r})"
    )


def _ttl_expr(settings: HotSettings, table: str) -> str | None:
    """The TTL expression as ClickHouse prints it back (so a comparison finds no change)."""
    if not settings.ttl_hours:
        return None
    column = {
        ("hot_trades", "event"): "ts",
        ("hot_trades", "ingest"): "ingested_at",
        ("hot_ohlcv_1m", "event"): "bucket_start",
        ("hot_ohlcv_1m", "ingest"): "last_ingested_at",
    }[(table, settings.ttl_basis)]
    return f"toDateTime({column}) + toIntervalHour({settings.ttl_hours})"


_ensured: set[tuple[str, HotSettings]] = set()
_ensure_lock = threading.Lock()


def ensure_schema(client: Client, settings: HotSettings, cache_key: str | None = None) -> None:
    """Create the tables, view and bars view; bring TTL and dedup window to `settings`.

    Idempotent and cheap to repeat; with `cache_key` it runs once per process and target.
    """
    if cache_key is not None and (cache_key, settings) in _ensured:
        return
    with _ensure_lock:
        for table, ddl in (("hot_trades", _TRADES_DDL), ("hot_ohlcv_1m", _BARS_DDL)):
            ttl = _ttl_expr(settings, table)
            client.command(ddl.format(ttl=f"TTL {ttl}" if ttl else "", window=settings.dedup_window))
            engine = client.command(
                "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
                parameters={"t": table},
            )
            engine = str(engine)
            if ttl and f"TTL {ttl}" not in engine:
                log.info("%s: setting TTL %s", table, ttl)
                client.command(f"ALTER TABLE {table} MODIFY TTL {ttl}")
            elif not ttl and " TTL " in f" {engine} ":
                log.info("%s: removing TTL", table)
                client.command(f"ALTER TABLE {table} REMOVE TTL")
            if f"non_replicated_deduplication_window = {settings.dedup_window}" not in engine:
                client.command(
                    f"ALTER TABLE {table} MODIFY SETTING non_replicated_deduplication_window = {settings.dedup_window}"
                )
        # Loads look up the keys already present per block of stream sequences; parts hold narrow
        # sequence ranges (inserted in stream order), so a min/max index prunes nearly all of them.
        client.command(
            "ALTER TABLE hot_trades ADD INDEX IF NOT EXISTS stream_seq_minmax stream_seq TYPE minmax GRANULARITY 1"
        )
        client.command(_MV_DDL.format(bar=minute_bar_columns("State")))
        client.command(
            _BARS_VIEW_DDL.format(vwap_num=duckdb_double("quote_volume", 20), vwap_den=duckdb_double("volume", 12))
        )
        if cache_key is not None:
            _ensured.add((cache_key, settings))


def to_hot_rows(trades: pa.Table, stream_seq: pa.Array | None = None) -> pa.Table:
    """Canonical trades (as decoded from messages) in `hot_trades` column names and types."""
    n = trades.num_rows
    seq = stream_seq if stream_seq is not None else pa.array([0] * n, pa.uint64())
    return pa.table(
        {
            "exchange": trades["exchange"],
            "symbol": trades["symbol"],
            "ts": pc.cast(trades["ts_us"], pa.timestamp("us", tz="UTC")),
            "local_ts": pc.cast(trades["local_ts_us"], pa.timestamp("us", tz="UTC")),
            "trade_id": trades["trade_id"],
            "trade_seq": trades["trade_seq"],
            "side": trades["side"],
            "price": trades["price"],
            "amount": trades["amount"],
            "stream_seq": pc.cast(seq, pa.uint64()),
        }
    )


def insert_trades(client: Client, rows: pa.Table, token: str) -> int:
    """Insert `hot_trades` rows once: the same `token` again is dropped by the server.

    ClickHouse suffixes the token per block, so the same rows in the same order always map to
    the same block tokens; the view's insert is deduplicated with them.
    """
    if not rows.num_rows:
        return 0
    client.insert_arrow(
        "hot_trades",
        rows,
        settings={
            "insert_deduplicate": 1,
            "insert_deduplication_token": token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        },
    )
    return rows.num_rows


def present_keys(client: Client, first_seq: int, last_seq: int) -> pa.Table:
    """(stream_seq, exchange, symbol, trade_id) of the trades already in `hot_trades` for these sequences."""
    table = client.query_arrow(
        "SELECT stream_seq, toString(exchange) AS exchange, toString(symbol) AS symbol, trade_id FROM hot_trades "
        "WHERE stream_seq BETWEEN {a:UInt64} AND {b:UInt64}",
        parameters={"a": first_seq, "b": last_seq},
        use_strings=True,
    )
    return pa.table(
        {
            "stream_seq": pc.cast(table["stream_seq"], pa.uint64()),
            "exchange": pc.cast(table["exchange"], pa.string()),
            "symbol": pc.cast(table["symbol"], pa.string()),
            "trade_id": pc.cast(table["trade_id"], pa.string()),
        }
    )


def _naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def day_bars(client: Client, day: dt.date) -> list[tuple]:
    """The day's finalised 1-minute bars in BAR_COLUMNS order, sorted; timestamps naive UTC."""
    rows = client.query(
        f"SELECT {', '.join(BAR_COLUMNS)} FROM hot_ohlcv_1m_bars WHERE bar_date = {{d:Date}} ORDER BY ALL",
        parameters={"d": day},
    ).result_rows
    return [tuple(_naive_utc(v) for v in row) for row in rows]


def day_totals(client: Client, day: dt.date) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Trades and base volume per (exchange, symbol) on a UTC day, from the trades themselves."""
    rows = client.query(
        "SELECT exchange, symbol, count(), sum(toDecimal128(amount, 12)) FROM hot_trades "
        "WHERE toDate(ts) = {d:Date} GROUP BY exchange, symbol",
        parameters={"d": day},
    ).result_rows
    return {(e, s): (int(n), Decimal(v)) for e, s, n, v in rows}
