"""`tickwh catchup`: run each missed gap with landing files in this process; list the days without data."""

from __future__ import annotations

import datetime as dt

from dagster import AssetKey

from ingest.availability import describe_days, scan_landing
from ingest.names import parse_day
from orchestration.defs.catchup.sensors import catchup_tags, missing_ranges, plan_catchup, utc_today
from orchestration.lib.logs import console_run_config
from orchestration.lib.resources import LandingZoneResource
from tickwh.home import instance, prepare_code_location


def run_catchup(first_arg: dt.date | str | None, last_arg: dt.date | str | None, dry_run: bool) -> int:
    """`tickwh catchup`: run each gap with landing files in this process; list the days without data."""
    defs = prepare_code_location()
    dagster = instance()
    done = dagster.get_materialized_partitions(AssetKey("raw_trades"))
    last = parse_day(last_arg) if last_arg else utc_today() - dt.timedelta(days=1)  # a date passes through
    landing = LandingZoneResource()
    scan = scan_landing(landing.path, landing.books)
    if scan.refused:
        print(f"warning: {scan.describe_refused()}")
    if first_arg:
        first = parse_day(first_arg)
    elif done:
        first = min(dt.date.fromisoformat(k) for k in done)
    elif scan.days:
        # A fresh home: nothing loaded yet, so the landing folder says where the data begins.
        first = min(scan.days)
    else:
        print(f"nothing loaded yet and no landing files under {landing.path}: nothing to catch up")
        return 0
    plan = plan_catchup(missing_ranges(done, first, last), scan.days, set())
    if plan.no_data:
        print(f"skipped: no landing files for {describe_days(plan.no_data)} under {landing.path}")
    if not plan.load:
        print(f"nothing to load between {first} and {last}")
        return 0
    job = defs.resolve_job_def("daily_pipeline")
    failed = 0
    for a, b in plan.load:
        print(f"{'would run' if dry_run else 'running'} daily_pipeline for {a}..{b} as one run")
        if not dry_run:
            result = job.execute_in_process(instance=dagster, tags=catchup_tags(a, b), raise_on_error=False,
                                            run_config=console_run_config())
            print(f"  run {result.run_id}: {'success' if result.success else 'FAILED'}")
            failed += not result.success
    return 1 if failed else 0
