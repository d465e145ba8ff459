"""Where a run's steps execute: in the launching process (one machine, the default) or as Celery tasks.

TICKWH_EXECUTOR=celery makes every job of the code location use dagster-celery's `celery_executor`: the
run's process submits each step to the broker (TICKWH_CELERY_BROKER) and Celery workers on any machine
(`tickwh worker`) execute them, each with its own $TICKWH_HOME; results come back through the result
backend (TICKWH_CELERY_BACKEND). Switching is configuration only (docs/deploy.md).

The Celery settings below are the executor's and the worker's alike (`celery_app.py` builds the worker's
app from the same function), so both ends agree on queues and delivery:
- `task_acks_late` + `task_reject_on_worker_lost`: a step's message is acknowledged when the step ends,
  so a worker process killed mid-step puts it back on the queue (at once when the worker's pool child
  dies, after the visibility timeout when the whole machine is gone) and another worker runs it.
- `visibility_timeout`: must exceed the longest step, or a long step is delivered twice.
- the broker's and the result backend's connection retries: a restarted broker is waited for (publishing,
  consuming, polling and storing results), not a failed run.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import ExecutorDefinition, in_process_executor

from ingest.settings import Settings

QUEUE = "dagster"


def celery_config_source(settings: Settings) -> dict[str, Any]:
    """The Celery app's settings shared by the executor (producer) and the workers (consumers)."""
    transport = {
        "visibility_timeout": settings.celery_visibility_timeout_s,
        # The sweep that gives a dead worker's unacknowledged steps back runs every second, so a step comes
        # back right after its visibility timeout (the default sweeps every 100 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        # Publishing waits for a restarted broker (dagster-celery's default gives up after 3 tries in 1 s).
        "max_retries": 60,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 2,
    }
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"retry_policy": {"max_retries": 60, "interval_max": 2}},
        # Reading a step's result (the run's process polls it) and storing it (the worker) retry a lost backend
        # connection instead of raising: without this a broker restart fails the run at its next poll.
        "result_backend_always_retry": True,
        "result_backend_max_retries": 40,
        "result_backend_base_sleep_between_retries_ms": 200,
        "result_backend_max_sleep_between_retries_ms": 2000,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker keeps reconnecting to a restarted broker
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": QUEUE,
    }


def _from_env_or(var: str, value: str) -> Any:
    """A URL that may hold a password: read from the variable by Dagster when set, never stored in a run."""
    return {"env": var} if os.environ.get(var) else value


def executor_from_settings(settings: Settings) -> ExecutorDefinition:
    """The code location's executor (orchestration/definitions.py): in-process unless TICKWH_EXECUTOR=celery."""
    if settings.executor == "in_process":
        return in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": _from_env_or("TICKWH_CELERY_BROKER", settings.celery_broker),
            "backend": _from_env_or("TICKWH_CELERY_BACKEND", settings.celery_backend),
            "config_source": celery_config_source(settings),
        },
        name="celery",
    )
