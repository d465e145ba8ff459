"""What a user may give: the one set of rules for command-line arguments and `TICKWH_*` settings.

Each rule (`day`, `instant`, `bounded_int`, `duration`, ...) takes the text as typed and returns the
value, or raises `Invalid` saying what is allowed. The same rule serves an argument (`arg(rule)`:
an argparse `type=`, so argparse names the option) and a setting (`setting(env, name, rule)`:
`SettingError` names the variable), so `--keep-days` and `TICKWH_LAKE_KEEP_DAYS` cannot drift apart.
`Parser` is the argparse parser of every command: its errors are one line, `error: <prog>: ...`,
exit status 2, never a usage block (ingest/errors.py: the error contract).

Plain Python with no project imports but the error types, so `ingest/settings.py` can use it.
Messages never repeat a URL (it may hold a password) and cut long values short.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn, TypeVar

from ingest.errors import SettingError, UserError

T = TypeVar("T")

# Times the warehouse answers about: wide enough for any market history and a 200-year research
# range, narrow enough that no offset or interval arithmetic overflows Python's or Arrow's types.
MIN_DAY = dt.date(1900, 1, 1)
MAX_DAY = dt.date(2199, 12, 31)
MIN_TIME = dt.datetime(1900, 1, 1)
MAX_TIME = dt.datetime(2200, 1, 1)  # exclusive: an end of range may be exactly this
MAX_SNAPSHOT = 2**63 - 1  # DuckLake snapshot ids are BIGINT
MAX_TEXT = 64  # characters of a refused value shown back


class Invalid(UserError):
    """A value that breaks its rule; the message says what was given and what is allowed."""


def shown(value: object) -> str:
    """A refused value as a message shows it: repr (control characters visible), cut short."""
    text = repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _plain(text: str, what: str) -> str:
    """ASCII without control characters: what every number, day and name rule starts from."""
    if not isinstance(text, str):
        raise Invalid(f"{shown(text)} is not text: expected {what}")
    stripped = text.strip(" ")
    if not stripped.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in stripped):
        raise Invalid(f"{shown(text)} is not {what}: only plain ASCII characters are allowed")
    return stripped


# -- the rules -----------------------------------------------------------------------------------

def days_between(lo: dt.date, hi: dt.date) -> Callable[[str], dt.date]:
    """A UTC day, YYYY-MM-DD, in [lo, hi]."""

    def rule(text: str) -> dt.date:
        allowed = f"a day YYYY-MM-DD from {lo} to {hi}"
        value = _plain(text, allowed)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise Invalid(f"{shown(text)} is not {allowed}")
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise Invalid(f"{shown(text)} is not {allowed} ({exc})") from None
        if not lo <= parsed <= hi:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}")
        return parsed

    rule.__name__ = "day"
    return rule


day = days_between(MIN_DAY, MAX_DAY)


def in_time_range(value: dt.datetime, given: object) -> dt.datetime:
    """A naive UTC time checked against the warehouse's range (end of range included)."""
    if not MIN_TIME <= value <= MAX_TIME:
        raise Invalid(f"{shown(given)} is out of range: expected a time from {MIN_TIME:%Y-%m-%d} "
                      f"to {MAX_TIME:%Y-%m-%d} (UTC)")
    return value


def to_utc(value: dt.datetime, given: object = None) -> dt.datetime:
    """An aware time as naive UTC; a naive one as is. Offsets that leave the calendar are refused."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise Invalid(f"{shown(given if given is not None else value)} is out of range once its UTC "
                          "offset is applied") from None
    return in_time_range(value, given if given is not None else value)


def instant(text: str) -> dt.datetime:
    """An ISO 8601 day or time (`2024-03-01`, `2024-03-01T12:00`, `...+02:00`) as naive UTC."""
    allowed = "an ISO 8601 time such as 2024-03-01 or 2024-03-01T12:00 (UTC unless it has an offset)"
    value = _plain(text, allowed)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.,]+(Z|[+-][0-9:]+)?)?", value):
        raise Invalid(f"{shown(text)} is not {allowed}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"{shown(text)} is not {allowed} ({exc})") from None
    return to_utc(parsed, text)


def snapshot_or_time(text: str) -> int | dt.datetime:
    """`--as-of`: a lake snapshot id (digits) or an ISO time."""
    value = _plain(text, "a snapshot id or an ISO time")
    if re.fullmatch(r"\d+", value):
        number = int(value) if len(value) <= 19 else MAX_SNAPSHOT + 1
        if number > MAX_SNAPSHOT:
            raise Invalid(f"{shown(text)} is too large for a snapshot id (at most {MAX_SNAPSHOT})")
        return number
    try:
        return instant(value)
    except Invalid as exc:
        raise Invalid(f"{shown(text)} is neither a snapshot id (digits) nor an ISO time: {exc}") from None


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number in [lo, hi]."""

    def rule(text: str) -> int:
        allowed = f"a whole number from {lo} to {hi}"
        value = _plain(text, allowed)
        if not re.fullmatch(r"[+-]?\d{1,30}", value):
            raise Invalid(f"{shown(text)} is not {allowed}")
        number = int(value)
        if not lo <= number <= hi:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}")
        return number

    rule.__name__ = "whole number"
    return rule


