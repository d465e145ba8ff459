"""Jobs, schedules and sensors."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    run_status_sensor,
    schedule,
)

from ingest.availability import landed_days
from orchestration.assets.dbt import dbt_daily_marts, dbt_rollups
from orchestration.assets.raw import raw_book_snapshots, raw_trades
from orchestration.cold import cold_archive, warm_retention
from orchestration.partitions import daily_partitions, partition_tags_of
from orchestration.resources import LandingZoneResource

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

# Vendor files for day D land a little after midnight UTC; run D at 01:30. A day without its
# landing files is a skipped tick with the reason, not a run that fails.
@schedule(
    job=daily_pipeline,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    name="daily_pipeline_schedule",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Yesterday's UTC day at 01:30 UTC, when its landing files are there.",
)
def daily_schedule(context: ScheduleEvaluationContext, landing: LandingZoneResource) -> RunRequest | SkipReason:
    now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    day = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    if day not in landed_days(landing.path, landing.books):
        return SkipReason(
            f"no landing files for {day} under {landing.path} (need trades, and the book files of the exchanges "
            f"expected to have books: {landing.books.describe()})"
        )
    return RunRequest(partition_key=day.isoformat())


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
