"""The code location: `dagster dev` / `make ui` load `defs` from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.assets.dbt import dbt_daily_marts, dbt_project, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.catchup import catchup_missed_days
from orchestration.jobs import daily_pipeline, daily_schedule, rollups_after_daily, rollups_job
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.settings import dbt_executable


def default_resources() -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(),
        "landing": LandingZoneResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }


def build_defs(resources: Mapping[str, Any] | None = None) -> Definitions:
    """The whole code location; tests pass resources that point at temporary files."""
    return Definitions(
        assets=[raw_trades, raw_book_snapshots, dbt_daily_marts, dbt_rollups],
        jobs=[daily_pipeline, rollups_job],
        schedules=[daily_schedule],
        sensors=[rollups_after_daily, catchup_missed_days],
        resources={**default_resources(), **(resources or {})},
    )


defs = build_defs()
