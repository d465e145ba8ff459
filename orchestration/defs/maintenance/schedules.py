"""When the lake is maintained."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from orchestration.defs.maintenance.jobs import lake_maintenance_job

# Sunday 03:00 UTC: after the night's daily run (01:30), before the week starts.
lake_maintenance_schedule = ScheduleDefinition(
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
