"""Jobs, schedules and sensors."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    build_schedule_from_partitioned_job,
    define_asset_job,
    run_status_sensor,
)

from orchestration.assets.dbt import dbt_daily_marts, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.cold import cold_archive, warm_retention
from orchestration.partitions import daily_partitions, partition_tags_of

# Runs that write the lake carry this tag, so an operator can cap concurrent writers in dagster.yaml
# (tag_concurrency_limits). The lake itself needs no cap: runs of different days commit side by side.
WRITER_TAGS = {"tickwh/writer": "lake"}

daily_pipeline = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.assets(raw_trades, raw_book_snapshots, dbt_daily_marts),
    partitions_def=daily_partitions,
    tags=WRITER_TAGS,
    description="Load a day's trades and book snapshots, then build its OHLCV bars and daily stats.",
)

rollups_job = define_asset_job(
    "rollups",
    selection=AssetSelection.assets(dbt_rollups),
    tags=WRITER_TAGS,
    description="Rebuild weekly/monthly rollups and the market-wide daily summary.",
)

archive_job = define_asset_job(
    "archive",
    selection=AssetSelection.assets(cold_archive, warm_retention),
    partitions_def=daily_partitions,
    tags=WRITER_TAGS,
    description="Archive the day's raw ticks and bars to Parquet on S3, then drop expired warm days.",
)

# Vendor files for day D land a little after midnight UTC; run D at 01:30.
daily_schedule = build_schedule_from_partitioned_job(
    daily_pipeline, hour_of_day=1, minute_of_hour=30, default_status=DefaultScheduleStatus.RUNNING
)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_pipeline],
    request_job=rollups_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Refresh the rollups after each successful daily run.",
)
def rollups_after_daily(context: RunStatusSensorContext) -> RunRequest:
    return RunRequest(run_key=f"rollups-after-{context.dagster_run.run_id}")


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_pipeline],
    request_job=archive_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Archive the same days to the cold tier after each successful daily run.",
)
def archive_after_daily(context: RunStatusSensorContext) -> RunRequest:
    tags = partition_tags_of(context.dagster_run.tags)
    return RunRequest(run_key=f"archive-after-{context.dagster_run.run_id}", tags=tags)
