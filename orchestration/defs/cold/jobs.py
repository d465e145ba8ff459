"""The archive job: the day's tables to the cold tier, then warm retention."""

from __future__ import annotations

from orchestration.defs.cold.assets import cold_archive, warm_retention
from orchestration.lib.daily import daily_job

archive_job = daily_job(
    "archive", [cold_archive, warm_retention],
    "Archive the day's raw ticks and bars to Parquet on S3, then drop expired warm days.",
)
