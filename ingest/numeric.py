"""The numeric contract of trade prices and amounts (docs/contracts.md, "Numeric contract").

One place for the types and bounds every tier uses, and for the exact text-to-decimal parse of
the warm loader. Bounds are exclusive; a value that cannot be held exactly is refused with
`precision_loss` or `out_of_range`, never rounded.

Why these widths: prices from 1e-12 to below 1e10 with 12 decimals need 22 digits, amounts
below 1e16 with 12 decimals 28. DuckDB types `price * amount` as DECIMAL(38, 24), exact for a
notional below 1e14. Sums of notional are kept at scale 20 (below 1e18: years of any real
symbol, KRW and IDR pairs included); a trade whose notional has more than 20 decimals (price
and amount both with more than 8) is refused, so the scale-20 sums stay exact.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, localcontext

SCALE = 12
PRICE_SQL = "DECIMAL(22, 12)"
AMOUNT_SQL = "DECIMAL(28, 12)"
VOLUME_SQL = "DECIMAL(38, 12)"  # sums of amounts
TRADE_NOTIONAL_SQL = "DECIMAL(38, 24)"  # price * amount of one trade, as DuckDB types it
NOTIONAL_SQL = "DECIMAL(38, 20)"  # sums of price * amount
NOTIONAL_SCALE = 20
# A VWAP in an exact answer (ingest/numbers.py): quote_volume / volume rounded half-even to 24
# decimals, twice the price scale, so even a price of 1e-12 keeps 12 significant digits.
VWAP_SCALE = 24
VWAP_SQL = "DECIMAL(38, 24)"

# Funding rates (raw.derivative_ticker): a rate like 0.00004405208333333333 carries 20 decimals, so
# they get a scale of their own; |rate| < 10^4 is far beyond any exchange's cap.
RATE_SCALE = 24
RATE_SQL = "DECIMAL(28, 24)"
MAX_RATE = Decimal(10) ** 4  # exclusive

MAX_PRICE = Decimal(10) ** 10  # exclusive
MAX_AMOUNT = Decimal(10) ** 16  # exclusive
MAX_NOTIONAL = Decimal(10) ** 14  # exclusive, per trade and per 1-minute bar
MAX_NOTIONAL_SUM = Decimal(10) ** 18  # exclusive, any coarser sum

_QUANTUM = Decimal(1).scaleb(-SCALE)
_NOTIONAL_QUANTUM = Decimal(1).scaleb(-NOTIONAL_SCALE)

REASONS = {
    "precision_loss": "price or amount has more than 12 decimals, or price x amount more than 20",
    "out_of_range": "price >= 1e10, amount >= 1e16 or price x amount >= 1e14",
}


# Plain decimal notation only: exponents are no exchange's format, and the loader counts decimals
# on the text.
PLAIN_NUMBER_RE = r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*"
# At most 12 decimals once trailing zeros are dropped.
EXACT_12_RE = r"\s*[+-]?([0-9]+(\.[0-9]{0,12}0*)?|\.[0-9]{0,12}0*)\s*"
# Fast shapes: DuckDB's text -> DECIMAL(38, x) cast is ~9x slower than to DECIMAL(18, x) (an
# int64 inside), so the shapes that fit 18 digits are parsed as such and widened.
_FAST_SMALL_RE = r"[0-9]{1,6}(\.[0-9]{0,12})?"  # < 1e6, <= 12 decimals: DECIMAL(18, 12)
_FAST_LARGE_RE = r"[0-9]{1,14}(\.[0-9]{0,4})?"  # < 1e14, <= 4 decimals: DECIMAL(18, 4)


def parse_sql(column: str, target: str) -> str:
    """SQL turning text `column` into `target` (PRICE_SQL or AMOUNT_SQL) exactly, or NULL.

    NULL when the text is not a plain decimal number, has more than 12 significant decimals, or
    does not fit `target`; `classify_sql` tells which.
    """
    c = column
    return (
        f"CASE WHEN regexp_full_match({c}, '{_FAST_SMALL_RE}') THEN CAST(CAST({c} AS DECIMAL(18, 12)) AS {target}) "
        f"WHEN regexp_full_match({c}, '{_FAST_LARGE_RE}') THEN TRY_CAST(CAST({c} AS DECIMAL(18, 4)) AS {target}) "
        f"WHEN regexp_full_match({c}, '{EXACT_12_RE}') "
        f"THEN TRY_CAST(TRY_CAST(trim({c}) AS DECIMAL(38, 12)) AS {target}) "
        "END"
    )


# At most 24 decimals once trailing zeros are dropped.
EXACT_24_RE = r"\s*[+-]?([0-9]+(\.[0-9]{0,24}0*)?|\.[0-9]{0,24}0*)\s*"


def parse_rate_sql(column: str) -> str:
    """SQL turning text `column` into RATE_SQL exactly, or NULL (`classify_rate_sql` tells why)."""
    c = column
    return (
        f"CASE WHEN regexp_full_match({c}, '{EXACT_24_RE}') "
        f"THEN TRY_CAST(TRY_CAST(trim({c}) AS DECIMAL(38, 24)) AS {RATE_SQL}) END"
    )


def classify_rate_sql(text: str) -> str:
    """SQL naming the rule for a non-NULL text that `parse_rate_sql` turned into NULL."""
    return (
        f"CASE WHEN regexp_full_match({text}, '\\s*[+-]?(nan|inf|infinity)\\s*', 'i') THEN 'non_finite_value' "
        f"WHEN NOT regexp_full_match({text}, '{PLAIN_NUMBER_RE}') THEN 'unparseable_value' "
        f"WHEN NOT regexp_full_match({text}, '{EXACT_24_RE}') THEN 'precision_loss' "
        "ELSE 'out_of_range' END"
    )


def fine_sql(column: str) -> str:
    """SQL: does text `column` (already parsed by `parse_sql`) carry more than 8 significant decimals?

    Only trades where both price and amount do can have a notional beyond 20 decimals.
    """
    c = column
    return (
        f"CASE WHEN strpos({c}, '.') = 0 OR strlen({c}) - strpos({c}, '.') <= 8 THEN false "
        rf"ELSE NOT regexp_full_match({c}, '\s*[+-]?([0-9]+(\.[0-9]{{0,8}}0*)?|\.[0-9]{{0,8}}0*)\s*') END"
    )


def classify_sql(text: str) -> str:
    """SQL naming the rule for a non-NULL text that `parse_sql` turned into NULL."""
    return (
        f"CASE WHEN regexp_full_match({text}, '\\s*[+-]?(nan|inf|infinity)\\s*', 'i') THEN 'non_finite_value' "
        f"WHEN NOT regexp_full_match({text}, '{PLAIN_NUMBER_RE}') THEN 'unparseable_value' "
        f"WHEN NOT regexp_full_match({text}, '{EXACT_12_RE}') THEN 'precision_loss' "
        "ELSE 'out_of_range' END"
    )


def notional_rule_sql(price: str, amount: str, fine: str) -> str:
    """SQL CASE branches for the trade's notional (price and amount already parsed, > 0)."""
    # TRY: DuckDB raises on a DECIMAL(38, 24) overflow, i.e. a notional of 1e14 or more.
    product = f"TRY({price} * {amount})"
    # price < 1e10, so only an amount above 1e4 can reach 1e14: most rows skip the product.
    return (
        f"WHEN {amount} > 10000 AND {product} IS NULL THEN 'out_of_range' "
        # The quantum as a DECIMAL: a bare `1E-20` is a DOUBLE, whose remainder is never exactly 0.
        f"WHEN {fine} AND {product} % CAST('{_NOTIONAL_QUANTUM:f}' AS {TRADE_NOTIONAL_SQL}) <> 0 "
        "THEN 'precision_loss' "
    )


