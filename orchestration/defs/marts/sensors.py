"""What follows a successful daily run inside the marts feature: the rollups."""

from __future__ import annotations

from dagster import DagsterRunStatus, DefaultSensorStatus, RunRequest, RunStatusSensorContext, run_status_sensor

from orchestration.defs.marts.jobs import daily_pipeline, rollups_job


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_pipeline],
    request_job=rollups_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Refresh the rollups after each successful daily run.",
)
def rollups_after_daily(context: RunStatusSensorContext) -> RunRequest:
    return RunRequest(run_key=f"rollups-after-{context.dagster_run.run_id}")
