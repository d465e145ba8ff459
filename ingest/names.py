"""Validation of the names that reach SQL text or file paths.

Values go to SQL as bound parameters; these checks guard what cannot be bound
(file globs, object keys, identifiers) and give users a clear error early.
"""

from __future__ import annotations

import datetime as dt
import re

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,47}$")
_EXCHANGE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_DATA_TYPE = re.compile(r"^(trades|book_snapshot_\d{1,3}|quotes|incremental_book_L2)$")


class InvalidNameError(ValueError):
    """A symbol, exchange, data type or partition key that is not allowed."""


def validate_symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise InvalidNameError(f"invalid symbol {symbol!r}: expected letters, digits and ._:/- (max 48)")
    return symbol


def validate_exchange(exchange: str) -> str:
    if not isinstance(exchange, str) or not _EXCHANGE.match(exchange):
        raise InvalidNameError(f"invalid exchange {exchange!r}: expected lower-case letters, digits and -")
    return exchange


def validate_data_type(data_type: str) -> str:
    if not isinstance(data_type, str) or not _DATA_TYPE.match(data_type):
        raise InvalidNameError(f"invalid data type {data_type!r}")
    return data_type


def parse_day(value: str | dt.date) -> dt.date:
    """A partition key (`YYYY-MM-DD`) as a date; anything else is refused."""
    if isinstance(value, dt.datetime):
        raise InvalidNameError(f"expected a date, got a datetime {value!r}")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidNameError(f"invalid partition key {value!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidNameError(f"invalid partition key {value!r}: {exc}") from exc