def notional_sql(price: str = "price", amount: str = "amount") -> str:
    """SQL: one trade's notional at the scale its sums are kept at, exact by the contract (a notional
    below 1e14 with at most 20 decimals, the `precision_loss` rule)."""
    return f"CAST({price} * {amount} AS {NOTIONAL_SQL})"


def exact_decimal(text: str) -> tuple[Decimal | None, str | None]:
    """Python twin of the loader's parse (feed handler, tests): (value, None) or (None, rule)."""
    t = text.strip()
    if t.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return None, "non_finite_value"
    if not re.fullmatch(PLAIN_NUMBER_RE, t):
        return None, "unparseable_value"
    if not re.fullmatch(EXACT_12_RE, t):
        return None, "precision_loss"
    return Decimal(t), None  # the constructor is exact, whatever the context's precision


def check_value(value: Decimal, what: str) -> str | None:
    """`out_of_range` for a parsed price or amount beyond its bound (<= 0 is another rule)."""
    return "out_of_range" if value >= (MAX_PRICE if what == "price" else MAX_AMOUNT) else None


def check_notional(price: Decimal, amount: Decimal) -> str | None:
    with localcontext(prec=80):
        q = price * amount
    if abs(q) >= MAX_NOTIONAL:
        return "out_of_range"
    if q.as_tuple().exponent < -NOTIONAL_SCALE and q != q.quantize(_NOTIONAL_QUANTUM, context=Context(prec=80)):
        return "precision_loss"
    return None
