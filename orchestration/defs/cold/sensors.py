"""The archive follows each successful daily run, over the same days."""

from __future__ import annotations

from orchestration.defs.cold.jobs import archive_job
from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.lib.daily import after_success

archive_after_daily = after_success(
    "archive_after_daily", daily_pipeline, archive_job, "archive-after",
    "Archive the same days to the cold tier after each successful daily run.",
)
