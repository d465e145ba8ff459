"""Funding payments of a perpetual position: one row per settled funding event, exact.

A settled funding event at time F (a `funding_ts` of `raw.derivative_ticker`, start <= F < end) has
the rate last observed for it at or before F: of the ticker rows whose funding_ts is F, with a rate,
stamped at or before F, the last in the ticker's total order (ts, local_ts, then the values; the
order `asof_join(right="ticker")` uses). Its mark is the last non-null mark_price at or before F.
Both must be at most `tolerance` older than F (default 8h, the longest interval of the big venues);
ticker rows are read from start - tolerance. An event no rate was observed for within tolerance is
not reported (nothing says it happened); an event without a mark within tolerance is reported with
mark, payment and, from there on, cumulative_payment null (an unknown term makes the sum unknown).

Sign convention (the exchanges'): payment = -position * mark_price * funding_rate, in quote units, as
seen by the position holder: positive is received, negative paid. A long (position > 0) pays a
positive rate; a short receives it. `position` is a signed amount held constant over [start, end),
or a list of (time, signed amount) changes: the position at F is the last change at or before F
(0 before the first), so a position opened exactly at F pays F's funding.

Work goes day by day in temp tables of the reader's DuckDB, like every research answer: the rate
observations of events not yet due and the last mark of each exchange are carried into the next day.
The answer is small (a few events a day) and is computed before it is returned, so a request whose
symbol has funding on several exchanges without `exchange=` is refused before any row is shown.

Types: exact mode gives funding_rate DECIMAL(28,24), mark_price DECIMAL(22,12), position DECIMAL(28,12),
payment and cumulative_payment DECIMAL(38,28) (|x| < 1e10, 28 decimals: the product of a 20-decimal
rate, a 2-decimal mark and a 6-decimal position still fits); a payment that needs more is refused
with a one-line error, never rounded (ask numeric="float"). Float mode: float64, each the nearest
double of the exact value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import pyarrow as pa

from ingest import numbers, numeric
from ingest.history import HistoricalData, HistoryError, Time, to_timestamp
from ingest.research.columns import TICKER_ORDER
from ingest.research.common import (
    ResearchError,
    Result,
    day_chunks,
    duration,
    lake_connection,
    materialize,
    span,
)
from ingest.sql import quote_ident

PAYMENT_SCALE = 28
PAYMENT_TYPE = pa.decimal128(38, PAYMENT_SCALE)
MAX_PAYMENT = Decimal(10) ** (38 - PAYMENT_SCALE)  # exclusive
_QUANTUM = Decimal(1).scaleb(-PAYMENT_SCALE)
DEFAULT_TOLERANCE = "8h"
MAX_CHANGES = 100_000

SCHEMA = pa.schema([
    ("exchange", pa.string()), ("symbol", pa.string()), ("funding_ts", pa.timestamp("us")),
    ("funding_rate", pa.decimal128(28, numeric.RATE_SCALE)), ("rate_ts", pa.timestamp("us")),
    ("mark_price", numbers.PRICE_TYPE), ("mark_ts", pa.timestamp("us")), ("position", numbers.AMOUNT_TYPE),
    ("payment", PAYMENT_TYPE), ("cumulative_payment", PAYMENT_TYPE),
])
_COLUMNS = ["exchange", "symbol", "ts", "local_ts", "funding_ts", "funding_rate", "predicted_funding_rate",
            "open_interest", "last_price", "index_price", "mark_price"]


def signed_amount(value: Any, what: str = "position") -> Decimal:
    """A signed amount: an exact number with |x| < 1e16 and at most 12 decimals (the amount contract)."""
    allowed = f"a number with |{what}| < 1e16 and at most {numeric.SCALE} decimals, e.g. 0.5 or -2"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ResearchError(f"invalid {what} {value!r}: expected {allowed}")
    text = str(value).strip()
    try:
        number = Decimal(text) if len(text) <= 60 and "e" not in text.lower() else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ResearchError(f"invalid {what} {value!r}: expected {allowed}")
    if abs(number) >= numeric.MAX_AMOUNT or number.as_tuple().exponent < -numeric.SCALE:  # type: ignore[operator]
        raise ResearchError(f"{what} {value!r} is out of range: expected {allowed}")
    return number


def _changes(position: Any, lo: dt.datetime) -> list[tuple[dt.datetime, Decimal]]:
    """The position as (time, amount) changes in time order: a constant is one change at start."""
    if not isinstance(position, list | tuple):
        return [(lo, signed_amount(position))]
    if not position or len(position) > MAX_CHANGES:
        raise ResearchError(f"position changes: give 1 to {MAX_CHANGES} (time, amount) pairs")
    out: list[tuple[dt.datetime, Decimal]] = []
    for item in position:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ResearchError(f"invalid position change {item!r}: expected a (time, signed amount) pair")
        try:
            when = to_timestamp(item[0])
        except HistoryError as exc:
            raise ResearchError(f"invalid position change time: {exc}") from None
        if out and when <= out[-1][0]:
            raise ResearchError(f"position changes must be in increasing time order: {when} after {out[-1][0]}")
        out.append((when, signed_amount(item[1])))
    return out


def _position_at(changes: list[tuple[dt.datetime, Decimal]], when: dt.datetime) -> Decimal:
    held = Decimal(0)
    for at, amount in changes:
        if at > when:
            break
        held = amount
    return held


def funding_payments(
    hist: HistoricalData,
    symbol: str,
    start: Time,
    end: Time,
    position: Any,
    *,
    exchange: str | None = None,
    tolerance: str | dt.timedelta = DEFAULT_TOLERANCE,
    numeric: str | None = None,
) -> Result:
    """The funding a position pays or receives, one row per settled funding event with start <= F < end:
    exchange, symbol, funding_ts, funding_rate, rate_ts (when that rate was observed), mark_price,
    mark_ts, position (held at F), payment = -position * mark_price * funding_rate (positive: received;
    a long pays a positive rate) and cumulative_payment. See the module doc for every rule."""
    mode = numbers.check_mode(numeric or hist.numeric)
    if not isinstance(symbol, str):
        raise ResearchError(f"funding_payments takes one symbol, got {symbol!r}")
    if tolerance is None:
        raise ResearchError("funding_payments needs a tolerance (the oldest rate and mark accepted), e.g. '8h'")
    tol = duration(tolerance, "tolerance")
    assert tol is not None
    syms, exchange, lo, hi = span(symbol, start, end, exchange)
    changes = _changes(position, lo)
    events = _events(hist, syms, exchange, lo, hi, tol)
    venues = sorted({e[0] for e in events})
    if len(venues) > 1:
        raise ResearchError(f"{symbol} has funding events on {len(venues)} exchanges ({', '.join(venues)}): "
                            "give exchange=")
    rows: list[dict[str, Any]] = []
    total: Decimal | None = Decimal(0)
    with localcontext(prec=120):  # exact: 38 + 22 + 28 digits at most
        for exch, sym, funding_ts, rate, rate_ts, mark, mark_ts in events:
            held = _position_at(changes, funding_ts)
            payment = None if mark is None else -(held * mark * rate)
            total = None if payment is None or total is None else total + payment
            rows.append({"exchange": exch, "symbol": sym, "funding_ts": funding_ts, "funding_rate": rate,
                         "rate_ts": rate_ts, "mark_price": mark, "mark_ts": mark_ts, "position": held,
                         "payment": payment, "cumulative_payment": total})
    if mode == "float":
        schema = SCHEMA.set(8, pa.field("payment", pa.float64())).set(9, pa.field("cumulative_payment", pa.float64()))
        for r in rows:
            for c in ("payment", "cumulative_payment"):
                r[c] = None if r[c] is None else float(r[c])  # the nearest double of the exact value
    else:
        schema = SCHEMA
        for r in rows:
            for c in ("payment", "cumulative_payment"):
                r[c] = _exact(r[c], c, r["funding_ts"])
    table = pa.Table.from_pylist(rows, schema=schema)
    return Result(table.schema, table.to_batches() or [pa.RecordBatch.from_pylist([], schema=schema)], mode)


def _exact(value: Decimal | None, what: str, when: dt.datetime) -> Decimal | None:
    if value is None:
        return None
    with localcontext(prec=120):  # normalize and quantize round to the context's precision: none here
        return _checked(value, what, when)


def _checked(value: Decimal, what: str, when: dt.datetime) -> Decimal:
    if abs(value) >= MAX_PAYMENT or value.normalize().as_tuple().exponent < -PAYMENT_SCALE:  # type: ignore[operator]
        raise ResearchError(f"the {what} of the funding at {when} is {numbers.number_text(value)}: it needs "
                            f"|x| < 1e{38 - PAYMENT_SCALE} and at most {PAYMENT_SCALE} decimals to be exact; "
                            "ask numeric='float'")
    return value.quantize(_QUANTUM)  # trailing zeros only: the check above proved it exact


def _events(hist: HistoricalData, syms: Sequence[str], exchange: str | None, lo: dt.datetime, hi: dt.datetime,
            tol: dt.timedelta) -> list[tuple]:
    """(exchange, symbol, funding_ts, rate, rate_ts, mark, mark_ts) of every settled event, in time order."""
    micros = int(tol // dt.timedelta(microseconds=1))
    last = ", ".join(f"{quote_ident(c)} DESC NULLS FIRST" for c in TICKER_ORDER)  # the last of the total order first
    out: list[tuple] = []
    with lake_connection(hist) as con:
        carried = False
        for c_lo, c_hi in day_chunks(lo, hi):
            materialize(con, "_tk", hist.day_queries(con, "derivative_ticker", syms, c_lo if carried else lo - tol,
                                                     c_hi, exchange, columns=_COLUMNS, ordered=False))
            # The rate observations of events in range (at or before their time, within tolerance): the
            # last one per event, with those carried from earlier days (always earlier in the order).
            verb = "INSERT INTO _obs BY NAME" if carried else "CREATE OR REPLACE TEMP TABLE _obs AS"
            con.execute(f"""{verb} SELECT * FROM _tk WHERE funding_rate IS NOT NULL AND funding_ts >= ?
                AND funding_ts < ? AND ts <= funding_ts AND funding_ts - ts <= to_microseconds({micros})""",
                        [lo, hi])
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _obs AS SELECT * FROM _obs QUALIFY row_number()
                OVER (PARTITION BY exchange, symbol, funding_ts ORDER BY {last}) = 1""")
            # Marks: the day's, one per (exchange, symbol, ts) (the last of the order), and the carried last.
            verb = "INSERT INTO _marks BY NAME" if carried else "CREATE OR REPLACE TEMP TABLE _marks AS"
            con.execute(f"""{verb} SELECT * FROM _tk WHERE mark_price IS NOT NULL QUALIFY row_number()
                OVER (PARTITION BY exchange, symbol, ts ORDER BY {last}) = 1""")
            # Events due before the day ends are final: no later row can observe them.
            due = con.execute(f"""SELECT o.exchange, o.symbol, o.funding_ts, o.funding_rate, o.ts,
                    CASE WHEN o.funding_ts - m.ts <= to_microseconds({micros}) THEN m.mark_price END,
                    CASE WHEN o.funding_ts - m.ts <= to_microseconds({micros}) THEN m.ts END
                FROM (SELECT * FROM _obs WHERE funding_ts < ?) o
                ASOF LEFT JOIN _marks m ON o.exchange = m.exchange AND o.symbol = m.symbol AND o.funding_ts >= m.ts
                ORDER BY o.funding_ts, o.exchange, o.symbol""", [c_hi]).fetchall()
            out.extend(due)
            con.execute("DELETE FROM _obs WHERE funding_ts < ?", [c_hi])
            con.execute("""CREATE OR REPLACE TEMP TABLE _marks AS SELECT * FROM _marks QUALIFY row_number()
                OVER (PARTITION BY exchange, symbol ORDER BY ts DESC) = 1""")
            carried = True
    return out
