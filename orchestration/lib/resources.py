"""Resources every feature uses: the warm warehouse (a DuckLake) and the landing zone of vendor files."""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, EnvVar
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ingest import lake, lake_pool
from ingest.books import BookExpectation
from ingest.remote_landing import ENV_KEY_ID, ENV_SECRET, RemoteLanding
from ingest.settings import Settings


def _lake_default(attr: str) -> Any:
    return lambda: getattr(lake.LakeConfig.from_env(), attr)


class WarehouseResource(DuckDBResource):
    """The warm warehouse: dagster-duckdb's connection with the DuckLake attached (`ingest.lake`).

    DuckDB runs in memory; the catalog (SQLite file or PostgreSQL) and the Parquet data files
    (local folder or S3) are the lake's. Every connection sees the last committed snapshot, so
    readers never wait for a load, and loads of different days may run at once.
    """

    database: str = Field(default=":memory:", description="DuckDB engine database; the data live in the lake")
    catalog: str = Field(
        default_factory=_lake_default("catalog"), description="sqlite:<file> or postgres:<libpq key=value pairs>"
    )
    data_path: str = Field(default_factory=_lake_default("data_path"), description="data folder or s3://bucket/prefix/")
    s3_endpoint: str | None = Field(default_factory=_lake_default("s3_endpoint"), description="S3 endpoint URL")
    s3_region: str = Field(default_factory=_lake_default("s3_region"), description="S3 region")
    s3_access_key_id: str | None = Field(default=None, repr=False, description='EnvVar("TICKWH_LAKE_S3_ACCESS_KEY_ID")')
    s3_secret_access_key: str | None = Field(
        default=None, repr=False, description='EnvVar("TICKWH_LAKE_S3_SECRET_ACCESS_KEY")'
    )

    def lake_config(self) -> lake.LakeConfig:
        env = lake.LakeConfig.from_env()
        return lake.LakeConfig(
            catalog=self.catalog,
            data_path=self.data_path,
            s3_endpoint=self.s3_endpoint,
            s3_region=self.s3_region,
            s3_access_key_id=self.s3_access_key_id or env.s3_access_key_id,
            s3_secret_access_key=self.s3_secret_access_key or env.s3_secret_access_key,
        )

    @contextmanager
    def get_connection(  # type: ignore[override]
        self, read_only: bool = False, as_of: int | dt.datetime | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        config = self.lake_config()
        if (read_only or as_of is not None) and not config.exists():
            raise lake.LakeError(f"no lake at {config.describe()}: load a day first")
        if as_of is None:
            # The run's steps share one attached engine per process (ingest/lake_pool.py).
            with lake_pool.connection(config, read_only=read_only) as con:
                yield con
            return
        with super().get_connection() as con:
            # dagster-duckdb closes its connection only when the block ends without an error; a step
            # that fails inside must not leave the catalog open (SQLite: "database is locked").
            try:
                con.execute("SET enable_progress_bar = false")
                lake.attach(con, config, read_only=read_only, as_of=as_of)
                yield con
            finally:
                con.close()

    connect = get_connection

    def dbt_env(self) -> dict[str, str]:
        """Variables for the dbt process, whose profile attaches the same lake (ingest/lake_dbt.py)."""
        return self.lake_config().env()

    @classmethod
    def at(cls, home: str | Path) -> "WarehouseResource":
        """An embedded lake under `<home>/lake/` (tests, benchmarks, a private sandbox)."""
        config = lake.LakeConfig.embedded(home)
        return cls(catalog=config.catalog, data_path=config.data_path)

    @classmethod
    def from_env(cls) -> "WarehouseResource":
        return cls.from_settings(Settings.from_env())

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        """The code location's resource: the lake of the settings, S3 credentials as `EnvVar`s when set."""
        config = lake.LakeConfig.from_settings(settings)
        return cls(
            catalog=config.catalog, data_path=config.data_path, s3_endpoint=config.s3_endpoint,
            s3_region=config.s3_region,
            **env_credentials({"s3_access_key_id": lake.ENV_S3_KEY_ID, "s3_secret_access_key": lake.ENV_S3_SECRET}),
        )


def env_credentials(fields: dict[str, str]) -> dict[str, Any]:
    """`EnvVar`s for the credential fields whose variable is set (field name -> variable name).

    Dagster reads an `EnvVar` when the run starts and never shows its value; a variable that is
    not set leaves its field empty, so a run that needs no credential is not failed for lacking it.
    """
    return {name: EnvVar(var) for name, var in fields.items() if os.environ.get(var)}


class LandingZoneResource(ConfigurableResource):
    """Folder holding vendor files in the Tardis layout (`<exchange>_<type>_<day>_<symbols>.csv.gz`)."""

    root: str = Field(default_factory=lambda: str(Settings.from_env().landing_root), description="landing folder")
    book_exchanges: str = Field(
        default_factory=lambda: Settings.from_env().book_exchanges,
        description="exchanges expected to deliver book files: auto, all, none or a,b (ingest/books.py)",
    )

    s3_url: str | None = Field(default=None, description="s3://bucket/prefix/ the day's files are fetched from first")
    s3_endpoint: str | None = Field(default=None, description="S3 endpoint URL of s3_url")
    s3_region: str | None = Field(default=None, description="S3 region of s3_url")
    s3_access_key_id: str | None = Field(default=None, repr=False, description=f'EnvVar("{ENV_KEY_ID}")')
    s3_secret_access_key: str | None = Field(default=None, repr=False, description=f'EnvVar("{ENV_SECRET}")')

    @classmethod
    def from_settings(cls, settings: Settings) -> "LandingZoneResource":
        return cls(
            root=str(settings.landing_root), book_exchanges=settings.book_exchanges, s3_url=settings.landing_s3,
            s3_endpoint=settings.landing_s3_endpoint, s3_region=settings.lake_s3_region,
            **env_credentials({"s3_access_key_id": ENV_KEY_ID, "s3_secret_access_key": ENV_SECRET}),
        )

    def fetch_day(self, day: dt.date) -> list[Path]:
        """With the landing zone on S3: the day's files copied into this machine's landing folder first
        (a worker of a distributed run has only its own home; docs/deploy.md). Without: nothing to do."""
        if not self.s3_url:
            return []
        remote = RemoteLanding(self.s3_url, endpoint_url=self.s3_endpoint, region=self.s3_region,
                               access_key_id=self.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID"),
                               secret_access_key=self.s3_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY"))
        return remote.fetch_day(day, self.path)

    @property
    def books(self) -> BookExpectation:
        return BookExpectation.parse(self.book_exchanges)

    @property
    def path(self) -> Path:
        return Path(self.root)