def bounded_float(lo: float, hi: float) -> Callable[[str], float]:
    """A finite number in [lo, hi] (no nan, no inf)."""

    def rule(text: str) -> float:
        allowed = f"a finite number from {lo:g} to {hi:g}"
        value = _plain(text, allowed)
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{shown(text)} is not {allowed}") from None
        if not math.isfinite(number) or not lo <= number <= hi:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}")
        return number

    rule.__name__ = "number"
    return rule


_UNITS = {"us": "microseconds", "ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(lo: dt.timedelta, hi: dt.timedelta) -> Callable[[str], dt.timedelta]:
    """A number and a unit (us, ms, s, m, h, d), e.g. `500ms`, `1m`, `4h`, within [lo, hi]."""

    def rule(text: str) -> dt.timedelta:
        allowed = f"a number and a unit us, ms, s, m, h or d (e.g. 2s, 1m, 4h) from {_fmt(lo)} to {_fmt(hi)}"
        value = _plain(text, allowed)
        m = re.fullmatch(r"(\d{1,15})(us|ms|s|m|h|d)", value)
        if not m:
            raise Invalid(f"{shown(text)} is not {allowed}")
        try:
            span = dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}") from None
        if not lo <= span <= hi:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}")
        return span

    rule.__name__ = "duration"
    return rule


def _fmt(span: dt.timedelta) -> str:
    if span.days >= 1 and not span.seconds and not span.microseconds:
        return f"{span.days}d"
    return f"{span.total_seconds():g}s"


def positive_decimal(hi: Decimal, places: int) -> Callable[[str], Decimal]:
    """An exact decimal number > 0 and <= hi with at most `places` decimals (no exponent tricks)."""

    def rule(text: str) -> Decimal:
        allowed = f"a number > 0 and at most {hi:,} with at most {places} decimals"
        value = _plain(str(text), allowed)
        if len(value) > 60:
            raise Invalid(f"{shown(text)} is not {allowed}")
        try:
            number = Decimal(value)
        except (InvalidOperation, ValueError):
            raise Invalid(f"{shown(text)} is not {allowed}") from None
        if not number.is_finite() or not 0 < number <= hi:
            raise Invalid(f"{shown(text)} is out of range: expected {allowed}")
        if number.as_tuple().exponent < -places:  # type: ignore[operator]
            raise Invalid(f"{shown(text)} has more than {places} decimals: expected {allowed}")
        return number

    rule.__name__ = "number"
    return rule


