"""Validation of the names that reach SQL text, file paths or object keys.

Values go to SQL as bound parameters; these checks guard what cannot be bound (file names,
globs, object keys, identifiers) and give users a clear error, naming the value, before any
path or SQL is built from it.

A symbol is one path component by construction: letters, digits, `_`, `-` and single dots
(`BTCUSDT`, `BTC-PERPETUAL`, `ETH-27DEC24-3000-C`, `BTC_USD`, `1000PEPEUSDT`, `BTC.PERP`).
Vendors that write `/` or `:` inside a symbol (`BTC/USD`, `tBTCF0:USTF0`) are mapped with
`canonical_symbol` (both become `-`, as Tardis.dev does in its file names); the raw form is
never used in a path.
"""

from __future__ import annotations

import datetime as dt
import re

from ingest.errors import UserError

MAX_SYMBOL = 48
MAX_EXCHANGE = 40
MAX_KEY = 1024  # S3's limit on an object key, in bytes

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_EXCHANGE = re.compile(r"^[a-z0-9][a-z0-9-]*\Z")
_DATA_TYPE = re.compile(r"^(trades|book_snapshot_\d{1,3}|quotes|derivative_ticker|liquidations|incremental_book_L2)\Z")
# Characters vendors put in symbols that are path separators somewhere; mapped, never kept.
_VENDOR_SEPARATORS = str.maketrans({"/": "-", ":": "-"})


class InvalidNameError(UserError):
    """A symbol, exchange, data type, object key or partition key that is not allowed."""


def shown(value: object, limit: int = 64) -> str:
    """`repr` of a value for an error message, cut short so a 10 kB name does not flood a log."""
    text = repr(value)
    if len(text) <= limit:
        return text
    length = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[: limit - 3] + "..." + length


def _path_hazard(value: str) -> str | None:
    """Why `value` could change a path or key it is put into, or None."""
    if "\x00" in value:
        return "contains a NUL byte"
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return "is an absolute path"
    if "/" in value:
        return "contains '/' (a path separator)"
    if "\\" in value:
        return "contains '\\' (a path separator)"
    if ".." in value:
        return "contains '..' (a parent-directory reference)"
    return None


def _refuse(kind: str, value: object, max_len: int, rule: str) -> None:
    if not isinstance(value, str):
        raise InvalidNameError(f"invalid {kind} {shown(value)}: expected a string")
    if not value:
        raise InvalidNameError(f"invalid {kind} '': empty")
    hazard = _path_hazard(value)
    if hazard:
        raise InvalidNameError(f"invalid {kind} {shown(value)}: {hazard}; {rule}")
    if len(value) > max_len:
        raise InvalidNameError(f"invalid {kind} {shown(value)}: {len(value)} characters, at most {max_len}")


def validate_symbol(symbol: str) -> str:
    rule = (f"expected letters, digits, '_', '-' and single '.' (at most {MAX_SYMBOL}); "
            "map vendor symbols with '/' or ':' through canonical_symbol")
    _refuse("symbol", symbol, MAX_SYMBOL, rule)
    if not _SYMBOL.match(symbol):
        raise InvalidNameError(f"invalid symbol {shown(symbol)}: {rule}")
    return symbol


def canonical_symbol(vendor_symbol: str) -> str:
    """A vendor's symbol as the warehouse names it: `/` and `:` become `-`, then validated."""
    if not isinstance(vendor_symbol, str):
        raise InvalidNameError(f"invalid symbol {shown(vendor_symbol)}: expected a string")
    if vendor_symbol.startswith("/") or "\\" in vendor_symbol or "\x00" in vendor_symbol:
        return validate_symbol(vendor_symbol)  # refused with the precise reason
    mapped = vendor_symbol.translate(_VENDOR_SEPARATORS)
    try:
        return validate_symbol(mapped)
    except InvalidNameError as exc:
        if mapped == vendor_symbol:
            raise
        raise InvalidNameError(f"invalid symbol {shown(vendor_symbol)} (mapped to {shown(mapped)}): {exc}") from None


def validate_exchange(exchange: str) -> str:
    rule = f"expected lower-case letters, digits and '-' (at most {MAX_EXCHANGE})"
    _refuse("exchange", exchange, MAX_EXCHANGE, rule)
    if not _EXCHANGE.match(exchange):
        raise InvalidNameError(f"invalid exchange {shown(exchange)}: {rule}")
    return exchange


def validate_data_type(data_type: str) -> str:
    if not isinstance(data_type, str) or not _DATA_TYPE.match(data_type):
        raise InvalidNameError(f"invalid data type {shown(data_type)}")
    return data_type


def validate_key(key: str, what: str = "object key") -> str:
    """A relative `/`-separated key (S3 object, file under a root) that stays under its root.

    Refused: empty, absolute, `\\`, NUL or control characters, empty / `.` / `..` components,
    longer than S3 allows.
    """
    if not isinstance(key, str) or not key:
        raise InvalidNameError(f"invalid {what} {shown(key)}: expected a non-empty string")
    if "\x00" in key or any(ord(c) < 32 for c in key):
        raise InvalidNameError(f"invalid {what} {shown(key)}: contains a NUL or control character")
    if key.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", key):
        raise InvalidNameError(f"invalid {what} {shown(key)}: is an absolute path")
    if "\\" in key:
        raise InvalidNameError(f"invalid {what} {shown(key)}: contains '\\'")
    if any(part in ("", ".", "..") for part in key.rstrip("/").split("/")):
        raise InvalidNameError(f"invalid {what} {shown(key)}: has an empty, '.' or '..' component")
    if len(key.encode()) > MAX_KEY:
        raise InvalidNameError(f"invalid {what} {shown(key)}: longer than {MAX_KEY} bytes")
    return key


def parse_day(value: str | dt.date) -> dt.date:
    """A partition key (`YYYY-MM-DD`) as a date; anything else is refused."""
    if isinstance(value, dt.datetime):
        raise InvalidNameError(f"expected a date, got a datetime {value!r}")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidNameError(f"invalid partition key {shown(value)}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidNameError(f"invalid partition key {value!r}: {exc}") from exc
