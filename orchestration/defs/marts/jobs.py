"""The daily pipeline (a day's raw loads, then its marts) and the rollups job."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.defs.marts.assets import dbt_daily_marts, dbt_rollups
from orchestration.defs.raw.assets import RAW_ASSETS
from orchestration.lib.daily import daily_job
from orchestration.lib.pools import WRITER_TAGS

daily_pipeline = daily_job(
    "daily_pipeline", [*RAW_ASSETS, dbt_daily_marts],
    "Load a day's raw datasets (trades, books, quotes, derivative ticker, liquidations), then build its bars, "
    "derivatives marts and daily stats.",
)

rollups_job = define_asset_job(
    "rollups",
    selection=AssetSelection.assets(dbt_rollups),
    tags=WRITER_TAGS,
    description="Rebuild weekly/monthly rollups and the market-wide daily summary.",
)
