"""The hot tier: the last day of trades and live 1-minute bars in ClickHouse.

Plain Python (no Dagster), so the loader can run from a sensor's job, a benchmark or a shell.
`open_hot_tier` hands out a client with the schema in place; `load_range` moves a JetStream
sequence range into it exactly once. See docs/live.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from clickhouse_connect.driver.client import Client

from ingest.hot.client import HotTarget, HotTierBusyError, close_idle, hot_client
from ingest.hot.load import RangeLoad, load_range
from ingest.hot.tier import BAR_COLUMNS, HotSettings, day_bars, day_totals, ensure_schema, insert_trades


@contextmanager
def open_hot_tier(target: HotTarget, settings: HotSettings | None = None) -> Iterator[Client]:
    """A ClickHouse client on the hot tier, its tables created or brought up to `settings`."""
    settings = settings or HotSettings()
    with hot_client(target) as client:
        ensure_schema(client, settings, cache_key=target.describe())
        yield client


__all__ = [
    "BAR_COLUMNS",
    "HotSettings",
    "HotTarget",
    "HotTierBusyError",
    "RangeLoad",
    "close_idle",
    "day_bars",
    "day_totals",
    "ensure_schema",
    "hot_client",
    "insert_trades",
    "load_range",
    "open_hot_tier",
]
