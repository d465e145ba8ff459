"""Dagster's run logs in the project's one format (ingest/logs.py): a `console` logger for every job.

Without -v the console leaves out what machinery says about itself and the project says better
(`MACHINERY`): dagster-dbt's plumbing around each dbt command (the command's one summary line,
`DbtResource.events`, replaces it), and Dagster's "did not yield or return expected outputs" for an
optional check that chose not to evaluate (the check logs why, once). They stay in the run's event
log in the UI, and -v prints them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from dagster import Field, InitLoggerContext, logger

from ingest.logs import heartbeat, setup_logging, verbose

__all__ = ["console_logger", "console_run_config", "heartbeat", "setup_logging", "verbose"]


MACHINERY = (
    re.compile(r"^A dbt subsetted execution is not being performed"),
    re.compile(r"^Copying `.*partial_parse\.msgpack`"),
    re.compile(r"^(Running|Finished) dbt command: "),
)
_NOT_YIELDED = re.compile(r"^op '(?P<op>[\w.]+)' did not yield or return expected outputs")
# Checks that may end without a result on purpose (orchestration/lib/daily.py `optional_daily_check`).
OPTIONAL_CHECKS: set[str] = set()


def machinery(message: str) -> bool:
    """Is this a line the console shows only with -v (see the module docstring)?"""
    if any(p.search(message) for p in MACHINERY):
        return True
    m = _NOT_YIELDED.search(message)
    return bool(m and m.group("op") in OPTIONAL_CHECKS)


def _run_message(record: logging.LogRecord) -> str:
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict):
        return record.getMessage()
    where = " ".join(filter(None, [meta.get("job_name"), (meta.get("run_id") or "")[:8], meta.get("step_key")]))
    return f"{where}: {meta.get('orig_message', record.getMessage())}"


class _RunRecords(logging.Handler):
    """Hands a run's records to the `dagster` Python logger, in the one format."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.target = logging.getLogger("dagster.run")

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:  # a run worker: nothing configured yet
            setup_logging()
        meta = getattr(record, "dagster_meta", None)
        message = meta.get("orig_message") if isinstance(meta, dict) else None
        if isinstance(message, str) and machinery(message) and not verbose():
            return
        self.target.log(record.levelno, _run_message(record))


@logger(
    config_schema={"log_level": Field(str, is_required=False, default_value="INFO"),
                   "name": Field(str, is_required=False, default_value="dagster")},
    description="Run logs to stderr in the project's one format (UTC time, level, job run step: message).",
)
def console_logger(init_context: InitLoggerContext) -> logging.Logger:
    level = logging.getLevelName(init_context.logger_config["log_level"].upper())
    out = logging.Logger(init_context.logger_config["name"], level=level)
    out.addHandler(_RunRecords(level))
    return out


def console_run_config() -> dict[str, Any]:
    """Run config for a run started from a command (`execute_in_process`): the console at INFO, so
    Dagster's DEBUG event lines (step started, output handled, ...) show only with -v."""
    return {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose() else "INFO"}}}}
