"""Daily UTC partitions shared by every day-keyed asset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dagster import DailyPartitionsDefinition, TimeWindow

from ingest.settings import Settings

# Run tags Dagster reads to know which days a run covers: one partition, or a range in one run.
PARTITION_TAG = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

# The first day a backfill can reach. Fixed at import: Dagster needs a static partitions set.
daily_partitions = DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start, timezone="UTC", end_offset=0
)


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Tags that make one run cover the days first..last (inclusive)."""
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}


def partition_tags_of(run_tags: Mapping[str, str]) -> dict[str, str]:
    """The partition or range tags of a finished run, to request a follow-up run over the same days."""
    return {k: v for k, v in run_tags.items() if k in (PARTITION_TAG, RANGE_START, RANGE_END)}


def days_in_window(window: TimeWindow) -> list[dt.date]:
    """The UTC days a (possibly multi-day) partition window covers, oldest first."""
    start = window.start.astimezone(dt.UTC).date()
    end = window.end.astimezone(dt.UTC).date()
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]
