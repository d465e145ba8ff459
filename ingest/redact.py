"""The one redaction point: every secret the platform reads is replaced before it is shown anywhere.

Secrets are registered once, here: the values of environment variables whose name says they are
secret (`*SECRET*`, `*PASSWORD*`, `*TOKEN*`, `*_KEY` credentials, `PGPASSWORD`), and the passwords
inside URLs and DSNs the platform connects to (`TICKWH_NATS_URL`, `TICKWH_CLICKHOUSE_URL`,
`TICKWH_LAKE_CATALOG`). `redact(text)` replaces each of them, in the forms in which a message may
carry it (as is, stripped of surrounding whitespace, as `repr` shows it, percent-encoded), with
`***`. The log filter (`RedactingFilter`, installed by ingest/logs.py), the CLI's error path
(tickwh/cli.py) and the Dagster steps' failure path (orchestration/lib) all call `redact`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
# A variable whose name matches holds a credential: its whole value is secret.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY)", re.I)
# Variables that hold a URL or DSN which may embed a password.
URL_SETTINGS = ("TICKWH_NATS_URL", "TICKWH_CLICKHOUSE_URL", "TICKWH_LAKE_CATALOG", "TICKWH_ALERT_WEBHOOK_URL",
                "TICKWH_ALERT_SMTP_URL", "DATABASE_URL")
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words; such a secret is no secret
# The password field of any URL in a text (`scheme://user:pw@host`), masked whatever its length and
# whether or not it was registered: a URL in a message is masked by its shape.
URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)(?P<pw>[^\s@/'\"]+)(?=@)")

_lock = threading.Lock()
_extra: set[str] = set()


def register(value: str | None) -> None:
    """Treat `value` as a secret from now on in this process (e.g. a password read from a file)."""
    if value and len(value.strip()) >= MIN_SECRET_LEN:
        with _lock:
            _extra.add(value)


def url_password(url: str) -> str | None:
    """The password inside a URL (`scheme://user:pw@host`) or a libpq DSN (`password=...`), if any."""
    m = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url)
    if m:
        return m.group(1).strip("'")
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        password = None
    if password is None:
        # urlsplit gives up on some malformed URLs: take what lies between `user:` and the last `@`.
        m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:(.*)@[^@]*$", url.strip(), re.S)
        password = m.group(1) if m else None
    return password or None


def register_url(url: str | None) -> None:
    """Treat the password inside `url` (an argument such as `tickwh feed --nats`) as a secret from now on."""
    password = url_password(url or "")
    if password:
        register(password)
        register(unquote(password))


def redact_url(url: str | None, text: str | None = None) -> str:
    """`text` (default: the URL itself, for messages that name a server) with the URL's password
    replaced by `***` (`nats://user:***@host:4222`), and every other known secret masked too."""
    register_url(url)
    return redact((url or "") if text is None else text)


def secrets_in(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value this process knows: from the environment and from `register`."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if SECRET_NAME.search(name):
            found.add(value)
        if name in URL_SETTINGS or name.endswith("_URL") or name.endswith("_DSN"):
            pw = url_password(value)
            if pw:
                found.add(pw)
                found.add(unquote(pw))
    with _lock:
        found |= _extra
    return [s for s in found if len(s.strip()) >= MIN_SECRET_LEN]


def _forms(secret: str) -> Iterable[str]:
    yield secret
    stripped = secret.strip()
    yield stripped
    for s in (secret, stripped):
        r = repr(s)[1:-1]  # how `{value!r}` and tracebacks show it: \r, \n, \\ and quotes escaped
        yield r
        yield r.replace('"', '\\"')
        yield quote(s, safe="")
        yield s.encode("unicode_escape").decode("ascii")
    for line in stripped.splitlines():  # a multi-line secret shown line by line
        if len(line.strip()) >= MIN_SECRET_LEN:
            yield line.strip()


def redact(text: object, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every known secret, in every form above, replaced by `***`."""
    out = text if isinstance(text, str) else str(text)
    forms = {f for s in secrets_in(environ) for f in _forms(s) if len(f.strip()) >= MIN_SECRET_LEN}
    for form in sorted(forms, key=len, reverse=True):  # longest first: a secret inside another
        if form in out:
            out = out.replace(form, MASK)
    return URL_USERINFO.sub(lambda m: m.group("head") + MASK, out)


class RedactingFilter(logging.Filter):
    """Renders each record's message once and redacts it, so no handler sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep Python's own handling of it
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
