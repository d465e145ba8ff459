"""Binance public data (data.binance.vision): daily `trades`, `aggTrades` and `klines` files.

Layouts, as Binance's binance-public-data README documents them (no column order is guessed;
a header, when present, is matched by name, and a headerless file must have the documented
number of columns):

    spot trades      id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch       (no header)
    usdm trades      id, price, qty, quote_qty, time, is_buyer_maker                  (header in newer files)
    spot aggTrades   agg id, price, qty, first id, last id, time, isBuyerMaker, isBestMatch
    usdm aggTrades   agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
                     is_buyer_maker                                                   (header in newer files)
    klines (both)    open_time, open, high, low, close, volume, close_time, quote_volume, count,
                     taker_buy_volume, taker_buy_quote_volume, ignore                 (header in newer usdm files)

Timestamps: milliseconds, except spot files from 2025-01-01 on, which are microseconds. The unit
is decided per file from the magnitude of its timestamps (< 1e14 is ms, >= 1e14 is µs), not from
the date, so a re-published or mislabelled file cannot shift a day by a factor of 1000.

Taker side: `is_buyer_maker = true` means the buyer's order rested on the book, so the taker
(aggressor) SOLD; `false` means the taker bought.

Integrity: every zip has a `<file>.CHECKSUM` beside it holding `<sha256>  <file name>`; a
`SHA256SUMS` file in the same folder (same line format) is accepted too.

This module is plain Python (no Dagster): readers return Arrow tables, the normaliser writes the
canonical Tardis `trades` landing file the loader already reads.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.landing import (
    TRADES_COLUMNS,
    landing_file_name,
    replacing,
    snapshot_columns,
    snapshots_file_name,
    trades_file_name,
)
from ingest.names import validate_symbol
from ingest.vendors._lines import (
    LINE_SCHEMA,
    VendorFormatError,
    head_lines,
    line_batches,
    malformed_line_sql,
    open_vendor_file,
    rewrite_lines,
)
from ingest.vendors.datasets import DERIVATIVE_TICKER, DERIVATIVE_TICKER_COLUMNS, QUOTES, QUOTES_COLUMNS

Market = Literal["spot", "usdm"]
Kind = Literal["trades", "aggTrades", "klines"]
ChecksumPolicy = Literal["require", "if_present", "skip"]

EXCHANGE_BY_MARKET: dict[str, str] = {"spot": "binance", "usdm": "binance-futures"}
# Kline intervals with a fixed length (`1mo` has none and is not supported).
INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
# Epoch values of real market data: ms timestamps lie in [1e11, 1e14) (1973..5138), µs ones above.
_MS_MIN, _US_MIN = 10**11, 10**14
_UNIT_FACTOR_TO_US = {"ms": 1_000, "us": 1}

# Positional layouts of headerless files, by (kind, market). Logical names, see module docstring.
_LAYOUTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("trades", "spot"): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"),
    ("trades", "usdm"): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    ("aggTrades", "spot"): (
        "id", "price", "qty", "first_trade_id", "last_trade_id", "time", "is_buyer_maker", "is_best_match",
    ),
    ("aggTrades", "usdm"): ("id", "price", "qty", "first_trade_id", "last_trade_id", "time", "is_buyer_maker"),
    ("klines", "spot"): (
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
        "taker_buy_volume", "taker_buy_quote_volume", "ignore",
    ),
}
_LAYOUTS[("klines", "usdm")] = _LAYOUTS[("klines", "spot")]

# Header spellings seen in Binance files and docs, normalised (lower case, no `_` or spaces).
_HEADER_ALIASES: dict[str, str] = {
    "id": "id", "tradeid": "id", "aggtradeid": "id", "aggregatetradeid": "id",
    "price": "price", "qty": "qty", "quantity": "qty",
    "quoteqty": "quote_qty", "quotequantity": "quote_qty",
    "time": "time", "transacttime": "time", "timestamp": "time",
    "isbuyermaker": "is_buyer_maker", "isbestmatch": "is_best_match",
    "firsttradeid": "first_trade_id", "lasttradeid": "last_trade_id",
    "opentime": "open_time", "open": "open", "high": "high", "low": "low", "close": "close",
    "volume": "volume", "closetime": "close_time", "quotevolume": "quote_volume",
    "quoteassetvolume": "quote_volume", "count": "count", "numberoftrades": "count",
    "takerbuyvolume": "taker_buy_volume", "takerbuybaseassetvolume": "taker_buy_volume",
    "takerbuyquotevolume": "taker_buy_quote_volume", "takerbuyquoteassetvolume": "taker_buy_quote_volume",
    "ignore": "ignore",
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "trades": ("id", "price", "qty", "time", "is_buyer_maker"),
    "aggTrades": ("id", "price", "qty", "time", "is_buyer_maker"),
    "klines": (
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
        "taker_buy_volume", "taker_buy_quote_volume",
    ),
}
_FILE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>trades|aggTrades|\d+[smhdw])-(?P<day>\d{4}-\d{2}-\d{2})\.(?P<ext>zip|csv)\Z"
)
# Decimal type of reader output: Binance publishes at most 8 decimals, volumes reach 1e11.
DECIMAL = pa.decimal128(38, 18)
_SQL_DECIMAL = "DECIMAL(38, 18)"


class ChecksumError(RuntimeError):
    """A vendor file whose sha256 does not match the published checksum (or has none when required)."""


@dataclass(frozen=True)
class BinanceFileName:
    """What a data.binance.vision daily file name says: `<SYMBOL>-<trades|aggTrades|interval>-<day>.zip`."""

    symbol: str
    kind: str
    day: dt.date
    interval: str | None = None


def parse_binance_name(name: str) -> BinanceFileName | None:
    m = _FILE_NAME.match(name)
    if not m:
        return None
    kind = m["kind"]
    interval = None
    if kind not in ("trades", "aggTrades"):
        interval, kind = kind, "klines"
    return BinanceFileName(symbol=m["symbol"], kind=kind, day=dt.date.fromisoformat(m["day"]), interval=interval)


def binance_file_name(symbol: str, kind: str, day: dt.date, interval: str | None = None, ext: str = "zip") -> str:
    """The daily file name data.binance.vision uses, e.g. `BTCUSDT-aggTrades-2024-01-01.zip`."""
    validate_symbol(symbol)
    middle = interval if kind == "klines" else kind
    if kind == "klines" and interval not in INTERVAL_MS:
        raise ValueError(f"unsupported kline interval {interval!r}")
    return f"{symbol}-{middle}-{day.isoformat()}.{ext}"


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _checksum_lines(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            yield parts[0].lower(), parts[1].lstrip("*").strip()


def published_checksum(path: Path) -> tuple[str, Path] | None:
    """The sha256 Binance publishes for `path` and where it came from: `<file>.CHECKSUM`, else `SHA256SUMS`."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".CHECKSUM")
    if sidecar.exists():
        entries = list(_checksum_lines(sidecar.read_text(encoding="utf-8", errors="replace")))
        if len(entries) != 1 or not re.fullmatch(r"[0-9a-f]{64}", entries[0][0]):
            raise ChecksumError(f"{sidecar.name}: expected one line '<sha256>  {path.name}'")
        digest, name = entries[0]
        if Path(name).name != path.name:
            raise ChecksumError(f"{sidecar.name}: names {name!r}, not {path.name!r}")
        return digest, sidecar
    sums = path.with_name("SHA256SUMS")
    if sums.exists():
        for digest, name in _checksum_lines(sums.read_text(encoding="utf-8", errors="replace")):
            if Path(name).name == path.name:
                return digest, sums
    return None


