"""Tardis.dev data types: the derivatives datasets staged as they are, and the L2 feed replayed into snapshots.

Layouts from docs.tardis.dev ("Downloadable CSV files / data types"):

- `quotes`: exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
  (top of book; the ask amount comes before the ask price),
  `derivative_ticker`: exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,
  predicted_funding_rate,open_interest,last_price,index_price,mark_price (empty fields where the
  exchange sent none), `liquidations`: exchange,symbol,timestamp,local_timestamp,id,side,price,amount.
  These are landing layouts themselves (their own datasets): `check_tardis_header` checks a file
  is exactly that layout before it is linked into the landing folder unchanged.
- `incremental_book_L2`: exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount,
  one row per price-level change; `amount` is the new level size (0 removes the level), rows of
  one exchange message share `local_timestamp`, and an `is_snapshot=true` row after a
  non-snapshot row means the book was re-sent: discard the old state. Rows before the first
  snapshot are skipped (buffered updates from before the initial snapshot). Replayed into a
  book and sampled every `interval_ms` as `book_snapshot_N`.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import io
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.landing import (
    LandingFileError,
    parse_landing_name,
    read_header,
    replacing,
    snapshot_columns,
    snapshots_file_name,
)
from ingest.vendors._lines import VendorFormatError
from ingest.vendors.binance import NormalisedFile
from ingest.vendors.datasets import DATASET_COLUMNS

INCREMENTAL_L2_COLUMNS: tuple[str, ...] = (
    "exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount",
)
_SIDES = frozenset({"bid", "ask"})


def _vendor_name(src: Path, data_type: str) -> tuple[str, dt.date, str]:
    lf = parse_landing_name(Path(src))
    if lf is None or lf.data_type != data_type:
        raise VendorFormatError(
            f"{Path(src).name}: expected a Tardis name <exchange>_{data_type}_<YYYY-MM-DD>_<symbols>.csv.gz"
        )
    return lf.exchange, lf.day, lf.symbols


def _header(src: Path, expected: tuple[str, ...]) -> list[str]:
    try:
        header = read_header(Path(src))
    except LandingFileError as exc:
        raise VendorFormatError(str(exc)) from exc
    if sorted(header) != sorted(expected):
        raise VendorFormatError(f"{Path(src).name}: header {header} is not the Tardis layout {list(expected)}")
    return header


def check_tardis_header(src: Path, data_type: str, *, shown_as: str | None = None) -> list[str]:
    """The header of a Tardis `quotes`, `derivative_ticker` or `liquidations` file, which must be exactly
    the Tardis layout (names and order: these files are staged as they are, never rewritten).

    A file that is not one of them (another data type, a hand-edited export) stops the day with one
    line naming the file (`shown_as`, e.g. the S3 URL it was downloaded from) and both headers.
    """
    expected = DATASET_COLUMNS[data_type]
    try:
        header = read_header(Path(src))
    except LandingFileError as exc:
        raise VendorFormatError(str(exc)) from exc
    if tuple(header) != expected:
        raise VendorFormatError(
            f"{shown_as or src}: header {','.join(header)!r} is not the Tardis {data_type} header "
            f"{','.join(expected)!r}"
        )
    return header


@dataclass
class _Book:
    """One instrument's L2 book: level sizes by price, plus sorted price lists for the top N."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    bid_prices: list[float] = field(default_factory=list)  # ascending; best bid last
    ask_prices: list[float] = field(default_factory=list)  # ascending; best ask first
    started: bool = False
    in_snapshot: bool = False
    next_emit: int = 0

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.bid_prices.clear()
        self.ask_prices.clear()

    def apply(self, is_bid: bool, price: float, amount: float) -> None:
        levels, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if amount > 0:
            if price not in levels:
                bisect.insort(prices, price)
            levels[price] = amount
        elif price in levels:  # 0 removes the level; a removal of an unknown level is ignored
            del levels[price]
            del prices[bisect.bisect_left(prices, price)]

    def row(self, depth: int) -> list[str] | None:
        if not self.bid_prices or not self.ask_prices:
            return None
        asks = self.ask_prices[:depth]
        bids = self.bid_prices[-1 : -depth - 1 : -1]
        out: list[str] = []
        for i in range(depth):
            ap = asks[i] if i < len(asks) else None
            bp = bids[i] if i < len(bids) else None
            out += [
                "" if ap is None else repr(ap), "" if ap is None else repr(self.asks[ap]),
                "" if bp is None else repr(bp), "" if bp is None else repr(self.bids[bp]),
            ]
        return out


@dataclass
class L2SnapshotStats:
    updates: int = 0
    skipped_before_snapshot: int = 0
    resets: int = 0
    snapshots: int = 0
    empty_side_skipped: int = 0


