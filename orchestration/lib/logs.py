"""Dagster's run logs in the project's one format (ingest/logs.py): a `console` logger for every job."""

from __future__ import annotations

import logging

from dagster import Field, InitLoggerContext, logger

from ingest.logs import heartbeat, setup_logging, verbose

__all__ = ["console_logger", "heartbeat", "setup_logging", "verbose"]


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
