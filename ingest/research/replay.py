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

import pyarrow as pa

from ingest.history import BATCH_ROWS, HistoricalData
from ingest.research.common import (
    BOOK_LEVEL_COLUMNS,
    BOOK_TOP_COLUMNS,
    TRADE_COLUMNS,
    ResearchError,
    Result,
    Time,
    check_exchange,
    check_symbols,
    day_chunks,
    read,
    utc_range,
    work_connection,
)


class Event(NamedTuple):
    ts: Any
    kind: str  # "book" or "trade"
    exchange: str
    symbol: str
    local_ts: Any
    trade_id: str | None
    trade_seq: int | None
    side: str | None
    price: Any
    amount: Any
    depth: int | None
    bid_price: float | None
    bid_amount: float | None
    ask_price: float | None
    ask_amount: float | None


_MERGE = """
SELECT ts, kind, exchange, symbol, local_ts, trade_id, trade_seq, side, price, amount,
       depth, bid_price, bid_amount, ask_price, ask_amount{levels}
FROM (
    SELECT ts, 'book' AS kind, exchange, symbol, local_ts, NULL::VARCHAR AS trade_id, NULL::BIGINT AS trade_seq,
           NULL::VARCHAR AS side, NULL::DECIMAL(18, 8) AS price, NULL::DECIMAL(18, 8) AS amount,
           depth, bid_price, bid_amount, ask_price, ask_amount{book_levels}, 0 AS _rank, 0::BIGINT AS _seq
    FROM _book
    UNION ALL
    SELECT ts, 'trade', exchange, symbol, local_ts, trade_id, trade_seq, side, price, amount,
           NULL::INTEGER, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE{null_levels},
           1, coalesce(trade_seq, 0)
    FROM _trades
)
ORDER BY ts, exchange, symbol, _rank, _seq, trade_id, local_ts NULLS FIRST, depth, bid_price, ask_price,
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
) -> Replay:
    """Events of `symbols` in [start, end) (UTC); `trades`/`book` choose the streams, `levels` adds
    the book's level lists (bid_prices, bid_amounts, ask_prices, ask_amounts)."""
    syms = check_symbols(symbols)
    exchange = check_exchange(exchange)
    if not (trades or book):
        raise ResearchError("replay needs trades, book or both")
    lo, hi = utc_range(start, end)
    level_cols = BOOK_LEVEL_COLUMNS if levels else []
    sql = _MERGE.format(
        levels="".join(f", {c}" for c in level_cols),
        book_levels="".join(f", {c}" for c in level_cols),
        null_levels="".join(f", NULL::DOUBLE[] AS {c}" for c in level_cols),
    )

    def source(name: str, dataset: str, cols: list[str], wanted: bool, c_lo: Any, c_hi: Any) -> None:
        if wanted:
            con.register(f"{name}_src", read(hist, dataset, syms, c_lo, c_hi, exchange, cols))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_src")
            con.unregister(f"{name}_src")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM ({_EMPTY[name]}) WHERE false")

    con = work_connection()

    def chunks() -> Iterator[pa.RecordBatch]:
        try:
            for c_lo, c_hi in day_chunks(lo, hi):
                source("_trades", "trades", TRADE_COLUMNS, trades, c_lo, c_hi)
                source("_book", "book_snapshots", BOOK_TOP_COLUMNS + level_cols, book, c_lo, c_hi)
                reader = con.execute(sql).to_arrow_reader(batch_rows)
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
                yield from reader
        finally:
            con.close()

    gen = chunks()
    first = next(gen)

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from gen

    return Replay(first.schema, chain())


_EMPTY = {
    "_trades": """SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        ''::VARCHAR trade_id, 0::BIGINT trade_seq, ''::VARCHAR side, 0::DECIMAL(18,8) price,
        0::DECIMAL(18,8) amount""",
    "_book": """SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        0::INTEGER depth, 0::DOUBLE bid_price, 0::DOUBLE bid_amount, 0::DOUBLE ask_price, 0::DOUBLE ask_amount,
        NULL::DOUBLE[] bid_prices, NULL::DOUBLE[] bid_amounts, NULL::DOUBLE[] ask_prices,
        NULL::DOUBLE[] ask_amounts""",
}
