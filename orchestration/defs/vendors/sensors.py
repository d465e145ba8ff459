"""The daily pipeline follows each successful vendor landing, over the same days."""

from __future__ import annotations

from dagster import DagsterRunStatus, DefaultSensorStatus, RunRequest, RunStatusSensorContext, run_status_sensor

from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.defs.vendors.jobs import vendor_landing_job
from orchestration.lib.partitions import PARTITION_TAG, RANGE_END, RANGE_START


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[vendor_landing_job],
    request_job=daily_pipeline,
    default_status=DefaultSensorStatus.RUNNING,
    description="Load and build the day(s) a vendor_landing_job run just staged.",
)
def daily_pipeline_after_vendor_landing(context: RunStatusSensorContext) -> RunRequest | None:
    run = context.dagster_run
    tags = run.tags
    key = f"daily-after-{run.run_id}"
    if RANGE_START in tags and RANGE_END in tags:
        return RunRequest(run_key=key, tags={RANGE_START: tags[RANGE_START], RANGE_END: tags[RANGE_END]})
    if PARTITION_TAG in tags:
        return RunRequest(run_key=key, partition_key=tags[PARTITION_TAG])
    return None