def verify_checksum(path: Path, policy: ChecksumPolicy = "require") -> str | None:
    """Check `path` against its published sha256; returns the file's sha256 (None when skipped).

    A mismatch is always an error naming the file: a truncated or replaced download must not
    load as a short or different day.
    """
    path = Path(path)
    if policy == "skip":
        return None
    published = published_checksum(path)
    if published is None:
        if policy == "require":
            raise ChecksumError(
                f"{path.name}: no {path.name}.CHECKSUM (or SHA256SUMS entry) beside it; "
                "download the .CHECKSUM too, or set checksums to 'if_present'"
            )
        return sha256_file(path)
    expected, source = published
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path.name}: sha256 {actual} does not match {expected} published in {source.name} "
            "(corrupt or partial download, or the file was replaced: download it again)"
        )
    return actual


# --------------------------------------------------------------------------------------------
# Sniffing: header or not, column positions, timestamp unit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvShape:
    """How one vendor file is laid out, decided from its first lines."""

    has_header: bool
    columns: tuple[str, ...]  # logical names, in file order
    time_unit: Literal["ms", "us"]

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def to_us(self) -> int:
        return _UNIT_FACTOR_TO_US[self.time_unit]

    def pos(self, name: str) -> int:
        """1-based position of a logical column (DuckDB list index)."""
        return self.columns.index(name) + 1


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"\s*-?\d+\s*", text))


