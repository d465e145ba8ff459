"""Fixtures for the cold-tier fault rows: a real SeaweedFS that tests stop and restart, and a warehouse.

The warehouse holds two simulated days of `raw.trades` and `raw.book_snapshots`, loaded by the
real loader (no dbt: the cold faults concern the raw tables that retention drops). Each test
gets its own copy of it and its own key prefix in the bucket.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingest import lake
from ingest.cold import ColdStoreConfig, ColdTier
from ingest.cold.seaweed import SeaweedServer
from ingest.datasets import NAMES
from ingest.loader import load_day
from ingest.simulator import simulate_days

DAY1 = dt.date(2024, 3, 4)
DAY2 = dt.date(2024, 3, 5)
SYMBOL = "BTCUSDT"
BUCKET = "tickwh-faults"


class Seaweed:
    """One SeaweedFS whose process a test can really stop; restarted on the same S3 port and data."""

    def __init__(self, data_dir: Path, key: str, secret: str) -> None:
        self.data_dir, self.key, self.secret = data_dir, key, secret
        self.server = SeaweedServer(data_dir, access_key=key, secret_key=secret).start()
        self.port = self.server.ports["s3.port"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        proc = self.server.process
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        """SIGTERM then SIGKILL of the whole `weed` process group: the endpoint refuses connections."""
        self.server.stop(timeout=1.0)

    def start(self) -> None:
        if not self.running:
            self.server = SeaweedServer(self.data_dir, access_key=self.key, secret_key=self.secret, s3_port=self.port)
            self.server.start()


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    key, secret = "fault" + secrets.token_hex(6), secrets.token_urlsafe(24)
    server = Seaweed(tmp_path_factory.mktemp("seaweed"), key, secret)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def golden_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose lake (`<home>/lake`) holds the two days."""
    home = tmp_path_factory.mktemp("cold_faults")
    simulate_days(DAY1, 2, home / "landing", trades_per_day=20_000, snapshot_interval_ms=10_000, seed=5)
    with lake.connect(lake.LakeConfig.embedded(home)) as con:
        for day in (DAY1, DAY2):
            for dataset in NAMES:
                load_day(con, home / "landing", day, dataset)
    return home


@dataclass
class ColdEnv:
    home: Path
    config: ColdStoreConfig
    tier: ColdTier
    seaweed: Seaweed

    @property
    def warehouse(self) -> lake.LakeConfig:
        return lake.LakeConfig.embedded(self.home)

    def con(self, read_only: bool = True) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return lake.connect(self.warehouse, read_only=read_only)

    def warm_count(self, relation: str, date_column: str, day: dt.date) -> int:
        with self.con() as con:
            return con.execute(f"SELECT count(*) FROM {relation} WHERE {date_column} = ?", [day]).fetchone()[0]

    def keys(self, table: str, day: dt.date) -> list[str]:
        return sorted(self.tier.store.list_keys(self.tier.partition_prefix(table, day)))


@pytest.fixture
def cold_env(golden_warehouse: Path, seaweed: Seaweed, tmp_path: Path) -> Iterator[ColdEnv]:
    seaweed.start()  # a previous test may have left it stopped on failure
    lake.copy_embedded(lake.LakeConfig.embedded(golden_warehouse), tmp_path)
    config = ColdStoreConfig(
        endpoint_url=seaweed.endpoint_url,
        bucket=BUCKET,
        prefix=f"t-{uuid.uuid4().hex[:8]}/warehouse",
        access_key_id=seaweed.key,
        secret_access_key=seaweed.secret,
    )
    tier = config.open()
    tier.store.ensure_ready()
    yield ColdEnv(tmp_path, config, tier, seaweed)
    seaweed.start()


def child_env(env: ColdEnv, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that archives into the same store (credentials via AWS_* only)."""
    return {
        **os.environ,
        "TICKWH_COLD_ENDPOINT": env.config.endpoint_url or "",
        "TICKWH_COLD_BUCKET": env.config.bucket,
        "TICKWH_COLD_PREFIX": env.config.prefix,
        "AWS_ACCESS_KEY_ID": env.seaweed.key,
        "AWS_SECRET_ACCESS_KEY": env.seaweed.secret,
        **extra,
    }
