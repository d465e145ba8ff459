"""The canonical trade every live message carries, and the normalisation of vendor rows into it.

The hot tier must end up with exactly the rows the warm loader keeps (`raw.trades`), or the
end-of-day reconciliation would flag noise. So the rules here mirror `ingest/loader.py`: the
same required fields, the same name validation, `side` lower-cased, prices and amounts as
exact decimals of the numeric contract (`ingest/numeric.py`: never rounded; a value that does not
fit is rejected with `precision_loss` or `out_of_range`, as the loader quarantines it), `trade_seq` the
integer value of `trade_id` when it is one. Everything is vectorised with Arrow, because at
replay speed "max" the feed handler must keep up with hundreds of thousands of rows a second.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest import numeric
from ingest.names import InvalidNameError, validate_exchange, validate_symbol

PRICE_TYPE = pa.decimal128(22, numeric.SCALE)
AMOUNT_TYPE = pa.decimal128(28, numeric.SCALE)

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
        pa.field("amount", AMOUNT_TYPE, nullable=False),
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


def _exact_or_rule(text: str | None, what: str) -> tuple[Decimal | None, str | None]:
    """Slow path for values Arrow's cast refuses: the exact value, or the rule it breaks."""
    if text is None:
        return None, None
    value, rule = numeric.exact_decimal(text)
    if value is not None:
        rule = numeric.check_value(value, what)
    return (None, rule) if rule else (value, None)


def to_decimal(values: pa.ChunkedArray | pa.Array, what: str = "price") -> tuple[pa.Array, list[str | None]]:
    """Text to the contract's exact decimal; null where it is not one, with the rule per row.

    Arrow's cast refuses (never rounds) a value that would lose digits or overflow, so a clean
    chunk takes one vectorised cast; otherwise the chunk is parsed row by row.
    """
    typ = PRICE_TYPE if what == "price" else AMOUNT_TYPE
    values = pc.utf8_trim_whitespace(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    plain = pc.match_substring_regex(values, "^" + numeric.PLAIN_NUMBER_RE + "$")
    if pc.all(pc.fill_null(plain, True)).as_py():
        try:
            return pc.cast(values, typ), [None] * len(values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    parsed = [_exact_or_rule(v, what) for v in values.to_pylist()]
    return pa.array([v for v, _ in parsed], type=typ), [r for _, r in parsed]


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


def _unscaled_mod(values: pa.Array, m: int) -> np.ndarray:
    """The unscaled 128-bit integers of a decimal128 array modulo m (< 2^31), exactly, in numpy.

    u = hi * 2^64 + lo, so u mod m = (hi mod m) * (2^64 mod m) + lo mod m (mod m); nulls give 0.
    """
    words = np.frombuffer(values.buffers()[1], dtype=np.uint64)[2 * values.offset : 2 * (values.offset + len(values))]
    lo, hi = words[0::2], words[1::2].view(np.int64)
    r = ((hi % m) * ((1 << 64) % m) + (lo % np.uint64(m)).astype(np.int64)) % m
    return np.where(values.is_valid().to_numpy(zero_copy_only=False), r, 0)


def _notional_rules(price: pa.Array, amount: pa.Array) -> np.ndarray:
    """Per row: None, or the rule price x amount breaks (`ingest.numeric.check_notional`).

    Only rows whose float product is near 1e14, or where both values carry more than 8
    decimals, can break it; only those are checked exactly.
    """
    out = np.full(len(price), None, dtype=object)
    pf = pc.cast(price, pa.float64()).to_numpy(zero_copy_only=False)
    af = pc.cast(amount, pa.float64()).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        near = np.nan_to_num(pf * af) >= 0.99e14
    fine = (_unscaled_mod(price, 10_000) != 0) & (_unscaled_mod(amount, 10_000) != 0)
    for i in np.flatnonzero(near | fine).tolist():
        p, a = price[i].as_py(), amount[i].as_py()
        if p is not None and a is not None and p > 0 and a > 0:
            out[i] = numeric.check_notional(p, a)
    return out


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
    price, price_rules = to_decimal(raw["price"], "price")
    amount, amount_rules = to_decimal(raw["amount"], "amount")
    value_rule = np.array([p or a for p, a in zip(price_rules, amount_rules, strict=True)], dtype=object)
    exchange = raw["exchange"].combine_chunks()
    # Vendor spellings with '/' or ':' (`BTC/USD`) take the warehouse's form, as names.canonical_symbol does.
    symbol = pc.replace_substring_regex(raw["symbol"].combine_chunks(), "[/:]", "-")
    trade_id = raw["id"].combine_chunks()
    side = pc.utf8_lower(raw["side"].combine_chunks())

    def text_missing(col: pa.Array) -> pa.Array:
        return pc.or_kleene(pc.is_null(col), pc.equal(col, ""))

    unparseable = pc.or_(
        pc.and_(pc.is_valid(raw["timestamp"].combine_chunks()), pc.is_null(ts)),
        pa.array(value_rule == "unparseable_value"),
    )
    missing = np.zeros(n, dtype=bool)
    for col in (exchange, symbol, trade_id, side):
        missing |= pc.fill_null(text_missing(col), True).to_numpy(zero_copy_only=False)
    for col in (ts, price, amount):
        missing |= pc.is_null(col).to_numpy(zero_copy_only=False)
    rules: list[tuple[str, pa.Array | np.ndarray]] = [
        ("non_finite_value", value_rule == "non_finite_value"),
        ("unparseable_value", unparseable),
        ("precision_loss", value_rule == "precision_loss"),
        ("out_of_range", value_rule == "out_of_range"),
        ("missing_field", missing),
        ("invalid_name", pc.invert(_name_ok(exchange, symbol))),
        ("invalid_side", pc.invert(pc.fill_null(pc.is_in(side, pa.array(SIDES)), False))),
        ("non_positive_price", pc.fill_null(pc.less_equal(price, pa.scalar(Decimal(0), PRICE_TYPE)), False)),
        ("non_positive_amount", pc.fill_null(pc.less_equal(amount, pa.scalar(Decimal(0), AMOUNT_TYPE)), False)),
        ("notional", _notional_rules(price, amount)),
    ]
    rejected: Counter[str] = Counter()
    bad = np.zeros(n, dtype=bool)
    notional = rules.pop()[1]
    rules += [("out_of_range", notional == "out_of_range"), ("precision_loss", notional == "precision_loss")]
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
            # A rejected row is never published; a placeholder keeps the non-nullable schema.
            "price": pc.fill_null(price, pa.scalar(Decimal(0), PRICE_TYPE)),
            "amount": pc.fill_null(amount, pa.scalar(Decimal(0), AMOUNT_TYPE)),
            SOURCE_ROW: pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
            REJECTED: pa.array(bad),
        }
    )
    if keyless.any():
        table = table.filter(pa.array(~keyless))
    return table.cast(WORK_SCHEMA), rejected
