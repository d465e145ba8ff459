"""Daily UTC partitions shared by every day-keyed asset."""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition, TimeWindow

from orchestration.settings import PARTITIONS_START

daily_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=0)


def days_in_window(window: TimeWindow) -> list[dt.date]:
    """The UTC days a (possibly multi-day) partition window covers, oldest first."""
    start = window.start.astimezone(dt.UTC).date()
    end = window.end.astimezone(dt.UTC).date()
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]
