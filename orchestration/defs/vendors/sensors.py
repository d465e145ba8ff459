"""The daily pipeline follows each successful vendor landing, over the same days."""

from __future__ import annotations

from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.defs.vendors.jobs import vendor_landing_job
from orchestration.lib.daily import after_success

daily_pipeline_after_vendor_landing = after_success(
    "daily_pipeline_after_vendor_landing", vendor_landing_job, daily_pipeline, "daily-after",
    "Load and build the day(s) a vendor_landing_job run just staged.",
)
