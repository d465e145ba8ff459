"""The daily pipeline (a day's raw loads, then its marts) and the rollups job."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.defs.marts.assets import dbt_daily_marts, dbt_rollups
from orchestration.defs.raw.assets import raw_book_snapshots, raw_trades
from orchestration.lib.daily import daily_job
from orchestration.lib.pools import WRITER_TAGS

daily_pipeline = daily_job(
    "daily_pipeline", [raw_trades, raw_book_snapshots, dbt_daily_marts],
    "Load a day's trades and book snapshots, then build its OHLCV bars and daily stats.",
)

rollups_job = define_asset_job(
    "rollups",
    selection=AssetSelection.assets(dbt_rollups),
    tags=WRITER_TAGS,
    description="Rebuild weekly/monthly rollups and the market-wide daily summary.",
)