def snapshots_from_incremental_l2(
    src: Path, landing_root: Path, *, depth: int = 25, interval_ms: int = 1000, batch_rows: int = 200_000
) -> tuple[NormalisedFile, L2SnapshotStats]:
    """Replay Tardis `incremental_book_L2` and write the top `depth` levels every `interval_ms`.

    Output: `<exchange>_book_snapshot_<depth>_<day>_<symbols>.csv.gz`. The snapshot stamped t
    (both `timestamp` and `local_timestamp` = t, on the UTC grid of `interval_ms`) holds every
    update whose `local_timestamp` <= t: the file is in arrival order and one message's rows
    share a `local_timestamp`, so a snapshot never shows half a message. Grid points before an
    instrument's first snapshot, after its last update, or with an empty side are not written.

    Cost: parsing and ordering are DuckDB, but the replay is a per-update Python loop (~0.6 M
    updates/s): fine for a few symbols-days of a quiet market or tests; for full-depth BTC days
    (tens of millions of updates) prefer Tardis' own `book_snapshot_25`. Any line that does not
    parse stops the replay with an error: a lost update would corrupt every later snapshot.
    """
    if depth < 1 or interval_ms < 1 or 86_400_000 % interval_ms:
        raise ValueError("depth must be >= 1 and interval_ms must divide a day")
    exchange, day, symbols = _vendor_name(src, "incremental_book_L2")
    _header(src, INCREMENTAL_L2_COLUMNS)
    step = interval_ms * 1000
    stats = L2SnapshotStats()
    books: dict[str, _Book] = {}
    dest = Path(landing_root) / snapshots_file_name(exchange, day, depth, symbols)
    con = duckdb.connect()
    with closing(con), replacing(dest) as tmp:
        con.execute("SET enable_progress_bar = false; SET preserve_insertion_order = true")
        try:
            reader = con.execute(
                """SELECT exchange, symbol, local_timestamp, is_snapshot, side, price, amount
                FROM read_csv(?, header = true, auto_detect = false, delim = ',', quote = '"',
                              columns = {'exchange': 'VARCHAR', 'symbol': 'VARCHAR', 'timestamp': 'BIGINT',
                                         'local_timestamp': 'BIGINT', 'is_snapshot': 'BOOLEAN', 'side': 'VARCHAR',
                                         'price': 'DOUBLE', 'amount': 'DOUBLE'})""",
                [str(src)],
            ).to_arrow_reader(batch_rows)
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(snapshot_columns(depth))
                for batch in reader:
                    cols = batch.to_pydict()
                    for ex, sym, lts, is_snap, side, price, amount in zip(
                        cols["exchange"], cols["symbol"], cols["local_timestamp"], cols["is_snapshot"],
                        cols["side"], cols["price"], cols["amount"], strict=True,
                    ):
                        if lts is None or price is None or amount is None or is_snap is None or side not in _SIDES:
                            raise VendorFormatError(
                                f"{Path(src).name}: update ({sym}, {lts}, {side}, {price}, {amount}) has an empty "
                                "field or a side that is not bid/ask"
                            )
                        book = books.get(sym)
                        if book is None:
                            book = books[sym] = _Book()
                        if book.started:
                            # Emit every grid point the book has passed: the state now holds all
                            # updates with local_timestamp < lts, i.e. <= t for t < lts.
                            while book.next_emit < lts:
                                row = book.row(depth)
                                if row is None:
                                    stats.empty_side_skipped += 1
                                else:
                                    writer.writerow([ex, sym, book.next_emit, book.next_emit, *row])
                                    stats.snapshots += 1
                                book.next_emit += step
                        if is_snap and not book.in_snapshot:
                            book.clear()
                            stats.resets += 1
                            if not book.started:
                                book.started = True
                                book.next_emit = -(-lts // step) * step  # first grid point >= lts
                        book.in_snapshot = is_snap
                        if not book.started:
                            stats.skipped_before_snapshot += 1
                            continue
                        book.apply(side == "bid", price, amount)
                        stats.updates += 1
                text.flush()
                text.detach()
        except duckdb.Error as exc:
            raise VendorFormatError(f"{Path(src).name}: cannot replay: {exc}") from exc
    out = NormalisedFile(
        landing_path=dest, vendor_file=str(src), rows=stats.snapshots, line_offset=0, vendor_has_header=True,
        time_unit="us",
        notes={"vendor": "tardis", "data_type": "incremental_book_L2", "depth": str(depth),
               "interval_ms": str(interval_ms), "resets": str(stats.resets)},
    )
    out.write_manifest()
    return out, stats

