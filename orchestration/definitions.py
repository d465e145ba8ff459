"""The code location: `tickwh ui` / workspace.yaml load `defs` from here. This module only assembles
the features under orchestration/defs/ (docs/layout.md); it defines nothing of its own."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from dagster import Definitions, PreviewWarning

from ingest.settings import Settings
from orchestration.defs.catchup.sensors import catchup_missed_days
from orchestration.defs.cold.assets import cold_archive, warm_retention
from orchestration.defs.cold.jobs import archive_job
from orchestration.defs.cold.resources import cold_storage_from_settings
from orchestration.defs.cold.sensors import archive_after_daily
from orchestration.defs.live.assets import hot_trades
from orchestration.defs.live.checks import hot_tier_matches_warm
from orchestration.defs.live.jobs import hot_load
from orchestration.defs.live.resources import HotTierResource, NatsResource, clickhouse_url
from orchestration.defs.live.sensors import hot_load_sensor
from orchestration.defs.maintenance.assets import lake_maintenance
from orchestration.defs.maintenance.jobs import lake_maintenance_job
from orchestration.defs.maintenance.schedules import lake_maintenance_schedule
from orchestration.defs.marts.assets import dbt_daily_marts, dbt_rollups
from orchestration.defs.marts.jobs import daily_pipeline, rollups_job
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.marts.schedules import daily_schedule
from orchestration.defs.marts.sensors import rollups_after_daily
from orchestration.defs.monitoring.freshness import freshness_checks, freshness_policies, freshness_sensor
from orchestration.defs.monitoring.resources import AlertsResource
from orchestration.defs.monitoring.sensors import health_alerts
from orchestration.defs.quality.checks import quality_checks
from orchestration.defs.raw.assets import RAW_ASSETS
from orchestration.defs.vendors.assets import binance_klines_reference, vendor_landing
from orchestration.defs.vendors.checks import ohlcv_1m_matches_exchange_klines
from orchestration.defs.vendors.jobs import vendor_landing_job
from orchestration.defs.vendors.resources import binance_reference_from_settings, vendor_source_from_settings
from orchestration.defs.vendors.schedules import vendor_landing_schedule
from orchestration.defs.vendors.sensors import daily_pipeline_after_vendor_landing
from orchestration.lib.execution import executor_from_settings
from orchestration.lib.logs import console_logger
from orchestration.lib.resources import LandingZoneResource, WarehouseResource


def default_resources(settings: Settings | None = None) -> dict[str, Any]:
    """Every resource, from one `Settings` (computed from the environment once, here)."""
    settings = settings or Settings.from_env()
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "landing": LandingZoneResource.from_settings(settings),
        "dbt": dbt_resource(),
        "nats": NatsResource(url=settings.nats_url),
        "hot": HotTierResource(url=clickhouse_url(settings), path=settings.chdb_path, live=settings.live,
                               monitoring_dir=str(settings.monitoring_dir)),
        "alerts": AlertsResource.from_settings(settings),
        "cold": cold_storage_from_settings(settings),
        "vendor_source": vendor_source_from_settings(settings),
        "binance_reference": binance_reference_from_settings(settings),
    }


def build_defs(resources: Mapping[str, Any] | None = None) -> Definitions:
    """The whole code location; tests pass resources that point at temporary files."""
    defs = Definitions(
        assets=[*RAW_ASSETS, dbt_daily_marts, dbt_rollups, cold_archive, warm_retention,
                vendor_landing, binance_klines_reference, lake_maintenance, hot_trades],
        jobs=[daily_pipeline, rollups_job, archive_job, hot_load, vendor_landing_job, lake_maintenance_job],
        schedules=[daily_schedule, vendor_landing_schedule, lake_maintenance_schedule],
        sensors=[
            rollups_after_daily,
            archive_after_daily,
            catchup_missed_days,
            hot_load_sensor,
            daily_pipeline_after_vendor_landing,
            freshness_sensor,
            health_alerts,
        ],
        asset_checks=[hot_tier_matches_warm, ohlcv_1m_matches_exchange_klines, *quality_checks, freshness_checks],
        resources={**default_resources(), **(resources or {})},
        # Run logs in the same format as every other line the project prints.
        loggers={"console": console_logger},
        # A run's steps depend on each other (raw -> marts), so a process per step would only add
        # Dagster/dbt/GE import time to each; parallelism comes from runs of different days. Past one
        # machine (TICKWH_EXECUTOR=celery, docs/deploy.md) each step is a Celery task on some worker.
        executor=executor_from_settings(Settings.from_env()),
    )
    # The freshness promises (ingest/monitoring/freshness.py) also as Dagster FreshnessPolicies.
    policies = freshness_policies()
    with warnings.catch_warnings():
        # "preview" in 1.13: it is the API that attaches policies to assets we do not declare (dbt's).
        warnings.simplefilter("ignore", PreviewWarning)
        return defs.map_resolved_asset_specs(
            func=lambda spec: spec.replace_attributes(freshness_policy=policies[spec.key]), selection=list(policies)
        )


defs = build_defs()
