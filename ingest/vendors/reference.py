"""Exchange-published 1-minute klines as a reference table, and the comparison of our bars against it.

Binance computes its klines from its own matching engine's trades, so they are an independent
check of everything between a vendor's capture and our marts: missing or duplicated trades,
wrong taker sides, timestamp units, rounding. `reference.binance_klines_1m` holds them as
published (DECIMAL, exact), and `compare_with_reference` reports every minute (and every hour,
rolled up) where `marts.ohlcv_1m_filled` / `marts.ohlcv_1h` disagree.

Binance semantics that the comparison follows:
- a minute without trades is published with volume 0, trade count 0 and open = high = low =
  close = the previous close; `ohlcv_1m_filled` fills our minutes the same way between the first
  and last traded minute of each symbol-day, and reference minutes outside that span with
  volume 0 are not compared (we do not know the previous day's close inside a day's window);
- taker buy volume = volume of trades whose buyer was the taker (`is_buyer_maker = false`) =
  our `buy_volume`;
- quote volume is published rounded to 8 decimals (per trade on spot), ours is the exact
  sum of price x amount, hence a tolerance of trade_count x 1e-8 on it; every other field is
  compared exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ingest import numeric
from ingest.marts import mart
from ingest.vendors._lines import VendorFormatError
from ingest.vendors.binance import Market, read_klines
from ingest.vendors.source import KlinesFile

REFERENCE_DDL = """
CREATE SCHEMA IF NOT EXISTS reference;
CREATE TABLE IF NOT EXISTS reference.binance_klines_1m (
    kline_date DATE NOT NULL,
    exchange VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    open_time TIMESTAMP NOT NULL,
    close_time TIMESTAMP NOT NULL,
    open DECIMAL(38, 8) NOT NULL,
    high DECIMAL(38, 8) NOT NULL,
    low DECIMAL(38, 8) NOT NULL,
    close DECIMAL(38, 8) NOT NULL,
    volume DECIMAL(38, 8) NOT NULL,
    quote_volume DECIMAL(38, 8) NOT NULL,
    trade_count BIGINT NOT NULL,
    taker_buy_volume DECIMAL(38, 8) NOT NULL,
    taker_buy_quote_volume DECIMAL(38, 8) NOT NULL,
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR,
    loaded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""
# Binance publishes at most 8 decimals; DECIMAL(38, 8) holds them exactly, and DuckDB compares them
# exactly with the marts' DECIMAL(22, 12) prices and DECIMAL(38, 12) volumes (the numeric contract).
_DECIMAL_COLUMNS = (
    "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume",
)
QUOTE_VOLUME_TOLERANCE_PER_TRADE = "0.00000001"
TOLERANCE_TEXT = (
    "open, high, low, close, volume, trade_count, taker_buy_volume: exact (DECIMAL equality); "
    f"quote_volume: |project - reference| <= trade_count x {QUOTE_VOLUME_TOLERANCE_PER_TRADE} "
    "(Binance publishes quote amounts rounded to 8 decimals, the project's are exact price x amount)"
)


def ensure_reference_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(REFERENCE_DDL)


@dataclass
class KlinesLoadReport:
    rows_by_symbol: dict[str, int] = field(default_factory=dict)
    rows_replaced: int = 0
    files: list[str] = field(default_factory=list)


def load_klines_reference(
    con: duckdb.DuckDBPyConnection, files: Sequence[KlinesFile], market: Market
) -> KlinesLoadReport:
    """Replace each file's (exchange, symbol, day) in `reference.binance_klines_1m`, all in one transaction.

    Every kline must parse, lie in the file's UTC day, and fit 8 decimals exactly; otherwise
    nothing is written and the error names the file.
    """
    ensure_reference_schema(con)
    report = KlinesLoadReport()
    tables = []
    for kf in files:
        table = read_klines(kf.path, market, "1m")
        con.register("_kl", table)
        start = dt.datetime.combine(kf.day, dt.time(), dt.UTC)
        start_us = int(start.timestamp()) * 1_000_000
        outside = con.execute(
            "SELECT count(*) FROM _kl WHERE open_time_us < ? OR open_time_us >= ?",
            [start_us, start_us + 86_400_000_000],
        ).fetchone()[0]
        inexact = con.execute(
            "SELECT count(*) FROM _kl WHERE "
            + " OR ".join(f"CAST({c} AS DECIMAL(38, 8)) <> {c}" for c in _DECIMAL_COLUMNS)
        ).fetchone()[0]
        con.unregister("_kl")
        if outside:
            raise VendorFormatError(f"{kf.path.name}: {outside} klines are not on {kf.day} (UTC)")
        if inexact:
            raise VendorFormatError(f"{kf.path.name}: {inexact} klines have more than 8 decimals")
        tables.append((kf, table))
    con.execute("BEGIN TRANSACTION")
    try:
        for kf, table in tables:
            report.rows_replaced += con.execute(
                "SELECT count(*) FROM reference.binance_klines_1m WHERE exchange = ? AND symbol = ? AND kline_date = ?",
                [kf.exchange, kf.symbol, kf.day],
            ).fetchone()[0]
            con.execute(
                "DELETE FROM reference.binance_klines_1m WHERE exchange = ? AND symbol = ? AND kline_date = ?",
                [kf.exchange, kf.symbol, kf.day],
            )
            con.register("_kl", table)
            # close_time = open_time + 1 minute - 1 ms, Binance's definition (µs files publish - 1 µs).
            con.execute(
                """INSERT INTO reference.binance_klines_1m (kline_date, exchange, symbol, open_time, close_time, open,
                    high, low, close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume,
                    source_file, source_sha256)
                SELECT $1, $2, $3, make_timestamp(open_time_us),
                       make_timestamp(open_time_us) + INTERVAL 59999 MILLISECOND,
                       open, high, low, close, volume, quote_volume, trade_count, taker_buy_volume,
                       taker_buy_quote_volume, $4, $5
                FROM _kl ORDER BY open_time_us""",
                [kf.day, kf.exchange, kf.symbol, kf.origin, kf.sha256],
            )
            con.unregister("_kl")
            report.rows_by_symbol[f"{kf.exchange}:{kf.symbol}"] = table.num_rows
            report.files.append(kf.origin)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count", "taker_buy_volume")


def _mismatch_list(r: str, p: str) -> str:
    """SQL list of the names of fields that differ between reference alias `r` and project alias `p`."""
    both = f"{r}_present AND {p}_present"
    checks = [
        f"CASE WHEN NOT {p}_present AND {r}_trade_count > 0 THEN 'missing_in_project' END",
        f"CASE WHEN NOT {r}_present THEN 'missing_in_reference' END",
    ]
    for name in _FIELDS:
        if name == "quote_volume":
            q = numeric.NOTIONAL_SQL  # the marts' scale: the difference is exact
            cond = (
                f"abs(CAST({r}_quote_volume AS {q}) - CAST({p}_quote_volume AS {q})) > "
                f"greatest({r}_trade_count, 1) * CAST('{QUOTE_VOLUME_TOLERANCE_PER_TRADE}' AS {q})"
            )
        else:
            cond = f"{r}_{name} IS DISTINCT FROM {p}_{name}"
        checks.append(f"CASE WHEN {both} AND {cond} THEN '{name}' END")
    return f"list_filter([{', '.join(checks)}], x -> x IS NOT NULL)"


def _sides(alias: str) -> str:
    return ", ".join(f"{alias}.{c} AS {alias}_{c}" for c in _FIELDS)


# The marts the klines are compared with: Binance fills empty minutes like ohlcv_1m_filled, and
# its hours are rolled up here to meet ohlcv_1h. Resolved through the dbt manifest (ingest.marts).
FILLED_MINUTES, HOURS, MINUTES = "ohlcv_1m_filled", "ohlcv_1h", "ohlcv_1m"


def _compare_sql(filled_minutes: str, hours: str) -> str:
    return f"""
WITH ref AS (
    SELECT * FROM reference.binance_klines_1m WHERE kline_date >= $1 AND kline_date < $2
),
keys AS (SELECT DISTINCT exchange, symbol, kline_date AS bar_date FROM ref),
ref_m AS (
    SELECT exchange, symbol, open_time AS bucket_start, open, high, low, close, volume, quote_volume, trade_count,
           taker_buy_volume
    FROM ref
),
proj_m AS (
    SELECT f.exchange, f.symbol, f.bucket_start, f.open, f.high, f.low, f.close, f.volume, f.quote_volume,
           f.trade_count, f.buy_volume AS taker_buy_volume
    FROM {filled_minutes} f JOIN keys USING (exchange, symbol, bar_date)
),
ref_h AS (
    SELECT exchange, symbol, time_bucket(INTERVAL '1 hour', open_time) AS bucket_start,
           arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low, arg_max(close, open_time) AS close,
           sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trade_count) AS trade_count,
           sum(taker_buy_volume) AS taker_buy_volume
    FROM ref WHERE trade_count > 0
    GROUP BY ALL
),
proj_h AS (
    SELECT h.exchange, h.symbol, h.bucket_start, h.open, h.high, h.low, h.close, h.volume, h.quote_volume,
           h.trade_count, h.buy_volume AS taker_buy_volume
    FROM {hours} h JOIN keys USING (exchange, symbol, bar_date)
),
joined AS (
    SELECT '1m' AS grain, coalesce(r.exchange, p.exchange) AS exchange, coalesce(r.symbol, p.symbol) AS symbol,
           coalesce(r.bucket_start, p.bucket_start) AS bucket_start,
           r.bucket_start IS NOT NULL AS r_present, p.bucket_start IS NOT NULL AS p_present,
           {_sides('r')}, {_sides('p')}
    FROM ref_m r FULL OUTER JOIN proj_m p USING (exchange, symbol, bucket_start)
    UNION ALL
    SELECT '1h', coalesce(r.exchange, p.exchange), coalesce(r.symbol, p.symbol),
           coalesce(r.bucket_start, p.bucket_start),
           r.bucket_start IS NOT NULL, p.bucket_start IS NOT NULL, {_sides('r')}, {_sides('p')}
    FROM ref_h r FULL OUTER JOIN proj_h p USING (exchange, symbol, bucket_start)
)
SELECT *, {_mismatch_list('r', 'p')} AS fields FROM joined
"""


@dataclass
class ReferenceComparison:
    """Outcome of comparing our bars with the exchange's klines over a window of days."""

    first_day: dt.date
    end_day: dt.date  # exclusive
    reference_rows: int = 0
    symbol_days: int = 0
    minutes_compared: int = 0
    minutes_mismatched: int = 0
    minutes_outside_span: int = 0
    hours_compared: int = 0
    hours_mismatched: int = 0
    by_field: dict[str, int] = field(default_factory=dict)
    first_mismatches: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    # Symbol-days with bars on a reference exchange but no reference klines: not compared.
    symbols_missing_from_reference: list[str] = field(default_factory=list)

    @property
    def evaluated(self) -> bool:
        """Something was compared (or found missing): a pass means more than "nothing to look at"."""
        return bool(self.minutes_compared or self.hours_compared or self.minutes_mismatched
                    or self.hours_mismatched)

    @property
    def passed(self) -> bool:
        return self.minutes_mismatched == 0 and self.hours_mismatched == 0

    def markdown(self) -> str:
        if not self.first_mismatches:
            return "no mismatches"
        cols = ["grain", "exchange", "symbol", "bucket_start", "fields", "project", "reference"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in self.first_mismatches:
            lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|") for c in cols) + " |")
        return "\n".join(lines)

    def summary(self) -> str:
        if self.note:
            return self.note
        if self.passed:
            return (f"{self.minutes_compared} minutes and {self.hours_compared} hours equal the exchange's klines "
                    f"({self.symbol_days} symbol-days)")
        first = self.first_mismatches[0]
        return (f"{self.minutes_mismatched} of {self.minutes_compared} minutes and {self.hours_mismatched} of "
                f"{self.hours_compared} hours differ from the exchange's klines; first: {first['grain']} "
                f"{first['exchange']} {first['symbol']} {first['bucket_start']} ({first['fields']})")


def _values(row: dict[str, Any], side: str) -> str:
    if not row[f"{side}_present"]:
        return "(none)"
    names = {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v", "quote_volume": "qv",
             "trade_count": "n", "taker_buy_volume": "tbv"}
    return " ".join(f"{short}={_fmt(row[f'{side}_{name}'])}" for name, short in names.items())


def _fmt(v: Any) -> str:
    if v is None:
        return "NULL"
    text = format(v, "f") if hasattr(v, "as_tuple") else str(v)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()[0])


def compare_with_reference(
    con: duckdb.DuckDBPyConnection, first_day: dt.date, end_day: dt.date, *, max_rows: int = 20
) -> ReferenceComparison:
    """Compare `marts.ohlcv_1m_filled` and `marts.ohlcv_1h` with the reference klines of [first_day, end_day).

    Only symbol-days that have reference klines are compared. Mismatch kinds: a field that
    differs, `missing_in_project` (the exchange has trades in a minute we have no bar for) and
    `missing_in_reference` (we have a bar the exchange does not).
    """
    out = ReferenceComparison(first_day=first_day, end_day=end_day)
    filled, hours, minutes = mart(FILLED_MINUTES), mart(HOURS), mart(MINUTES)
    if _exists(con, "reference", "binance_klines_1m") and _exists(con, minutes.schema, minutes.name):
        out.symbols_missing_from_reference = [
            f"{ex}:{sym} {day}" for ex, sym, day in con.execute(
                f"""SELECT DISTINCT exchange, symbol, bar_date FROM {minutes.relation}
                   WHERE bar_date >= ? AND bar_date < ?
                     AND exchange IN (SELECT DISTINCT exchange FROM reference.binance_klines_1m)
                   EXCEPT SELECT exchange, symbol, kline_date FROM reference.binance_klines_1m
                   ORDER BY ALL""",
                [first_day, end_day],
            ).fetchall()
        ]
    if not _exists(con, "reference", "binance_klines_1m"):
        out.note = "no reference klines loaded (reference.binance_klines_1m does not exist): nothing to compare"
        return out
    out.reference_rows, out.symbol_days = con.execute(
        "SELECT count(*), count(DISTINCT (exchange, symbol, kline_date)) FROM reference.binance_klines_1m "
        "WHERE kline_date >= ? AND kline_date < ?",
        [first_day, end_day],
    ).fetchone()
    if not out.reference_rows:
        out.note = f"no reference klines for [{first_day}, {end_day}): nothing to compare"
        return out
    for table in (filled, hours):
        if not _exists(con, table.schema, table.name):
            out.note = f"{table.relation} does not exist yet: build the marts first"
            out.minutes_mismatched = out.reference_rows  # reference data but no bars: not a pass
            return out
    con.execute(f"CREATE OR REPLACE TEMP TABLE _cmp AS {_compare_sql(filled.relation, hours.relation)}",
                [first_day, end_day])
    (out.minutes_compared, out.minutes_mismatched, out.minutes_outside_span, out.hours_compared,
     out.hours_mismatched) = con.execute(
        """SELECT count(*) FILTER (WHERE grain = '1m' AND r_present AND p_present),
                  count(*) FILTER (WHERE grain = '1m' AND len(fields) > 0),
                  count(*) FILTER (WHERE grain = '1m' AND r_present AND NOT p_present AND len(fields) = 0),
                  count(*) FILTER (WHERE grain = '1h' AND r_present AND p_present),
                  count(*) FILTER (WHERE grain = '1h' AND len(fields) > 0)
        FROM _cmp"""
    ).fetchone()
    out.by_field = {
        f"{grain}:{name}": int(n)
        for grain, name, n in con.execute(
            "SELECT grain, f, count(*) FROM (SELECT grain, unnest(fields) AS f FROM _cmp) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    }
    cur = con.execute(
        "SELECT * FROM _cmp WHERE len(fields) > 0 ORDER BY grain DESC, exchange, symbol, bucket_start LIMIT ?",
        [max_rows],
    )
    names = [d[0] for d in cur.description]
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        out.first_mismatches.append({
            "grain": row["grain"], "exchange": row["exchange"], "symbol": row["symbol"],
            "bucket_start": row["bucket_start"], "fields": ", ".join(row["fields"]),
            "project": _values(row, "p"), "reference": _values(row, "r"),
        })
    con.execute("DROP TABLE _cmp")
    return out
