"""The code location: `dagster dev` / `make ui` load `defs` from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Definitions, in_process_executor

from orchestration.assets.dbt import dbt_daily_marts, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.catchup import catchup_missed_days
from orchestration.cold import cold_archive, cold_storage_from_env, warm_retention
from orchestration.dbt_resource import dbt_resource
from orchestration.jobs import (
    archive_after_daily,
    archive_job,
    daily_pipeline,
    daily_schedule,
    rollups_after_daily,
    rollups_job,
)
from orchestration.lake import lake_maintenance, lake_maintenance_job, lake_maintenance_schedule
from orchestration.live import HotTierResource, NatsResource, hot_load, hot_load_sensor, hot_tier_matches_warm
from orchestration.logs import console_logger
from orchestration.quality import quality_checks
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.vendors import (
    binance_klines_reference,
    binance_reference_from_env,
    daily_pipeline_after_vendor_landing,
    ohlcv_1m_matches_exchange_klines,
    vendor_landing,
    vendor_landing_job,
    vendor_landing_schedule,
    vendor_source_from_env,
)


def default_resources() -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource.from_env(),
        "landing": LandingZoneResource(),
        "dbt": dbt_resource(),
        "nats": NatsResource(),
        "hot": HotTierResource(),
        "cold": cold_storage_from_env(),
        "vendor_source": vendor_source_from_env(),
        "binance_reference": binance_reference_from_env(),
    }


def build_defs(resources: Mapping[str, Any] | None = None) -> Definitions:
    """The whole code location; tests pass resources that point at temporary files."""
    return Definitions(
        assets=[raw_trades, raw_book_snapshots, dbt_daily_marts, dbt_rollups, cold_archive, warm_retention,
                vendor_landing, binance_klines_reference, lake_maintenance],
        jobs=[daily_pipeline, rollups_job, archive_job, hot_load, vendor_landing_job, lake_maintenance_job],
        schedules=[daily_schedule, vendor_landing_schedule, lake_maintenance_schedule],
        sensors=[
            rollups_after_daily,
            archive_after_daily,
            catchup_missed_days,
            hot_load_sensor,
            daily_pipeline_after_vendor_landing,
        ],
        asset_checks=[hot_tier_matches_warm, ohlcv_1m_matches_exchange_klines, *quality_checks],
        resources={**default_resources(), **(resources or {})},
        # Run logs in the same format as every other line the project prints.
        loggers={"console": console_logger},
        # A run's steps depend on each other (raw -> marts), so a process per step would only add
        # Dagster/dbt/GE import time to each; parallelism comes from runs of different days.
        executor=in_process_executor,
    )


defs = build_defs()
