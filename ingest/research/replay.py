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
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest import numeric
from ingest.history import BATCH_ROWS, HistoricalData
from ingest.research.columns import BOOK_LEVEL_COLUMNS, BOOK_TOP_COLUMNS, TRADE_COLUMNS
from ingest.research.common import (
    ResearchError,
    Result,
    Time,
    day_chunks,
    lake_connection,
    materialize,
    span,
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


# Each stream sorted on its own keys in DuckDB; the two sorted days are then merged on (ts, exchange,
# symbol, book before trade), which numpy's stable sort does as one pass over two runs. Sorting the
# union on all twelve keys cost twice as much.
_BOOKS = """
SELECT ts, 'book' AS kind, exchange, symbol, local_ts, NULL::VARCHAR AS trade_id, NULL::BIGINT AS trade_seq,
       NULL::VARCHAR AS side, NULL::{price} AS price, NULL::{amount} AS amount,
       depth, bid_price, bid_amount, ask_price, ask_amount{levels}
FROM _book
ORDER BY ts, exchange, symbol, local_ts NULLS FIRST, depth, bid_price, ask_price, bid_amount, ask_amount
"""
_TRADES = """
SELECT ts, 'trade' AS kind, exchange, symbol, local_ts, trade_id, trade_seq, side,
       CAST(price AS {price}) AS price, CAST(amount AS {amount}) AS amount,
       NULL::INTEGER AS depth, NULL::DOUBLE AS bid_price, NULL::DOUBLE AS bid_amount, NULL::DOUBLE AS ask_price,
       NULL::DOUBLE AS ask_amount{null_levels}
FROM _trades
ORDER BY ts, exchange, symbol, coalesce(trade_seq, 0), trade_id, local_ts NULLS FIRST
"""


def _pair_names(table: pa.Table) -> pa.ChunkedArray:
    # "\x00" sorts below every character of a validated name, so these strings sort like the
    # (exchange, symbol) pairs, and in DuckDB's byte order.
    return pc.binary_join_element_wise(table["exchange"], table["symbol"], "\x00")


def _merge_key(table: pa.Table, names: pa.ChunkedArray, pairs: pa.Array, rank: int) -> np.ndarray:
    """(ts, exchange, symbol, rank) as one int64 that orders like the tuple: ts in microseconds,
    then the pair's place among the day's sorted pairs, then book 0 / trade 1."""
    ts = pc.cast(table["ts"], pa.int64()).to_numpy().astype(np.int64)
    codes = pc.index_in(names, value_set=pairs).to_numpy().astype(np.int64)
    return ts * (2 * len(pairs)) + codes * 2 + rank


def _merged_day(con: duckdb.DuckDBPyConnection, books_sql: str, trades_sql: str) -> pa.Table:
    books = con.execute(books_sql).to_arrow_table()
    trades = con.execute(trades_sql).to_arrow_table().cast(books.schema)
    if not books.num_rows or not trades.num_rows:
        return books if trades.num_rows == 0 else trades
    book_names, trade_names = _pair_names(books), _pair_names(trades)
    pairs = pa.array(sorted(set(pc.unique(book_names).to_pylist()) | set(pc.unique(trade_names).to_pylist())))
    last_us = max(pc.max(pc.cast(t["ts"], pa.int64())).as_py() for t in (books, trades))
    if last_us >= np.iinfo(np.int64).max // (2 * len(pairs) + 2):  # a key would overflow: sort in DuckDB
        con.register("_both", pa.concat_tables([books, trades]))
        return con.execute(
            "SELECT * FROM _both ORDER BY ts, exchange, symbol, kind, coalesce(trade_seq, 0), trade_id, "
            "local_ts NULLS FIRST, depth, bid_price, ask_price, bid_amount, ask_amount"
        ).to_arrow_table()
    keys = np.concatenate([_merge_key(books, book_names, pairs, 0), _merge_key(trades, trade_names, pairs, 1)])
    order = np.argsort(keys, kind="stable")  # two sorted runs: timsort merges them in one pass
    return pa.concat_tables([books, trades]).take(pa.array(order))


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
    if not (trades or book):
        raise ResearchError("replay needs trades, book or both")
    syms, exchange, lo, hi = span(symbols, start, end, exchange)
    level_cols = BOOK_LEVEL_COLUMNS if levels else []
    fmt = {"price": numeric.PRICE_SQL, "amount": numeric.AMOUNT_SQL,
           "levels": "".join(f", {c}" for c in level_cols),
           "null_levels": "".join(f", NULL::DOUBLE[] AS {c}" for c in level_cols)}
    books_sql, trades_sql = _BOOKS.format(**fmt), _TRADES.format(**fmt)

    def chunks() -> Iterator[pa.RecordBatch]:
        with lake_connection(hist) as con:
            for c_lo, c_hi in day_chunks(lo, hi):
                for name, dataset, cols, wanted in (("_trades", "trades", TRADE_COLUMNS, trades),
                                                    ("_book", "book_snapshots", BOOK_TOP_COLUMNS + level_cols, book)):
                    if wanted:
                        materialize(con, name, hist.day_queries(con, dataset, syms, c_lo, c_hi, exchange,
                                                                columns=cols, ordered=False))
                    else:
                        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {_EMPTY[name]} WHERE false")
                day = _merged_day(con, books_sql, trades_sql)
                yield pa.RecordBatch.from_pylist([], schema=day.schema)
                yield from day.to_batches(max_chunksize=batch_rows)

    gen = chunks()
    first = next(gen)

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from gen

    return Replay(first.schema, chain())


_EMPTY = {
    "_trades": """SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        ''::VARCHAR trade_id, 0::BIGINT trade_seq, ''::VARCHAR side, 0::DECIMAL(22,12) price,
        0::DECIMAL(28,12) amount""",
    "_book": """SELECT ''::VARCHAR exchange, ''::VARCHAR symbol, NULL::TIMESTAMP ts, NULL::TIMESTAMP local_ts,
        0::INTEGER depth, 0::DOUBLE bid_price, 0::DOUBLE bid_amount, 0::DOUBLE ask_price, 0::DOUBLE ask_amount,
        NULL::DOUBLE[] bid_prices, NULL::DOUBLE[] bid_amounts, NULL::DOUBLE[] ask_prices,
        NULL::DOUBLE[] ask_amounts""",
}