def existing_dir(text: str) -> Path:
    """A directory that exists and this process may write (never created: a typo must not make one)."""
    if not isinstance(text, str) or not text or any(ord(c) < 32 for c in text):
        raise Invalid(f"{shown(text)} is not a directory path (empty, or control characters)")
    path = Path(text)
    if not path.is_dir():
        raise Invalid(f"{shown(text)} is not an existing directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise Invalid(f"{shown(text)} is a directory this user cannot write")
    return path


def existing_file(text: str) -> Path:
    """A file that exists (read, never written)."""
    if not isinstance(text, str) or not text or any(ord(c) < 32 for c in text):
        raise Invalid(f"{shown(text)} is not a file path (empty, or control characters)")
    path = Path(text)
    if not path.is_file():
        raise Invalid(f"{shown(text)} is not an existing file")
    return path


def path_text(text: str) -> Path:
    """A file or directory path setting: not empty, no control characters or NUL."""
    if not isinstance(text, str) or not text.strip() or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise Invalid(f"{shown(text)} is not a path (empty, or control characters)")
    return Path(text)


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def bucket(text: str) -> str:
    """An S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending alphanumeric."""
    allowed = "an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-', alphanumeric at both ends"
    if not isinstance(text, str) or not _BUCKET.fullmatch(text) or ".." in text \
            or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", text):
        raise Invalid(f"{shown(text)} is not {allowed}")
    return text


_PREFIX_PART = re.compile(r"[A-Za-z0-9._=-]{1,200}")


def prefix(text: str) -> str:
    """An S3 key prefix: empty, or '/'-separated parts of letters, digits, '.', '_', '=' and '-'."""
    allowed = ("an S3 key prefix: empty, or parts of letters, digits, '.', '_', '=' and '-' separated by '/' "
               "(no '..', no leading '/', at most 512 characters)")
    if not isinstance(text, str) or len(text) > 512:
        raise Invalid(f"{shown(text)} is not {allowed}")
    parts = text.rstrip("/").split("/") if text else []
    if any(p in (".", "..") or not _PREFIX_PART.fullmatch(p) for p in parts):
        raise Invalid(f"{shown(text)} is not {allowed}")
    return text.rstrip("/")


def url(*schemes: str) -> Callable[[str], str]:
    """A URL with one of `schemes` and a host; never shown back (it may hold a password)."""

    def rule(text: str) -> str:
        allowed = f"a URL {' or '.join(s + '://host[:port]' for s in schemes)}"
        # user:password@ may hold anything (it is a credential, checked where it is used): only the
        # scheme, the host, the port and what follows are checked here.
        m = re.fullmatch(r"([a-z][a-z0-9+.-]*)://(?:(.*)@)?([^@/?#]*)(.*)", text, re.S) if isinstance(
            text, str) else None
        bad = m is None or any(ord(c) <= 32 or ord(c) == 127 or ord(c) > 126 for c in m.group(3) + m.group(4))
        if bad or m.group(1) not in schemes or not m.group(3):
            raise Invalid(f"the value is not {allowed} (value not shown: it may hold a password)")
        host, colon, port = m.group(3).rpartition(":") if not m.group(3).endswith("]") else (m.group(3), "", "")
        if colon and not host.endswith("]") and "]" not in port and not (port.isdigit() and 0 < int(port) < 65536):
            raise Invalid(f"the value has a bad port: expected {allowed} with a port from 1 to 65535")
        return text

    rule.__name__ = "URL"
    return rule


def host(text: str) -> str:
    """A host name or an IP address to listen on or connect to."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?", text):
        raise Invalid(f"{shown(text)} is not a host: expected a name or an IP address such as 127.0.0.1")
    return text


def flag(text: str) -> bool | None:
    """On/off: 1/true/yes/on or 0/false/no/off; empty means unset (None)."""
    value = _plain(text, "1/true/yes/on or 0/false/no/off").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if not value:
        return None
    raise Invalid(f"{shown(text)} is not on or off: expected 1/true/yes/on or 0/false/no/off (unset: automatic)")


def stream_name(text: str) -> str:
    """A NATS JetStream stream name (the feed handler and the hot loader)."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", text):
        raise Invalid(f"{shown(text)} is not a stream name: 1 to 32 letters, digits, '_' and '-'")
    return text


def one_of(*choices: str) -> Callable[[str], str]:
    def rule(text: str) -> str:
        if text not in choices:
            raise Invalid(f"{shown(text)} is not allowed: expected one of {', '.join(choices)}")
        return text

    return rule


# -- arguments and settings ----------------------------------------------------------------------

def arg(rule: Callable[[str], T]) -> Callable[[str], T]:
    """`rule` as an argparse `type=`: argparse then names the option in the one-line error."""

    def convert(text: str) -> T:
        try:
            return rule(text)
        except UserError as exc:  # Invalid, or a module's own check (e.g. a research interval)
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(rule, "__name__", "value")
    return convert


def setting(env: Mapping[str, str], name: str, rule: Callable[[str], T], default: T) -> T:
    """The variable `name` through `rule`; unset or empty gives `default`. Refused: SettingError naming it."""
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return rule(text)
    except Invalid as exc:
        raise SettingError(name, str(exc)) from None


class Parser(argparse.ArgumentParser):
    """Every command's parser: a bad argument is one line `error: <prog>: <message>` and exit 2."""

    def error(self, message: str) -> NoReturn:
        from ingest.redact import redact

        line = " ".join(redact(f"{self.prog}: {message}").split())
        sys.stderr.write(f"error: {line} (see {self.prog} --help)\n")
        sys.exit(2)

