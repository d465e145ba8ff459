"""What follows a successful daily run inside the marts feature: the rollups."""

from __future__ import annotations

from orchestration.defs.marts.jobs import daily_pipeline, rollups_job
from orchestration.lib.daily import after_success

rollups_after_daily = after_success(
    "rollups_after_daily", daily_pipeline, rollups_job, "rollups-after",
    "Refresh the rollups after each successful daily run.", over_same_days=False,
)
