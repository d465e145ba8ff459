"""The canonical trade every live message carries, and the normalisation of vendor rows into it.

The hot tier must end up with exactly the rows the warm loader keeps (`raw.trades`), or the
end-of-day reconciliation would flag noise. So the rules here mirror `ingest/loader.py`: the
same required fields, the same name validation, `side` lower-cased, prices and amounts as
exact DECIMAL(18,8) (rounded half away from zero, as DuckDB's cast does), `trade_seq` the
integer value of `trade_id` when it is one. Everything is vectorised with Arrow, because at
replay speed "max" the feed handler must keep up with hundreds of thousands of rows a second.
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.names import InvalidNameError, validate_exchange, validate_symbol

PRICE_TYPE = pa.decimal128(18, 8)
_QUANTUM = Decimal("0.00000001")
_MAX_DECIMAL = Decimal("9999999999.99999999")

# What a message carries, one row per trade. `price`/`amount` are decimals, never floats.
TRADE_SCHEMA = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts_us", pa.int64(), nullable=False),
        pa.field("local_ts_us", pa.int64()),
        pa.field("trade_id", pa.string(), nullable=False),
        pa.field("trade_seq", pa.int64()),
        pa.field("side", pa.string(), nullable=False),
        pa.field("price", PRICE_TYPE, nullable=False),
        pa.field("amount", PRICE_TYPE, nullable=False),
    ]
)
# The feed handler also keeps each row's position in its source (for resuming a replay) and
# whether the row broke a rule: such rows still advance the venue's id sequence (they were
# delivered, so they are no gap) but are never published.
SOURCE_ROW = "src_row"
REJECTED = "rejected"
WORK_SCHEMA = TRADE_SCHEMA.append(pa.field(SOURCE_ROW, pa.int64())).append(pa.field(REJECTED, pa.bool_()))

_INT = r"^[+-]?[0-9]{1,18}$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
SIDES = ("buy", "sell", "unknown")


def _decimal_or_none(text: str | None) -> Decimal | None:
    """Slow path for values Arrow's cast refuses: round to 8 places like DuckDB, or None."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip()).quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or abs(value) > _MAX_DECIMAL:
        return None
    return value


