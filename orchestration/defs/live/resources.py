"""The live path's resources: the NATS server of the trade stream and the ClickHouse hot tier."""

# No `from __future__ import annotations`: Dagster inspects annotations at runtime.
import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource
from pydantic import Field

from ingest.feed.stream import DEFAULT_STREAM, StreamState, connect, stream_state
from ingest.feed.stream import Backoff as NatsBackoff
from ingest.hot import HotSettings, HotTarget, open_hot_tier
from ingest.settings import Settings


def clickhouse_url(settings: Settings | None = None) -> str | None:
    """A ClickHouse server for the hot tier, `http(s)://user@host:8123/db`; unset means embedded chdb.

    The password is read from TICKWH_CLICKHOUSE_PASSWORD when connecting, never from config.
    """
    url = (settings or Settings.from_env()).clickhouse_url
    if url:
        HotTarget(url=url)  # refuses a password in the URL before Dagster shows it as resource config
    return url


class NatsResource(ConfigurableResource):
    """The NATS server holding the `TRADES` JetStream stream. `url` may be an `EnvVar`."""

    url: str = Field(default_factory=lambda: Settings.from_env().nats_url, description="NATS URL, e.g. nats://127.0.0.1:4222")
    stream: str = Field(default=DEFAULT_STREAM, description="JetStream stream of trade batches")
    timeout_s: float = Field(default=5.0, description="how long a sensor tick waits for the server")
    connect_deadline_s: float = Field(default=60.0, description="how long a hot_load step waits for the server")

    def state(self) -> StreamState:
        """First/last sequence of the stream; raises StreamUnavailableError if NATS does not answer."""

        async def read() -> StreamState:
            nc = await connect(self.url, name="tickwh-sensor", backoff=NatsBackoff(deadline_s=self.timeout_s))
            try:
                return await stream_state(nc.jetstream(timeout=self.timeout_s), self.stream)
            finally:
                await nc.close()

        return asyncio.run(read())


class HotTierResource(ConfigurableResource):
    """The ClickHouse hot tier: a server when `url` is set (TICKWH_CLICKHOUSE_URL), else embedded chdb."""

    url: str | None = Field(
        default_factory=clickhouse_url, description="http(s)://user@host:8123/db; None for embedded chdb"
    )
    path: str = Field(
        default_factory=lambda: Settings.from_env().chdb_path, description="chdb directory (embedded mode)"
    )
    password: str | None = Field(
        default=None, repr=False, description='EnvVar("TICKWH_CLICKHOUSE_PASSWORD"); read from it if unset'
    )
    ttl_hours: int = Field(default=24, description="hot retention; 0 keeps everything")
    ttl_basis: str = Field(default="event", description="'event': TTL on trade time; 'ingest': on load time")
    dedup_window: int = Field(default=10_000, description="inserts remembered for idempotent retries")
    open_timeout_s: float = Field(default=120.0, description="wait for another process to release chdb")
    monitoring_dir: str | None = Field(
        default=None,
        description="where loads publish the hot tier's stream position for its freshness check; the code "
        "location sets $TICKWH_HOME/monitoring. None: not published (tests and benchmarks of the loads alone)",
    )
    live: bool | None = Field(
        default_factory=lambda: Settings.from_env().live,
        description="TICKWH_LIVE: does the live path run? None: yes if a server URL is set or hot_load ever ran",
    )

    def target(self) -> HotTarget:
        return HotTarget(path=self.path, url=self.url, password=self.password, open_timeout_s=self.open_timeout_s)

    def settings(self) -> HotSettings:
        return HotSettings(ttl_hours=self.ttl_hours, ttl_basis=self.ttl_basis, dedup_window=self.dedup_window)

    @contextmanager
    def open(self) -> Iterator[Client]:
        with open_hot_tier(self.target(), self.settings()) as client:
            yield client
