"""ClickHouse connections for the hot tier: embedded chdb by default, a server when configured.

The same clickhouse-connect API talks to both, so nothing above this module knows which one
it has. Embedded chdb has two constraints that shape this module:

* one engine per process, on one path: every user in a process must share a client, and a
  second path can only be opened once the first one is closed;
* one process per path (ClickHouse locks `<path>/status`): another process that has the path
  open (a concurrent Dagster run) makes opening fail until it exits, so opening retries for
  a while instead of failing the run at once.

So clients on a chdb path are shared and reference-counted per process, and stay open while
idle (opening costs about a second) until a different path is asked for or `close_idle` runs.
Server clients are cheap and not shared.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from tenacity import RetryCallState

from ingest.retry import retrying

log = logging.getLogger(__name__)

CLICKHOUSE_URL_ENV = "TICKWH_CLICKHOUSE_URL"
CLICKHOUSE_PASSWORD_ENV = "TICKWH_CLICKHOUSE_PASSWORD"


class HotTierBusyError(RuntimeError):
    """The embedded engine of this process is in use on another path."""


@dataclass(frozen=True)
class HotTarget:
    """Where the hot tier lives: a ClickHouse server `url` if given, else chdb at `path`.

    `url` is `http(s)://user@host:port/database`; the password comes from `password` or the
    environment (`TICKWH_CLICKHOUSE_PASSWORD`), never from the URL in config files.
    """

    path: str | None = None
    url: str | None = None
    password: str | None = field(default=None, repr=False)
    open_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.url and not self.path:
            raise ValueError("HotTarget needs a chdb path or a ClickHouse server URL")
        if self.url:
            u = urlparse(self.url)
            if u.password is not None:
                # The URL is never echoed: it holds the secret. Config files, run metadata and
                # logs carry URLs; the password lives in its own variable only.
                raise ValueError(
                    f"{CLICKHOUSE_URL_ENV}: a password in the ClickHouse URL is refused; remove it from the URL "
                    f"({u.scheme}://{u.username or 'default'}@{u.hostname}:{u.port or ''}{u.path}) and set "
                    f"{CLICKHOUSE_PASSWORD_ENV} in the environment instead"
                )
            if u.scheme not in ("http", "https"):
                raise ValueError(
                    f"ClickHouse URL must be http(s)://user@host:port/database, got scheme {u.scheme[:20]!r}"
                )

    @property
    def embedded(self) -> bool:
        return not self.url

    def describe(self) -> str:
        if self.embedded:
            return f"chdb:{os.path.realpath(self.path or '')}"
        u = urlparse(self.url)
        return f"{u.scheme}://{u.username or 'default'}@{u.hostname}:{u.port or ''}{u.path}"


@dataclass
class _Shared:
    client: Client
    refs: int = 0


_lock = threading.Lock()
_embedded: dict[str, _Shared] = {}


def _open_chdb(path: str, timeout_s: float) -> Client:
    os.makedirs(path, exist_ok=True)

    def log_wait(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("chdb at %s is not available yet (%s); retrying in %.1fs", path, str(exc)[-120:],
                    state.upcoming_sleep)

    # Most likely another process holds the path (status file lock): wait for it, but give up
    # rather than start a wait that would end past the deadline.
    return retrying(
        retry_if=lambda exc: isinstance(exc, ClickHouseError), initial_s=0.2, max_s=5.0,
        deadline_s=timeout_s, deadline_includes_wait=True, before_sleep=log_wait,
    )(lambda: clickhouse_connect.get_client(dsn=f"chdb://{path}"))


@contextmanager
def hot_client(target: HotTarget) -> Iterator[Client]:
    """A client for the target, shared with the rest of the process when it is embedded."""
    if not target.embedded:
        password = target.password or os.environ.get(CLICKHOUSE_PASSWORD_ENV) or ""
        client = clickhouse_connect.get_client(dsn=target.url, password=password)
        try:
            yield client
        finally:
            client.close()
        return
    path = os.path.realpath(target.path or "")
    with _lock:
        entry = _embedded.get(path)
        if entry is None:
            for other, shared in list(_embedded.items()):
                if shared.refs:
                    raise HotTierBusyError(
                        f"chdb is open on {other} in this process; one embedded hot tier path per process"
                    )
                shared.client.close()
                del _embedded[other]
            entry = _Shared(_open_chdb(path, target.open_timeout_s))
            _embedded[path] = entry
        entry.refs += 1
    try:
        yield entry.client
    finally:
        with _lock:
            entry.refs -= 1


def close_idle() -> None:
    """Close embedded clients nobody uses, so another process can open their path."""
    with _lock:
        for path, shared in list(_embedded.items()):
            if not shared.refs:
                shared.client.close()
                del _embedded[path]