def to_decimal(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Text to DECIMAL(18,8); null where the text is not a number that fits."""
    values = pc.utf8_trim_whitespace(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    numeric = pc.match_substring_regex(values, _NUMBER)
    cleaned = pc.if_else(numeric, values, pa.scalar(None, pa.string()))
    try:
        return pc.cast(cleaned, PRICE_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # More than 8 decimals or out of range somewhere in the chunk: row by row.
        return pa.array([_decimal_or_none(v) for v in cleaned.to_pylist()], type=PRICE_TYPE)


def to_int64(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Integer text to int64 (like DuckDB's TRY_CAST, whitespace and sign allowed), else null."""
    values = pc.utf8_trim_whitespace(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    ok = pc.match_substring_regex(values, _INT)
    return pc.cast(pc.if_else(ok, values, pa.scalar(None, pa.string())), pa.int64())


def _name_ok(exchange: pa.Array, symbol: pa.Array) -> pa.Array:
    """names.py validation, run once per distinct (exchange, symbol) rather than per row."""
    pairs = pa.table({"e": exchange, "s": symbol}).group_by(["e", "s"]).aggregate([])
    bad_keys = []
    for e, s in zip(pairs["e"].to_pylist(), pairs["s"].to_pylist(), strict=True):
        if e is None or s is None:
            continue
        try:
            validate_exchange(e)
            validate_symbol(s)
        except InvalidNameError:
            bad_keys.append(f"{e}\x00{s}")
    if not bad_keys:
        return pa.array(np.ones(len(exchange), dtype=bool))
    keys = pc.binary_join_element_wise(exchange, symbol, "\x00")
    return pc.invert(pc.fill_null(pc.is_in(keys, pa.array(bad_keys)), False))


def normalise(raw: pa.Table, first_row: int = 0) -> tuple[pa.Table, Counter[str]]:
    """Vendor rows (Tardis `trades` columns, all text) to canonical trades (WORK_SCHEMA).

    Returns the rows in input order with `src_row` and `rejected` columns, and the count of
    rejected rows by rule (the same rule names as `raw.quarantine`). Rows without a usable
    exchange, symbol or timestamp are dropped here (they belong to no sequence and no replay
    instant); other rejected rows stay, flagged, for the sequence check. A live path cannot
    quarantine row by row at this rate, so rejects are counted and logged by the caller; the
    warm load keeps the rows themselves.
    """
    n = raw.num_rows
    ts = to_int64(raw["timestamp"])
    local_ts = to_int64(raw["local_timestamp"])
    price = to_decimal(raw["price"])
    amount = to_decimal(raw["amount"])
    exchange = raw["exchange"].combine_chunks()
    # Vendor spellings with '/' or ':' (`BTC/USD`) take the warehouse's form, as names.canonical_symbol does.
    symbol = pc.replace_substring_regex(raw["symbol"].combine_chunks(), "[/:]", "-")
    trade_id = raw["id"].combine_chunks()
    side = pc.utf8_lower(raw["side"].combine_chunks())

    def text_missing(col: pa.Array) -> pa.Array:
        return pc.or_kleene(pc.is_null(col), pc.equal(col, ""))

    unparseable = pc.or_(
        pc.and_(pc.is_valid(raw["timestamp"].combine_chunks()), pc.is_null(ts)),
        pc.or_(
            pc.and_(pc.is_valid(raw["price"].combine_chunks()), pc.is_null(price)),
            pc.and_(pc.is_valid(raw["amount"].combine_chunks()), pc.is_null(amount)),
        ),
    )
    missing = np.zeros(n, dtype=bool)
    for col in (exchange, symbol, trade_id, side):
        missing |= pc.fill_null(text_missing(col), True).to_numpy(zero_copy_only=False)
    for col in (ts, price, amount):
        missing |= pc.is_null(col).to_numpy(zero_copy_only=False)
    rules: list[tuple[str, pa.Array | np.ndarray]] = [
        ("unparseable_value", unparseable),
        ("missing_field", missing),
        ("invalid_name", pc.invert(_name_ok(exchange, symbol))),
        ("invalid_side", pc.invert(pc.fill_null(pc.is_in(side, pa.array(SIDES)), False))),
        ("non_positive_price", pc.fill_null(pc.less_equal(price, pa.scalar(Decimal(0), PRICE_TYPE)), False)),
        ("non_positive_amount", pc.fill_null(pc.less_equal(amount, pa.scalar(Decimal(0), PRICE_TYPE)), False)),
    ]
    rejected: Counter[str] = Counter()
    bad = np.zeros(n, dtype=bool)
    for rule, mask in rules:
        values = mask if isinstance(mask, np.ndarray) else mask.to_numpy(zero_copy_only=False)
        m = np.asarray(values, dtype=bool) & ~bad
        if m.any():
            rejected[rule] += int(m.sum())
            bad |= m
    name_ok = np.asarray(_name_ok(exchange, symbol).to_numpy(zero_copy_only=False), dtype=bool)
    keyless = ~name_ok | pc.is_null(ts).to_numpy(zero_copy_only=False)
    for col in (exchange, symbol):
        keyless |= pc.fill_null(text_missing(col), True).to_numpy(zero_copy_only=False)
    table = pa.table(
        {
            "exchange": exchange,
            "symbol": symbol,
            "ts_us": ts,
            "local_ts_us": local_ts,
            "trade_id": trade_id,
            "trade_seq": to_int64(trade_id),
            "side": side,
            "price": price,
            "amount": amount,
            SOURCE_ROW: pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
            REJECTED: pa.array(bad),
        }
    )
    if keyless.any():
        table = table.filter(pa.array(~keyless))
    return table.cast(WORK_SCHEMA), rejected
