"""As-of join: every trade with the book in force at its timestamp, per exchange and symbol.

Equal, row for row, to `pandas.merge_asof(trades, book, on="ts", by=["exchange", "symbol"],
direction="backward", allow_exact_matches=True, tolerance=...)` with trades in the research order
(`columns.TRADE_ORDER`) and the book sorted by (ts, local_ts, depth): a snapshot at exactly the
trade's time counts, and when several snapshots share a timestamp the last of that order wins
(the latest-received, then the deepest). A trade whose latest book is older than `tolerance` gets
nulls, not that book. Book snapshots read: [start - tolerance, end), or [start, end) without one.

Work goes day by day (the warehouse's partitions), inside the reader's DuckDB over temp tables
(no copy of the day through Python); the last book of each (exchange, symbol) is carried into
the next day, so the answer does not depend on where days are cut.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pyarrow as pa

from ingest.history import BATCH_ROWS, HistoricalData
from ingest.research.columns import BOOK_LEVEL_COLUMNS, BOOK_TOP_COLUMNS, TRADE_COLUMNS
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
_BOOK_TIE = "local_ts DESC NULLS FIRST, depth DESC"  # the last of (ts, local_ts NULLS LAST, depth) wins


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
) -> Result:
    """Trades of `symbols` in [start, end) (UTC) with book_ts, book_local_ts, bid/ask price and amount
    of the prevailing snapshot, and with `levels` > 0 the first `levels` entries of the level lists."""
    tol = duration(tolerance, "tolerance")
    if not isinstance(levels, int) or not 0 <= levels <= MAX_LEVELS:
        raise ResearchError(f"levels must be an integer from 0 to {MAX_LEVELS}, got {levels!r}")
    syms, exchange, lo, hi = span(symbols, start, end, exchange)
    level_cols = BOOK_LEVEL_COLUMNS if levels else []
    book_cols = BOOK_TOP_COLUMNS + level_cols
    picked = ["ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount", *level_cols]
    inner = ", ".join(f"b.{c} AS _b_{c}" for c in picked)
    outer = ", ".join(
        f"CASE WHEN _ok THEN _b_{c}{f'[1:{levels}]' if c in level_cols else ''} END AS "
        f"{'book_' + c if c in ('ts', 'local_ts') else c}"
        for c in picked
    )
    in_tolerance = "t.ts - b.ts <= ?" if tol is not None else "b.ts IS NOT NULL"
    join_sql = f"""
        SELECT {', '.join(TRADE_COLUMNS)}, {outer}
        FROM (SELECT t.*, {inner}, {in_tolerance} AS _ok FROM ({{trades}}) t
              ASOF LEFT JOIN _book b ON t.exchange = b.exchange AND t.symbol = b.symbol AND t.ts >= b.ts)
        ORDER BY ts, exchange, symbol, coalesce(trade_seq, 0), trade_id"""

    def chunks() -> Iterator[pa.RecordBatch]:
        with lake_connection(hist) as con:
            carried = False
            for c_lo, c_hi in day_chunks(lo, hi):
                book_lo = c_lo - tol if not carried and tol is not None else c_lo
                materialize(con, "_book", hist.day_queries(con, "book_snapshots", syms, book_lo, c_hi, exchange,
                                                          columns=book_cols, ordered=False))
                if carried:
                    con.execute("INSERT INTO _book BY NAME SELECT * FROM _carry")
                # One snapshot per (exchange, symbol, ts): merge_asof's pick among equal keys, made explicit.
                # Ties are rare (two depths of one feed), so a count of key hashes decides whether the sort is
                # needed; a hash collision can only send a tie-free day through the (correct) sort.
                if con.execute("SELECT count(*) > count(DISTINCT hash(exchange, symbol, ts)) FROM _book").fetchone()[0]:
                    con.execute(f"""CREATE OR REPLACE TEMP TABLE _book AS SELECT * FROM _book
                        QUALIFY row_number() OVER (PARTITION BY exchange, symbol, ts ORDER BY {_BOOK_TIE}) = 1""")
                keep = "" if tol is None else "AND ts >= ?"
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _carry AS SELECT * FROM _book WHERE (exchange, symbol, ts) IN
                        (SELECT (exchange, symbol, max(ts)) FROM _book GROUP BY exchange, symbol) {keep}""",
                    [] if tol is None else [c_hi - tol],
                )
                carried = True
                # The day's trades are scanned in place (a warm day's Parquet files, or a cold day's downloads,
                # kept until the join has been read): ASOF over the lake scan is the engine's own floor.
                for sql, params in hist.day_queries(con, "trades", syms, c_lo, c_hi, exchange,
                                                    columns=TRADE_COLUMNS, ordered=False):
                    tol_param = [] if tol is None else [tol]  # it stands before the trades' in the SQL
                    joined = con.execute(join_sql.replace("{trades}", sql), [*tol_param, *params])
                    reader = joined.to_arrow_reader(batch_rows)
                    yield pa.RecordBatch.from_pylist([], schema=reader.schema)  # the schema, even for an empty day
                    yield from reader

    return result_of(chunks(), numeric or hist.numeric)