def time_unit_of(values: Sequence[int], where: str) -> Literal["ms", "us"]:
    """ms or µs from the magnitude of epoch timestamps; all of them must agree."""
    units = set()
    for v in values:
        if _MS_MIN <= v < _US_MIN:
            units.add("ms")
        elif _US_MIN <= v < _US_MIN * 1000:
            units.add("us")
        else:
            raise VendorFormatError(f"{where}: timestamp {v} is neither epoch milliseconds nor microseconds")
    if len(units) != 1:
        raise VendorFormatError(f"{where}: timestamps mix milliseconds and microseconds" if units else
                                f"{where}: no timestamps to decide the unit from")
    return units.pop()  # type: ignore[return-value]


def sniff(path: Path, kind: Kind, market: Market) -> CsvShape:
    """Header (detected: first field not an integer), column positions and timestamp unit of a file."""
    if (kind, market) not in _LAYOUTS:
        raise ValueError(f"unknown Binance file kind {kind!r} for market {market!r}")
    lines = [ln for ln in head_lines(path, 1000) if ln.strip()]
    if not lines:
        raise VendorFormatError(f"{Path(path).name}: file is empty")
    first = lines[0].split(",")
    has_header = not _is_int(first[0])
    layout = _LAYOUTS[(kind, market)]
    if has_header:
        columns = []
        for raw in first:
            key = re.sub(r"[\s_]", "", raw.strip().lower())
            if key not in _HEADER_ALIASES:
                raise VendorFormatError(f"{Path(path).name}: unknown header column {raw!r} in {lines[0]!r}")
            columns.append(_HEADER_ALIASES[key])
        missing = [c for c in _REQUIRED[kind] if c not in columns]
        if missing or len(set(columns)) != len(columns):
            raise VendorFormatError(
                f"{Path(path).name}: header {lines[0]!r} is not a Binance {market} {kind} header (missing {missing})"
            )
        data = lines[1:]
    else:
        if len(first) != len(layout):
            raise VendorFormatError(
                f"{Path(path).name}: {len(first)} columns, but a headerless Binance {market} {kind} file has "
                f"{len(layout)} ({', '.join(layout)}); wrong market or kind?"
            )
        columns = list(layout)
        data = lines
    time_col = "open_time" if kind == "klines" else "time"
    ti = columns.index(time_col)
    stamps = []
    for line in data:
        fields = line.split(",")
        if len(fields) == len(columns) and _is_int(fields[ti]):
            stamps.append(int(fields[ti]))
    unit = time_unit_of(stamps, Path(path).name)
    return CsvShape(has_header=has_header, columns=tuple(columns), time_unit=unit)


# --------------------------------------------------------------------------------------------
# Strict readers (every row must parse; for analysis, klines and tests)
# --------------------------------------------------------------------------------------------


