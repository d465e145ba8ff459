"""When vendor files are staged by themselves."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from orchestration.defs.vendors.jobs import vendor_landing_job

# Tardis publishes day D around 06:00 UTC on D+1, Binance's daily archives during D+1 as well.
# Off by default: turn it on (and daily_schedule off) when a vendor feeds the platform.
vendor_landing_schedule = build_schedule_from_partitioned_job(
    vendor_landing_job, hour_of_day=7, minute_of_hour=0, default_status=DefaultScheduleStatus.STOPPED
)
