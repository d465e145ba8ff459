"""Catch-up after downtime: find the days the daily schedule missed and run each gap as one ranged run.

Automatic: the sensor `catchup_missed_days` (on by default) requests one run per gap once the daemon
is back. By hand: `python -m orchestration.catchup [--from D] [--to D] [--dry-run]` (`make catchup`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Iterable

from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from ingest.names import parse_day
from orchestration.jobs import WRITER_TAGS, daily_pipeline
from orchestration.partitions import range_tags

log = logging.getLogger(__name__)


def missing_ranges(materialized: Iterable[str], first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of days in [first, last] that are not in `materialized` (partition keys)."""
    done = set(materialized)
    gaps: list[tuple[dt.date, dt.date]] = []
    day = first
    while day <= last:
        if day.isoformat() not in done:
            start = day
            while day + dt.timedelta(days=1) <= last and (day + dt.timedelta(days=1)).isoformat() not in done:
                day += dt.timedelta(days=1)
            gaps.append((start, day))
        day += dt.timedelta(days=1)
    return gaps


def gaps_since_last_load(instance: DagsterInstance, today: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Gaps between the first loaded day and yesterday; nothing before the first load (that is a backfill)."""
    done = instance.get_materialized_partitions(AssetKey("raw_trades"))
    if not done:
        return []
    first = min(dt.date.fromisoformat(k) for k in done)
    return missing_ranges(done, first, today - dt.timedelta(days=1))


def catchup_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {**range_tags(start, end), **WRITER_TAGS}


@sensor(
    job=daily_pipeline,
    minimum_interval_seconds=3600,
    default_status=DefaultSensorStatus.RUNNING,
    description="Backfill days the daily schedule missed (daemon down), one single run per gap.",
)
def catchup_missed_days(context: SensorEvaluationContext):
    # Yesterday's partition is the schedule's own job; only older gaps are caught up here.
    gaps = [
        (a, min(b, dt.date.today() - dt.timedelta(days=2)))
        for a, b in gaps_since_last_load(context.instance, dt.date.today())
        if a <= dt.date.today() - dt.timedelta(days=2)
    ]
    if not gaps:
        return SkipReason("no missed days")
    return [RunRequest(run_key=f"catchup-{a}-{b}", tags=catchup_tags(a, b)) for a, b in gaps]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="first", help="first day (default: first loaded day)")
    parser.add_argument("--to", dest="last", help="last day (default: yesterday)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from orchestration.definitions import defs

    instance = DagsterInstance.get()
    done = instance.get_materialized_partitions(AssetKey("raw_trades"))
    last = parse_day(args.last) if args.last else dt.date.today() - dt.timedelta(days=1)
    if args.first:
        first = parse_day(args.first)
    elif done:
        first = min(dt.date.fromisoformat(k) for k in done)
    else:
        parser.error("nothing loaded yet: pass --from")
    gaps = missing_ranges(done, first, last)
    if not gaps:
        print(f"nothing missing between {first} and {last}")
        return
    job = defs.resolve_job_def("daily_pipeline")
    for a, b in gaps:
        print(f"{'would run' if args.dry_run else 'running'} daily_pipeline for {a}..{b} as one run")
        if not args.dry_run:
            result = job.execute_in_process(instance=instance, tags=catchup_tags(a, b), raise_on_error=False)
            print(f"  run {result.run_id}: {'success' if result.success else 'FAILED'}")


if __name__ == "__main__":
    main()