def _typed_read(path: Path, shape: CsvShape, selects: dict[str, str], what: str) -> pa.Table:
    """Run `selects` (name -> SQL over `f`) on every data line; a line where any is NULL is an error."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.register("_lines", pa.RecordBatchReader.from_batches(LINE_SCHEMA, line_batches(path)))
        skip = 1 if shape.has_header else 0
        cols = ", ".join(f"{expr} AS {name}" for name, expr in selects.items())
        con.execute(
            f"""CREATE TEMP TABLE _typed AS
            SELECT rn, line, len(f) = {shape.n_columns} AS _ok_width, {cols}
            FROM (SELECT rn, line, string_split(line, ',') AS f
                  FROM (SELECT rn, rtrim(line, chr(13)) AS line FROM _lines WHERE rn > {skip}))"""
        )
        bad_rows = "NOT _ok_width OR " + " OR ".join(f"{name} IS NULL" for name in selects)
        bad = con.execute(f"SELECT rn, line FROM _typed WHERE {bad_rows} ORDER BY rn LIMIT 5").fetchall()
        if bad:
            n_bad = con.execute(f"SELECT count(*) FROM _typed WHERE {bad_rows}").fetchone()[0]
            shown = "; ".join(f"line {rn}: {line!r}" for rn, line in bad)
            raise VendorFormatError(f"{Path(path).name}: {n_bad} {what} line(s) do not parse ({shown})")
        return con.execute(f"SELECT {', '.join(selects)} FROM _typed ORDER BY rn").to_arrow_table()
    finally:
        con.close()


def _field(shape: CsvShape, name: str) -> str:
    return f"trim(f[{shape.pos(name)}])"


def _bool_sql(expr: str) -> str:
    return f"CASE lower({expr}) WHEN 'true' THEN true WHEN 'false' THEN false END"


def read_trades(path: Path, market: Market, kind: Literal["trades", "aggTrades"] = "trades") -> pa.Table:
    """A Binance trades or aggTrades file as a typed table; raises on any line that does not parse.

    Columns: trade_id, price, qty, quote_qty (NULL for aggTrades), time_us, is_buyer_maker,
    taker_side ('buy'/'sell'), first_trade_id and last_trade_id (aggTrades only, else NULL).
    """
    shape = sniff(path, kind, market)
    selects = {
        "trade_id": f"TRY_CAST({_field(shape, 'id')} AS BIGINT)",
        "price": f"TRY_CAST({_field(shape, 'price')} AS {_SQL_DECIMAL})",
        "qty": f"TRY_CAST({_field(shape, 'qty')} AS {_SQL_DECIMAL})",
        "time_us": f"TRY_CAST(TRY_CAST({_field(shape, 'time')} AS HUGEINT) * {shape.to_us} AS BIGINT)",
        "is_buyer_maker": _bool_sql(_field(shape, "is_buyer_maker")),
    }
    optional = {
        "quote_qty": (_SQL_DECIMAL, DECIMAL),
        "first_trade_id": ("BIGINT", pa.int64()),
        "last_trade_id": ("BIGINT", pa.int64()),
    }
    for name, (sql_type, _) in optional.items():
        if name in shape.columns:
            selects[name] = f"TRY_CAST({_field(shape, name)} AS {sql_type})"
    table = _typed_read(path, shape, selects, kind)
    n = table.num_rows

    def column(name: str) -> pa.ChunkedArray | pa.Array:
        return table.column(name) if name in selects else pa.nulls(n, optional[name][1])

    return pa.table(
        {
            "trade_id": table.column("trade_id"),
            "price": table.column("price").cast(DECIMAL),
            "qty": table.column("qty").cast(DECIMAL),
            "quote_qty": column("quote_qty").cast(DECIMAL),
            "time_us": table.column("time_us"),
            "is_buyer_maker": table.column("is_buyer_maker"),
            "taker_side": pc.if_else(table.column("is_buyer_maker"), "sell", "buy"),
            "first_trade_id": column("first_trade_id"),
            "last_trade_id": column("last_trade_id"),
        }
    )


def read_klines(path: Path, market: Market, interval: str | None = None) -> pa.Table:
    """A Binance klines file as a typed table; raises on any line that does not parse.

    Columns: open_time_us, close_time_us (as published, converted to µs), open, high, low,
    close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume. The
    interval comes from the file name unless given; each kline must close exactly one
    interval minus one time unit after it opens, as Binance defines `close_time`.
    """
    path = Path(path)
    if interval is None:
        parsed = parse_binance_name(path.name)
        if parsed is None or parsed.interval is None:
            raise ValueError(f"{path.name}: cannot tell the kline interval from the name; pass interval=")
        interval = parsed.interval
    if interval not in INTERVAL_MS:
        raise ValueError(f"unsupported kline interval {interval!r}")
    shape = sniff(path, "klines", market)
    us = shape.to_us

    def dec(name: str) -> str:
        return f"TRY_CAST({_field(shape, name)} AS {_SQL_DECIMAL})"

    selects = {
        "open_time_us": f"TRY_CAST(TRY_CAST({_field(shape, 'open_time')} AS HUGEINT) * {us} AS BIGINT)",
        "close_time_us": f"TRY_CAST(TRY_CAST({_field(shape, 'close_time')} AS HUGEINT) * {us} AS BIGINT)",
        "open": dec("open"),
        "high": dec("high"),
        "low": dec("low"),
        "close": dec("close"),
        "volume": dec("volume"),
        "quote_volume": dec("quote_volume"),
        "trade_count": f"TRY_CAST({_field(shape, 'count')} AS BIGINT)",
        "taker_buy_volume": dec("taker_buy_volume"),
        "taker_buy_quote_volume": dec("taker_buy_quote_volume"),
    }
    table = _typed_read(path, shape, selects, "kline")
    step_us = INTERVAL_MS[interval] * 1000
    unit_us = us  # one time unit of the file, in µs
    opens = table.column("open_time_us").to_numpy()
    closes = table.column("close_time_us").to_numpy()
    bad = (closes != opens + step_us - unit_us) | (opens % step_us != 0)
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise VendorFormatError(
            f"{path.name}: kline {i + 1} opens at {opens[i]} µs and closes at {closes[i]} µs; expected an open "
            f"aligned to {interval} and close = open + {interval} - 1 {shape.time_unit}"
        )
    return table


# --------------------------------------------------------------------------------------------
# Normalisation: Binance trades/aggTrades -> canonical Tardis `trades` landing file
# --------------------------------------------------------------------------------------------


@dataclass
class NormalisedFile:
    """One landing file written from one vendor file, with what is needed to trace a line back."""

    landing_path: Path
    vendor_file: str
    rows: int
    # landing line = vendor line + line_offset (both 1-based; the landing header is line 1);
    # None when the rows were merged from several vendor files and sorted (no line maps back).
    line_offset: int | None
    vendor_has_header: bool
    time_unit: str | None = None
    vendor_sha256: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def write_manifest(self) -> Path:
        """`<landing_root>/_manifests/<landing file>.json`: where the file came from (not read by the loader)."""
        folder = self.landing_path.parent / "_manifests"
        folder.mkdir(exist_ok=True)
        target = folder / f"{self.landing_path.name}.json"
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        data["written_at"] = dt.datetime.now(dt.UTC).isoformat()
        target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return target


def normalise_trades(
    src: Path,
    landing_root: Path,
    *,
    market: Market,
    symbol: str,
    day: dt.date,
    kind: Literal["trades", "aggTrades"] = "trades",
    sha256: str | None = None,
) -> NormalisedFile:
    """Write a Binance trades/aggTrades file as `<exchange>_trades_<day>_<SYMBOL>.csv.gz` in the landing folder.

    One landing row per vendor data line, in the same order, so the loader's quarantine line
    numbers map back: landing line = vendor line + 1 for a headerless vendor file (the landing
    file gains a header), + 0 when the vendor file has its own header (it is replaced).
    Timestamps become microseconds; `local_timestamp` = `timestamp` (Binance publishes no
    receive time); side = 'sell' when `is_buyer_maker` is true, else 'buy'. Lines that cannot be
    mapped (wrong column count, quotes, blank) are kept as one quoted field so the loader
    quarantines them in place; values that do not parse are passed through for the loader's
    typed read to reject. For aggTrades, `id` is the aggregate trade id and `amount` the
    aggregated quantity.
    """
    validate_symbol(symbol)
    exchange = EXCHANGE_BY_MARKET[market]
    shape = sniff(src, kind, market)
    raw_ts = _field(shape, "time")
    ts = f"coalesce(CAST(TRY_CAST(TRY_CAST({raw_ts} AS HUGEINT) * {shape.to_us} AS BIGINT) AS VARCHAR), {raw_ts})"
    ibm = _field(shape, "is_buyer_maker")
    side = f"CASE lower({ibm}) WHEN 'true' THEN 'sell' WHEN 'false' THEN 'buy' ELSE {ibm} END"
    line_sql = f"""CASE WHEN len(f) = {shape.n_columns} AND NOT contains(line, '"') THEN
            '{exchange},{symbol},' || {ts} || ',' || {ts} || ',' || {_field(shape, 'id')} || ',' || {side}
            || ',' || {_field(shape, 'price')} || ',' || {_field(shape, 'qty')}
        ELSE {malformed_line_sql()} END"""
    dest = Path(landing_root) / trades_file_name(exchange, day, symbol)
    rows = rewrite_lines(src, dest, ",".join(TRADES_COLUMNS), line_sql, skip_lines=1 if shape.has_header else 0)
    out = NormalisedFile(
        landing_path=dest,
        vendor_file=str(src),
        rows=rows,
        line_offset=0 if shape.has_header else 1,
        vendor_has_header=shape.has_header,
        time_unit=shape.time_unit,
        vendor_sha256=sha256,
        notes={"vendor": "binance", "market": market, "kind": kind},
    )
    out.write_manifest()
    return out


def write_empty_book_file(landing_root: Path, exchange: str, symbol: str, day: dt.date) -> Path:
    """A header-only `book_snapshot_1` landing file for a day staged without book data.

    Binance's public trade archives carry no order book, but the daily job loads book snapshots
    for every day and treats a day without any book file as missing data; an empty file says
    "no snapshots" on purpose.
    """
    dest = Path(landing_root) / snapshots_file_name(exchange, day, 1, symbol)
    with replacing(dest) as tmp, gzip.open(tmp, "wt", newline="") as fh:
        fh.write(",".join(snapshot_columns(1)) + "\n")
    return dest


# --------------------------------------------------------------------------------------------
# USD-M derivatives files: bookTicker -> quotes, fundingRate + metrics -> derivative_ticker
# --------------------------------------------------------------------------------------------

# Column layouts as the files publish them (header rows in the files seen; older bookTicker files
# may lack one, then the column count must match). Binance's README documents none of these three:
# see docs/vendors.md for where each layout was confirmed.
BOOK_TICKER_COLUMNS: tuple[str, ...] = (
    "update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty", "transaction_time", "event_time",
)
FUNDING_RATE_COLUMNS: tuple[str, ...] = ("calc_time", "funding_interval_hours", "last_funding_rate")
METRICS_COLUMNS: tuple[str, ...] = (
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value", "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio", "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
)
_DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_CREATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def binance_monthly_name(symbol: str, kind: str, day: dt.date, ext: str = "zip") -> str:
    """The monthly file name holding `day`, e.g. `BTCUSDT-fundingRate-2024-01.zip`."""
    validate_symbol(symbol)
    return f"{symbol}-{kind}-{day:%Y-%m}.{ext}"


def _layout_shape(path: Path, layout: tuple[str, ...], what: str, time_column: str | None) -> CsvShape:
    """Header (first field not an integer; then its names must be exactly `layout`, any order) or the
    documented column count, and the unit of `time_column` (ms or µs, from the magnitude)."""
    lines = [ln for ln in head_lines(path, 1000) if ln.strip()]
    if not lines:
        raise VendorFormatError(f"{Path(path).name}: file is empty")
    first = [f.strip() for f in lines[0].split(",")]
    has_header = not _is_int(first[0])
    if has_header:
        if sorted(first) != sorted(layout):
            raise VendorFormatError(
                f"{Path(path).name}: header {lines[0]!r} is not the Binance {what} header {','.join(layout)!r}"
            )
        columns, data = tuple(first), lines[1:]
    else:
        if len(first) != len(layout):
            raise VendorFormatError(
                f"{Path(path).name}: {len(first)} columns, but a headerless Binance {what} file has {len(layout)} "
                f"({','.join(layout)})"
            )
        columns, data = layout, lines
    unit: Literal["ms", "us"] = "ms"
    if time_column is not None:
        ti = columns.index(time_column)
        stamps = [int(f[ti]) for f in (ln.split(",") for ln in data) if len(f) == len(columns) and _is_int(f[ti])]
        if stamps or data:  # a header-only file has no unit to decide, and no rows to convert
            unit = time_unit_of(stamps, Path(path).name)
    return CsvShape(has_header=has_header, columns=columns, time_unit=unit)


def normalise_book_ticker(
    src: Path, landing_root: Path, *, symbol: str, day: dt.date, sha256: str | None = None
) -> NormalisedFile:
    """A USD-M `bookTicker` file -> `binance-futures_quotes_<day>_<SYMBOL>.csv.gz`, one row per vendor line.

    timestamp = transaction_time, local_timestamp = event_time (both to µs), ask_amount =
    best_ask_qty, ask_price = best_ask_price, bid_price = best_bid_price, bid_amount =
    best_bid_qty; values are copied as text. Row order and the broken-line handling are those of
    `normalise_trades` (landing line = vendor line, + 1 for a headerless vendor file).
    """
    validate_symbol(symbol)
    exchange = EXCHANGE_BY_MARKET["usdm"]
    shape = _layout_shape(src, BOOK_TICKER_COLUMNS, "usdm bookTicker", "transaction_time")

    def us(name: str) -> str:
        raw = _field(shape, name)
        return f"coalesce(CAST(TRY_CAST(TRY_CAST({raw} AS HUGEINT) * {shape.to_us} AS BIGINT) AS VARCHAR), {raw})"

    values = [us("transaction_time"), us("event_time"), _field(shape, "best_ask_qty"),
              _field(shape, "best_ask_price"), _field(shape, "best_bid_price"), _field(shape, "best_bid_qty")]
    line_sql = f"""CASE WHEN len(f) = {shape.n_columns} AND NOT contains(line, '"') THEN
            '{exchange},{symbol},' || {" || ',' || ".join(values)}
        ELSE {malformed_line_sql()} END"""
    dest = Path(landing_root) / landing_file_name(exchange, QUOTES, day, symbol)
    rows = rewrite_lines(src, dest, ",".join(QUOTES_COLUMNS), line_sql, skip_lines=1 if shape.has_header else 0)
    out = NormalisedFile(
        landing_path=dest, vendor_file=str(src), rows=rows, line_offset=0 if shape.has_header else 1,
        vendor_has_header=shape.has_header, time_unit=shape.time_unit, vendor_sha256=sha256,
        notes={"vendor": "binance", "market": "usdm", "kind": "bookTicker"},
    )
    out.write_manifest()
    return out


def _data_lines(path: Path, shape: CsvShape) -> Iterator[tuple[int, list[str]]]:
    """(vendor line number, fields) of every non-blank data line of a small file; a line that is not
    `shape.n_columns` plain fields is an error naming the file and the line."""
    try:
        with open_vendor_file(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="").read()
    except UnicodeDecodeError as exc:
        raise VendorFormatError(f"{Path(path).name}: cannot read: {exc}") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        if (lineno == 1 and shape.has_header) or not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != shape.n_columns or '"' in line:
            raise VendorFormatError(
                f"{Path(path).name}: line {lineno} {line[:200]!r} is not {shape.n_columns} plain fields "
                f"({','.join(shape.columns)})"
            )
        yield lineno, fields


@dataclass
class DerivativeTickerDay:
    """What `derivative_ticker_from_binance` wrote: the landing file and where its rows came from."""

    landing: NormalisedFile
    funding_rows: int = 0
    metrics_rows: int = 0
    duplicates_dropped: int = 0


def derivative_ticker_from_binance(
    landing_root: Path,
    *,
    symbol: str,
    day: dt.date,
    funding: Sequence[Path] = (),
    metrics: Sequence[Path] = (),
    sha256: Sequence[str | None] = (),
) -> DerivativeTickerDay:
    """USD-M `fundingRate` (monthly) and `metrics` (daily) files -> `binance-futures_derivative_ticker_<day>_<SYMBOL>`.

    Only rows whose time falls on `day` (UTC) are kept, so a month's funding file is split by day
    and a metrics row stamped at the next midnight goes to the next day (pass the previous day's
    metrics file too to pick up this day's midnight). A funding row: timestamp = funding_timestamp
    = calc_time (µs), funding_rate = last_funding_rate. A metrics row: timestamp = create_time
    (UTC, µs), open_interest = sum_open_interest. Every other field is empty; values are copied as
    text, never through a float. Rows are sorted by timestamp (funding before metrics at the same
    time, then vendor order); a row repeated exactly (early metrics files hold every row twice, and
    the two metrics files overlap) is written once. A line that does not parse stops the day with
    an error naming the file and the line: merged rows have no vendor line to quarantine at.
    """
    validate_symbol(symbol)
    exchange = EXCHANGE_BY_MARKET["usdm"]
    start_us = (day - _EPOCH).days * _DAY_US
    rows: list[tuple[int, int, int, tuple[str, ...]]] = []
    counts = {"funding_rows": 0, "metrics_rows": 0, "duplicates_dropped": 0}
    for path in funding:
        shape = _layout_shape(path, FUNDING_RATE_COLUMNS, "usdm fundingRate", "calc_time")
        ti, ri = shape.pos("calc_time") - 1, shape.pos("last_funding_rate") - 1
        for lineno, f in _data_lines(path, shape):
            if not _is_int(f[ti]):
                raise VendorFormatError(f"{Path(path).name}: line {lineno}: calc_time {f[ti]!r} is not an integer")
            ts = int(f[ti]) * shape.to_us
            if start_us <= ts < start_us + _DAY_US:
                rows.append((ts, 0, len(rows), (exchange, symbol, str(ts), "", str(ts), f[ri], "", "", "", "", "")))
                counts["funding_rows"] += 1
    for path in metrics:
        shape = _layout_shape(path, METRICS_COLUMNS, "usdm metrics", None)
        ti, si, oi = (shape.pos(c) - 1 for c in ("create_time", "symbol", "sum_open_interest"))
        for lineno, f in _data_lines(path, shape):
            if not _CREATE_TIME.fullmatch(f[ti]):
                raise VendorFormatError(
                    f"{Path(path).name}: line {lineno}: create_time {f[ti]!r} is not 'YYYY-MM-DD HH:MM:SS'"
                )
            if f[si] != symbol:
                raise VendorFormatError(f"{Path(path).name}: line {lineno}: symbol {f[si]!r}, expected {symbol!r}")
            when = dt.datetime.strptime(f[ti], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
            ts = int(when.timestamp()) * 1_000_000
            if start_us <= ts < start_us + _DAY_US:
                rows.append((ts, 1, len(rows), (exchange, symbol, str(ts), "", "", "", "", f[oi], "", "", "")))
                counts["metrics_rows"] += 1
    seen: set[tuple[str, ...]] = set()
    lines = []
    for *_, row in sorted(rows):
        if row in seen:
            counts["duplicates_dropped"] += 1
            continue
        seen.add(row)
        lines.append(",".join(row) + "\n")
    dest = Path(landing_root) / landing_file_name(exchange, DERIVATIVE_TICKER, day, symbol)
    with replacing(dest) as tmp, gzip.open(tmp, "wt", encoding="utf-8", newline="") as fh:
        fh.write(",".join(DERIVATIVE_TICKER_COLUMNS) + "\n")
        fh.writelines(lines)
    landing = NormalisedFile(
        landing_path=dest, vendor_file="; ".join(str(p) for p in (*funding, *metrics)), rows=len(lines),
        line_offset=None, vendor_has_header=True, vendor_sha256="; ".join(s or "" for s in sha256) or None,
        notes={"vendor": "binance", "market": "usdm", "kind": "fundingRate+metrics"}
        | {k: str(v) for k, v in counts.items()},
    )
    landing.write_manifest()
    return DerivativeTickerDay(landing=landing, **counts)
