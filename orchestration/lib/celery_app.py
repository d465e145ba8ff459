"""The Celery app a worker runs (`celery -A orchestration.lib.celery_app worker`, or `tickwh worker`).

dagster-celery's own `dagster_celery.app` reads its broker from a generated config module; this app is
built from the same settings as the executor (`execution.celery_config_source`), so the workers and the
runs agree on the broker, the backend, the queue and the delivery rules by construction. The task it
registers is dagster-celery's: a step runs through `execute_plan_iterator` in the worker process, loading
the code location (orchestration.definitions) with the worker's own environment ($TICKWH_HOME, lake,
landing). Its engine event records the worker's name ("Celery worker") for each step.
"""

from __future__ import annotations

from celery import Celery
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from ingest.settings import Settings
from orchestration.lib.execution import celery_config_source


def build_app(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    return make_app({"broker": settings.celery_broker, "backend": settings.celery_backend,
                     "config_source": celery_config_source(settings), "include": []})


app = build_app()
execute_plan = create_task(app)
