"""When the daily pipeline runs by itself."""

from __future__ import annotations

import datetime as dt

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from ingest.availability import landed_days
from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.lib.resources import LandingZoneResource


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
