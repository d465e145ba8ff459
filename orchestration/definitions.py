"""The code location: `dagster dev` / `make ui` load `defs` from here."""

from __future__ import annotations

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.assets.dbt import dbt_daily_marts, dbt_project, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.jobs import daily_pipeline, daily_schedule, rollups_after_daily, rollups_job
from orchestration.resources import LandingZoneResource, WarehouseResource

defs = Definitions(
    assets=[raw_trades, raw_book_snapshots, dbt_daily_marts, dbt_rollups],
    jobs=[daily_pipeline, rollups_job],
    schedules=[daily_schedule],
    sensors=[rollups_after_daily],
    resources={
        "warehouse": WarehouseResource(),
        "landing": LandingZoneResource(),
        "dbt": DbtCliResource(project_dir=dbt_project),
    },
)
