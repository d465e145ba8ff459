"""Replay: trades and book snapshots of several symbols as one stream in exchange-time order.

The order is total, so two replays of the same data are identical: (ts, exchange, symbol, kind
with book before trade, then within trades (coalesce(trade_seq, 0), trade_id) and within books
(local_ts, depth, top of book)). A snapshot stamped at a trade's exact time comes first, which is
the state `asof_join` pairs that trade with. Every trade and every snapshot in [start, end) is
emitted once: nothing is deduplicated or dropped.

One UTC day is merged at a time (days partition the warehouse, so concatenated days stay in
order): memory is bounded by a day of events. `batches()` gives Arrow record batches (the fast
path); `events()` gives one named tuple per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from ingest import numbers, numeric
from ingest.history import BATCH_ROWS, HistoricalData
from ingest.research.columns import BOOK_LEVEL_COLUMNS, BOOK_TOP_COLUMNS, TRADE_COLUMNS
from ingest.research.common import (
    ResearchError,
    Result,
    Time,
    day_chunks,
    lake_connection,
    span,
)

_PRICE, _AMOUNT = numeric.PRICE_SQL, numeric.AMOUNT_SQL


class Event(NamedTuple):
    ts: Any
    kind: str  # "book" or "trade"
    exchange: str
    symbol: str
    local_ts: Any
    trade_id: str | None
    trade_seq: int | None
    side: str | None
    price: Any  # Decimal (numeric="exact") or float (numeric="float"), as every number of the event
    amount: Any
    depth: int | None
    bid_price: Any
    bid_amount: Any
    ask_price: Any
    ask_amount: Any


# One sort of the day's union, led by one BIGINT that orders like (ts, exchange, symbol, book before
# trade): the pair's place among the day's sorted (exchange, symbol) pairs replaces two string keys,
# which halved the sort against ordering on the twelve columns themselves. Both streams are scanned
# in place (the lake's files or a cold day's downloads), never copied first.
_PAIRS = """
CREATE OR REPLACE TEMP TABLE _pairs AS
SELECT exchange, symbol, (row_number() OVER (ORDER BY exchange, symbol) - 1) * 2 AS code, count(*) OVER () * 2 AS n2
FROM (SELECT DISTINCT exchange, symbol FROM ({books}) UNION SELECT DISTINCT exchange, symbol FROM ({trades}))
"""
_MERGE = """
SELECT * EXCLUDE (_key) FROM (
    SELECT ts, 'book' AS kind, exchange, symbol, local_ts, NULL::VARCHAR AS trade_id, NULL::BIGINT AS trade_seq,
           NULL::VARCHAR AS side, NULL::{price} AS price, NULL::{amount} AS amount,
           depth, bid_price, bid_amount, ask_price, ask_amount{levels}, epoch_us(ts) * p.n2 + p.code AS _key
    FROM ({books}) JOIN _pairs p USING (exchange, symbol)
    UNION ALL
    SELECT ts, 'trade', exchange, symbol, local_ts, trade_id, trade_seq, side,
           CAST(price AS {price}), CAST(amount AS {amount}),
           NULL::INTEGER, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE{null_levels},
           epoch_us(ts) * p.n2 + p.code + 1
    FROM ({trades}) JOIN _pairs p USING (exchange, symbol)
)
ORDER BY _key, coalesce(trade_seq, 0), trade_id, local_ts NULLS FIRST, depth, bid_price, ask_price,
         bid_amount, ask_amount
"""


class Replay(Result):
    """A Result whose rows are events; `events()` iterates them one by one as `Event` tuples."""

    def events(self) -> Iterator[Event]:
        fields = Event._fields
        for batch in self.batches():
            columns = [batch.column(name).to_pylist() for name in fields]
            yield from map(Event._make, zip(*columns, strict=True))


def replay(
    hist: HistoricalData,
    symbols: str | Sequence[str],
    start: Time,
    end: Time,
    *,
    exchange: str | None = None,
    trades: bool = True,
    book: bool = True,
    levels: bool = False,
    batch_rows: int = BATCH_ROWS,
    numeric: str | None = None,
) -> Replay:
    """Events of `symbols` in [start, end) (UTC); `trades`/`book` choose the streams, `levels` adds
    the book's level lists (bid_prices, bid_amounts, ask_prices, ask_amounts)."""
    if not (trades or book):
        raise ResearchError("replay needs trades, book or both")
    syms, exchange, lo, hi = span(symbols, start, end, exchange)
    level_cols = BOOK_LEVEL_COLUMNS if levels else []
    numeric = numbers.check_mode(numeric or hist.numeric)
    fmt = {"price": _PRICE, "amount": _AMOUNT,
           "levels": "".join(f", {c}" for c in level_cols),
           "null_levels": "".join(f", NULL::DOUBLE[] AS {c}" for c in level_cols)}

    def queries(con: duckdb.DuckDBPyConnection, stream: str, c_lo: Any, c_hi: Any) -> Iterator[tuple[str, list]]:
        if not {"_trades": trades, "_book": book}[stream]:
            yield f"{_EMPTY[stream]} WHERE false", []
            return
        dataset, cols = ("trades", TRADE_COLUMNS) if stream == "_trades" else ("book_snapshots",
                                                                             BOOK_TOP_COLUMNS + level_cols)
        yield from hist.day_queries(con, dataset, syms, c_lo, c_hi, exchange, columns=cols, ordered=False)

    def chunks() -> Iterator[pa.RecordBatch]:
        with lake_connection(hist) as con:
            for c_lo, c_hi in day_chunks(lo, hi):
                for trades_sql, trades_params in queries(con, "_trades", c_lo, c_hi):
                    for books_sql, books_params in queries(con, "_book", c_lo, c_hi):
                        sources = {"books": books_sql, "trades": trades_sql}
                        con.execute(_PAIRS.format(**sources), [*books_params, *trades_params])
                        merged = con.execute(_MERGE.format(**fmt, **sources), [*books_params, *trades_params])
                        reader = merged.to_arrow_reader(batch_rows)
                        yield pa.RecordBatch.from_pylist([], schema=reader.schema)
                        yield from reader

    gen = chunks()
    first = next(gen)

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from gen

    return Replay(first.schema, chain(), numeric)


_EMPTY = {
    "_trades": f"""SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        ''::VARCHAR trade_id, 0::BIGINT trade_seq, ''::VARCHAR side, 0::{numeric.PRICE_SQL} price,
        0::{numeric.AMOUNT_SQL} amount""",
    "_book": """SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        0::INTEGER depth, 0::DOUBLE bid_price, 0::DOUBLE bid_amount, 0::DOUBLE ask_price, 0::DOUBLE ask_amount,
        NULL::DOUBLE[] bid_prices, NULL::DOUBLE[] bid_amounts, NULL::DOUBLE[] ask_prices,
        NULL::DOUBLE[] ask_amounts""",
}
