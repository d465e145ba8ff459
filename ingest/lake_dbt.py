"""dbt-duckdb plugin: dbt opens the lake through `ingest.lake.attach`, like every other consumer.

The profile (dbt_project/profiles.yml) names this module under `plugins:`. dbt-duckdb calls
`configure_connection` before it runs the profile's `attach:` list, so the lake is already
attached as `lake` when the profile's `ATTACH IF NOT EXISTS ... AS lake` entry comes: that entry
only tells dbt-duckdb the database is a DuckLake (its SQL differs for one), and never opens a
second copy with other settings. Settings come from TICKWH_LAKE_* (ingest/lake.py).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from ingest import lake


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.lake_config = lake.LakeConfig.from_env()

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        lake.attach(conn, self.lake_config, use=False)
