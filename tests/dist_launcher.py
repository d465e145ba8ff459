"""The launching process of a distributed test run: `python -m tests.dist_launcher <first-day> <last-day>`.

It runs `daily_pipeline` over the days as one run with the code location's executor (TICKWH_EXECUTOR=celery:
each step a Celery task on some worker) against the instance in DAGSTER_HOME, through a reconstructable job
(the workers load the same code location by module name). Prints as JSON the run id, its
success, the Celery worker of each step (dagster-celery's engine event) and each failed step's message.
"""

from __future__ import annotations

import datetime as dt
import json
import sys


def main(argv: list[str]) -> int:
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from orchestration.lib.partitions import range_tags

    first, last = dt.date.fromisoformat(argv[0]), dt.date.fromisoformat(argv[1])
    job = ReconstructableRepository.for_module("orchestration.definitions", "defs").get_reconstructable_job(
        "daily_pipeline")
    with DagsterInstance.get() as instance, execute_job(job, instance, tags=range_tags(first, last),
                                                        raise_on_error=False) as result:
        workers: dict[str, list[str]] = {}
        failures: dict[str, str] = {}
        retries: dict[str, int] = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or not record.step_key:
                continue
            data = event.engine_event_data if event.is_engine_event else None
            if data is not None and "Celery worker" in data.metadata:
                workers.setdefault(record.step_key, []).append(str(data.metadata["Celery worker"].value))
            if event.event_type_value == "STEP_UP_FOR_RETRY":
                retries[record.step_key] = retries.get(record.step_key, 0) + 1
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                failures[record.step_key] = event.step_failure_data.error.message
        print(json.dumps({"run_id": result.run_id, "success": result.success, "workers": workers,
                          "retries": retries, "failures": failures}))
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
