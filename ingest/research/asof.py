"""As-of join: every trade with the book, the quote or the derivative ticker in force at its timestamp,
per exchange and symbol (`right="book"`, the default, `"quotes"` or `"ticker"`).

Equal, row for row, to `pandas.merge_asof(trades, book, on="ts", by=["exchange", "symbol"],
direction="backward", allow_exact_matches=True, tolerance=...)` with trades in the research order
(`columns.TRADE_ORDER`) and the book sorted by (ts, local_ts, depth): a snapshot at exactly the
trade's time counts, and when several snapshots share a timestamp the last of that order wins
(the latest-received, then the deepest). A trade whose latest book is older than `tolerance` gets
nulls, not that book. Book snapshots read: [start - tolerance, end), or [start, end) without one.

Work goes day by day (the warehouse's partitions), inside the reader's DuckDB (no copy of the day
through Python): the join reads the day's trades and book where they lie (the lake's Parquet, or a
cold day's download), and only the rows of tied keys go to a temp table to be settled; the last book
of each (exchange, symbol) is carried into the next day, so the answer does not depend on where days
are cut. (A tolerance reaching into the day before the range copies those two days' book first.)

`right="quotes"`: the same join over `raw.quotes` (quote_ts, quote_local_ts, bid/ask price and amount),
equal to merge_asof with the quotes sorted by (ts, local_ts, bid_price, bid_amount, ask_price,
ask_amount), the last of equal timestamps winning (a total order: rows alike in all of it are one quote).

`right="ticker"`: `raw.derivative_ticker`, whose rows often carry only some fields (a mark-price row, a
funding row, an open-interest row). Each value column takes its own last NON-NULL value at or before
the trade, within `tolerance` of the row it came from: equal, column by column, to merge_asof over
the ticker rows where that column is not null (rows sorted by (ts, local_ts) and then their values,
the total order whose last row wins a tie). `funding_ts` comes with `funding_rate`, from the same row
(the funding time that rate applies to, never another row's); ticker_ts/ticker_local_ts are those of
the latest ticker row of any kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from ingest.history import BATCH_ROWS, HistoricalData
from ingest.research.columns import (
    BOOK_LEVEL_COLUMNS,
    BOOK_TOP_COLUMNS,
    QUOTE_COLUMNS,
    TICKER_ORDER,
    TICKER_VALUES,
    TRADE_COLUMNS,
)
from ingest.research.common import (
    ResearchError,
    Result,
    Time,
    day_chunks,
    duration,
    lake_connection,
    materialize,
    result_of,
    span,
)

MAX_LEVELS = 64
_TICK = dt.timedelta(microseconds=1)
_BOOK_TIE = "local_ts DESC NULLS FIRST, depth DESC"  # the last of (ts, local_ts NULLS LAST, depth) wins
# The last of (ts, local_ts NULLS LAST, bid_price, bid_amount, ask_price, ask_amount) wins.
_QUOTE_TIE = "local_ts DESC NULLS FIRST, bid_price DESC, bid_amount DESC, ask_price DESC, ask_amount DESC"
RIGHTS = ("book", "quotes", "ticker")


def asof_join(
    hist: HistoricalData,
    symbols: str | Sequence[str],
    start: Time,
    end: Time,
    *,
    exchange: str | None = None,
    tolerance: str | dt.timedelta | None = None,
    levels: int = 0,
    batch_rows: int = BATCH_ROWS,
    numeric: str | None = None,
    right: str = "book",
) -> Result:
    """Trades of `symbols` in [start, end) (UTC) with what was in force at their time (`right`):

    * "book" (default): book_ts, book_local_ts, bid/ask price and amount of the prevailing snapshot,
      and with `levels` > 0 the first `levels` entries of the level lists;
    * "quotes": quote_ts, quote_local_ts, bid/ask price and amount of the prevailing quote;
    * "ticker": ticker_ts, ticker_local_ts (the latest ticker row), then mark_price, index_price,
      last_price, open_interest, funding_rate, funding_ts (the funding time of that rate) and
      predicted_funding_rate, each the column's last non-null value at or before the trade.

    `tolerance`: the oldest value accepted (for the ticker, per column: each value's own row).
    """
    if right not in RIGHTS:
        raise ResearchError(f"unknown right {right!r}: expected one of {', '.join(RIGHTS)}")
    tol = duration(tolerance, "tolerance")
    if not isinstance(levels, int) or not 0 <= levels <= MAX_LEVELS:
        raise ResearchError(f"levels must be an integer from 0 to {MAX_LEVELS}, got {levels!r}")
    if levels and right != "book":
        raise ResearchError(f"levels are the book's: right={right!r} has none")
    syms, exchange, lo, hi = span(symbols, start, end, exchange)
    if right == "ticker":
        return _ticker_join(hist, syms, exchange, lo, hi, tol, batch_rows, numeric or hist.numeric)
    level_cols = BOOK_LEVEL_COLUMNS if levels else []
    if right == "book":
        dataset, prefix, tie, book_cols = "book_snapshots", "book_", _BOOK_TIE, BOOK_TOP_COLUMNS + level_cols
    else:
        dataset, prefix, tie, book_cols = "quotes", "quote_", _QUOTE_TIE, QUOTE_COLUMNS
    picked = ["ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount", *level_cols]
    inner = ", ".join(f"b.{c} AS _b_{c}" for c in picked)
    outer = ", ".join(
        f"CASE WHEN _ok THEN _b_{c}{f'[1:{levels}]' if c in level_cols else ''} END AS "
        f"{prefix + c if c in ('ts', 'local_ts') else c}"
        for c in picked
    )
    in_tolerance = "t.ts - b.ts <= ?" if tol is not None else "b.ts IS NOT NULL"
    join_sql = f"""
        SELECT {', '.join(TRADE_COLUMNS)}, {outer}
        FROM (SELECT t.*, {inner}, {in_tolerance} AS _ok FROM ({{trades}}) t
              ASOF LEFT JOIN {{right}} b ON t.exchange = b.exchange AND t.symbol = b.symbol AND t.ts >= b.ts)
        ORDER BY ts, exchange, symbol, coalesce(trade_seq, 0), trade_id"""

    def chunks() -> Iterator[pa.RecordBatch]:
        with lake_connection(hist) as con:
            days = list(day_chunks(lo, hi))
            for i, (c_lo, c_hi) in enumerate(days):
                book_lo = c_lo - tol if i == 0 and tol is not None else c_lo
                queries = hist.day_queries(con, dataset, syms, book_lo, c_hi, exchange, columns=book_cols,
                                           ordered=False)
                try:
                    if book_lo.date() == (c_hi - _TICK).date():
                        # One day: one query, scanned where it lies (the lake's Parquet, or a cold day's
                        # download, kept until `queries` is closed) by the join itself, not copied first.
                        sql, source_params = next(queries)
                        source = f"({sql})"
                    else:  # a tolerance reaching into the day before: two days' queries, one table
                        materialize(con, "_book", queries)
                        source, source_params = "_book", []
                    if i:  # the last book of each (exchange, symbol) before the day: older than any of the day's
                        con.execute("CREATE OR REPLACE TEMP TABLE _carry AS SELECT * FROM _carry_next")
                        source = _WITH_CARRY.replace("{source}", source)
                    right_sql = _settle_ties(con, source, source_params, tie)
                    if i + 1 < len(days):
                        _carry_last(con, right_sql, source_params, None if tol is None else c_hi - tol)
                    # The day's trades are scanned in place too (a warm day's Parquet files, or a cold day's
                    # downloads, kept until the join has been read).
                    for sql, params in hist.day_queries(con, "trades", syms, c_lo, c_hi, exchange,
                                                        columns=TRADE_COLUMNS, ordered=False):
                        tol_param = [] if tol is None else [tol]  # it stands before the trades' in the SQL
                        joined = con.execute(join_sql.replace("{trades}", sql).replace("{right}", right_sql),
                                             [*tol_param, *params, *source_params])
                        reader = joined.to_arrow_reader(batch_rows)
                        yield pa.RecordBatch.from_pylist([], schema=reader.schema)  # the schema, even if empty
                        yield from reader
                finally:
                    queries.close()  # a cold day's download is removed only now

    return result_of(chunks(), numeric or hist.numeric)


# The right side's statements. `{source}` stands for its rows: a day's query of HistoricalData.day_queries (run
# where the rows lie) or a temp table, put in with str.replace like the trades' `{trades}`; `{tie}` for the
# fixed tie order of the book or the quotes (_BOOK_TIE, _QUOTE_TIE).
_WITH_CARRY = "(SELECT * FROM {source} UNION ALL BY NAME SELECT * FROM _carry)"
# Repeated (exchange, symbol, ts) keys, found by their 64-bit hash (a collision only adds a candidate): sorted,
# equal hashes are neighbours. Sorting 20M hashes costs half the CPU of grouping them (3.7 s vs 7.2 s).
_TIED = """CREATE OR REPLACE TEMP TABLE _tied AS SELECT DISTINCT h FROM (SELECT hash(exchange, symbol, ts) AS h
    FROM {source}) QUALIFY h = lag(h) OVER (ORDER BY h)"""
# The candidates' rows, one per key: the first by the tie order (a collision's rows are each their key's own).
_WINNERS = """CREATE OR REPLACE TEMP TABLE _win AS SELECT * FROM {source} WHERE hash(exchange, symbol, ts) IN
    (SELECT h FROM _tied) QUALIFY row_number() OVER (PARTITION BY exchange, symbol, ts ORDER BY {tie}) = 1"""
_SETTLED = """(SELECT * FROM {source} ANTI JOIN _win USING (exchange, symbol, ts)
    UNION ALL BY NAME SELECT * FROM _win)"""
_LAST = """CREATE OR REPLACE TEMP TABLE _last AS SELECT exchange, symbol, max(ts) AS ts FROM {source}
    GROUP BY exchange, symbol"""
_NEXT_CARRY = """CREATE OR REPLACE TEMP TABLE _carry_next AS SELECT * FROM {source}
    SEMI JOIN _last USING (exchange, symbol, ts)"""


def _settle_ties(con: duckdb.DuckDBPyConnection, source: str, params: list[Any], tie: str) -> str:
    """`source` (rows bound to `params`) with one row per (exchange, symbol, ts), as SQL bound to `params`:
    merge_asof's pick among equal keys (the first by `tie`), made explicit.

    Ties are rare (420 keys in a 20M-quote day), so they are found from a 64-bit hash of the key (grouping
    the day by its three columns cost 9.3 s there, its hash sorted 3.7 s of CPU) and only the rows of a
    repeated hash are sorted by the tie order; the day's other rows are read where they lie, by the join."""
    con.execute(_TIED.replace("{source}", source), params)
    if not con.execute("SELECT count(*) FROM _tied").fetchone()[0]:
        return source
    con.execute(_WINNERS.replace("{tie}", tie).replace("{source}", source), params)
    return _SETTLED.replace("{source}", source)


def _carry_last(con: duckdb.DuckDBPyConnection, right: str, params: list[Any], oldest: dt.datetime | None) -> None:
    """`_carry_next`: the last row of each (exchange, symbol) of `right` (ties settled: one row per key, bound
    to `params`), made before the day's join (whose `right` may still read `_carry`) and becoming `_carry`
    for the next day's; with a tolerance, only those at or after `oldest`."""
    con.execute(_LAST.replace("{source}", right), params)
    con.execute(_NEXT_CARRY.replace("{source}", right), params)
    if oldest is not None:
        con.execute("DELETE FROM _carry_next WHERE ts < ?", [oldest])


def _ticker_join(hist: HistoricalData, syms: list[str], exchange: str | None, lo: dt.datetime, hi: dt.datetime,
                 tol: dt.timedelta | None, batch_rows: int, numeric: str) -> Result:
    """Trades with each ticker column's last non-null value (module doc), day by day in temp tables.

    `_tk`: the day's ticker rows with, per value column, the time of the row it came from (`_at_<c>`;
    funding_ts shares funding_rate's), and the row carried from the day before (its values already the
    last non-null ones, its `_at_` their rows' times). `_fill`: one row per (exchange, symbol, ts), each
    column filled forward over the total order; the join picks the latest and checks each column's age."""
    values = TICKER_VALUES
    ats = {c: f"_at_{c}" for c in values} | {"funding_ts": "_at_funding_rate"}
    shown = ["mark_price", "index_price", "last_price", "open_interest", "funding_rate", "funding_ts",
             "predicted_funding_rate"]
    order = ["_raw_funding_ts" if c == "funding_ts" else c for c in TICKER_ORDER]  # as received, not paired
    window = (f"PARTITION BY exchange, symbol ORDER BY {', '.join(f'{c} NULLS LAST' for c in order)} "
              "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW")
    latest = ", ".join(f"{c} DESC NULLS FIRST" for c in order)
    fill_sql = f"""CREATE OR REPLACE TEMP TABLE _fill AS SELECT exchange, symbol, ts, local_ts,
        {', '.join(f'last_value({c} IGNORE NULLS) OVER w AS {c}' for c in shown)},
        {', '.join(f'last_value(_at_{c} IGNORE NULLS) OVER w AS _at_{c}' for c in values)}
        FROM _tk WINDOW w AS ({window})
        QUALIFY row_number() OVER (PARTITION BY exchange, symbol, ts ORDER BY {latest}) = 1"""
    raw_sql = f"""CREATE OR REPLACE TEMP TABLE _tk AS SELECT exchange, symbol, ts, local_ts,
        {', '.join(values)},
        CASE WHEN funding_rate IS NOT NULL THEN funding_ts END AS funding_ts, funding_ts AS _raw_funding_ts,
        {', '.join(f'CASE WHEN {c} IS NOT NULL THEN ts END AS _at_{c}' for c in values)}
        FROM _tk_raw"""
    carry_sql = f"""INSERT INTO _tk BY NAME SELECT exchange, symbol, ts, local_ts, {', '.join(shown)},
        funding_ts AS _raw_funding_ts, {', '.join(f'_at_{c}' for c in values)} FROM _carry"""

    def fresh(at: str) -> str:
        return f"{at} IS NOT NULL" if tol is None else f"t.ts - {at} <= to_microseconds({_micros(tol)})"

    outer = ", ".join([
        f"CASE WHEN {fresh('f.ts')} THEN f.ts END AS ticker_ts",
        f"CASE WHEN {fresh('f.ts')} THEN f.local_ts END AS ticker_local_ts",
        *(f"CASE WHEN {fresh('f.' + ats[c])} THEN f.{c} END AS {c}" for c in shown),
    ])
    join_sql = f"""
        SELECT {', '.join(f't.{c}' for c in TRADE_COLUMNS)}, {outer}
        FROM ({{trades}}) t
        ASOF LEFT JOIN _fill f ON t.exchange = f.exchange AND t.symbol = f.symbol AND t.ts >= f.ts
        ORDER BY t.ts, t.exchange, t.symbol, coalesce(t.trade_seq, 0), t.trade_id"""
    # the ticker's timestamps and funding_ts, wherever the table has them (`ts` twice would clash)
    read_cols = ["exchange", "symbol", "ts", "local_ts", "funding_ts", *values]

    def chunks() -> Iterator[pa.RecordBatch]:
        with lake_connection(hist) as con:
            carried = False
            for c_lo, c_hi in day_chunks(lo, hi):
                tk_lo = c_lo - tol if not carried and tol is not None else c_lo
                materialize(con, "_tk_raw", hist.day_queries(con, "derivative_ticker", syms, tk_lo, c_hi, exchange,
                                                             columns=read_cols, ordered=False))
                con.execute(raw_sql)
                if carried:
                    con.execute(carry_sql)
                con.execute(fill_sql)
                con.execute("""CREATE OR REPLACE TEMP TABLE _carry AS SELECT * FROM _fill WHERE (exchange, symbol, ts)
                    IN (SELECT (exchange, symbol, max(ts)) FROM _fill GROUP BY exchange, symbol)""")
                carried = True
                for sql, params in hist.day_queries(con, "trades", syms, c_lo, c_hi, exchange,
                                                    columns=TRADE_COLUMNS, ordered=False):
                    reader = con.execute(join_sql.replace("{trades}", sql), params).to_arrow_reader(batch_rows)
                    yield pa.RecordBatch.from_pylist([], schema=reader.schema)
                    yield from reader

    return result_of(chunks(), numeric)


def _micros(span: dt.timedelta) -> int:
    return span // dt.timedelta(microseconds=1)
