"""The archive follows each successful daily run, over the same days."""

from __future__ import annotations

from dagster import DagsterRunStatus, DefaultSensorStatus, RunRequest, RunStatusSensorContext, run_status_sensor

from orchestration.defs.cold.jobs import archive_job
from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.lib.partitions import partition_tags_of


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
