"""Catch-up after downtime: find the days the daily schedule missed and run each gap as one ranged run.

Only days with data to load are requested: landing files present (`daily_pipeline`), or files the
configured vendor source lists (`vendor_landing_job`, which chains into `daily_pipeline`). Days with
neither are reported in the sensor's skip reason and one log line (first and last day), never
launched as runs that fail. A gap whose run failed is requested again on a later tick: the run key
counts the earlier attempts, so a failure never spends the key for good.

Automatic: the sensor `catchup_missed_days` (on by default) once the daemon is back. By hand:
`tickwh catchup [--from D] [--to D] [--dry-run]` (`make catchup`, tickwh/catchup.py), which plans
with the same functions.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, DagsterRunStatus
from dagster._core.storage.tags import WILL_RETRY_TAG

from ingest.availability import describe_days, ranges, scan_landing
from ingest.settings import Settings
from orchestration.defs.marts.jobs import daily_pipeline
from orchestration.defs.vendors.jobs import vendor_landing_job
from orchestration.defs.vendors.resources import VendorSourceResource
from orchestration.lib.partitions import range_tags
from orchestration.lib.pools import WRITER_TAGS
from orchestration.lib.resources import LandingZoneResource

log = logging.getLogger(__name__)

CATCHUP_TAG = "tickwh/catchup"  # "<first>..<last>": finds earlier attempts at the same gap
# Hourly by default; tests that drive the daemon for a minute shorten it.
INTERVAL_S = Settings.from_env().catchup_interval_s


def utc_today() -> dt.date:
    # Partitions are UTC days; the local date is a day off for part of every day outside UTC.
    return dt.datetime.now(dt.UTC).date()


def missing_ranges(materialized: Iterable[str], first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of days in [first, last] that are not in `materialized` (partition keys)."""
    done = set(materialized)
    return ranges(
        first + dt.timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + dt.timedelta(days=i)).isoformat() not in done
    )


def gaps_since_last_load(instance: DagsterInstance, today: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Gaps between the first loaded day and yesterday; nothing before the first load (that is a backfill)."""
    done = instance.get_materialized_partitions(AssetKey("raw_trades"))
    if not done:
        return []
    first = min(dt.date.fromisoformat(k) for k in done)
    return missing_ranges(done, first, today - dt.timedelta(days=1))


def catchup_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {**range_tags(start, end), **WRITER_TAGS, CATCHUP_TAG: f"{start}..{end}"}


@dataclass
class CatchupPlan:
    load: list[tuple[dt.date, dt.date]] = field(default_factory=list)  # landed: daily_pipeline
    stage: list[tuple[dt.date, dt.date]] = field(default_factory=list)  # vendor lists them: vendor_landing_job
    no_data: list[dt.date] = field(default_factory=list)


def plan_catchup(
    gaps: Iterable[tuple[dt.date, dt.date]], landed: set[dt.date], listed: set[dt.date]
) -> CatchupPlan:
    missing = [a + dt.timedelta(days=i) for a, b in gaps for i in range((b - a).days + 1)]
    return CatchupPlan(
        load=ranges(d for d in missing if d in landed),
        stage=ranges(d for d in missing if d not in landed and d in listed),
        no_data=[d for d in missing if d not in landed and d not in listed],
    )


def next_attempt(instance: DagsterInstance, job_name: str, start: dt.date, end: dt.date) -> int | None:
    """How many runs this gap has had (the next run key's suffix), or None while one is still going."""
    runs = instance.get_runs(RunsFilter(job_name=job_name, tags={CATCHUP_TAG: f"{start}..{end}"}))
    for run in runs:
        if run.status in NOT_FINISHED_STATUSES:
            return None
    # The newest run failed and Dagster's retry of it has not been created yet.
    if runs and runs[0].status == DagsterRunStatus.FAILURE and runs[0].tags.get(WILL_RETRY_TAG) == "true":
        return None
    return len(runs)


def _vendor_days(vendor_source: VendorSourceResource, landing: LandingZoneResource) -> tuple[set[dt.date], str]:
    if not vendor_source.configured:
        return set(), "no vendor source configured"
    from ingest.vendors.source import vendor_trade_days

    try:
        return vendor_trade_days(vendor_source.to_source(), landing.path), f"not listed under {vendor_source.path}"
    except Exception as e:  # an unreachable vendor is reported, not fatal: landed days still run
        return set(), f"vendor source {vendor_source.path} not readable ({type(e).__name__}: {e})"


@sensor(
    jobs=[daily_pipeline, vendor_landing_job],
    minimum_interval_seconds=INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Backfill days the daily schedule missed (daemon down), one single run per gap with data.",
)
def catchup_missed_days(
    context: SensorEvaluationContext, landing: LandingZoneResource, vendor_source: VendorSourceResource
) -> SensorResult | SkipReason:
    today = utc_today()
    # Yesterday's partition is the schedule's own job; only older gaps are caught up here.
    cutoff = today - dt.timedelta(days=2)
    gaps = [(a, min(b, cutoff)) for a, b in gaps_since_last_load(context.instance, today) if a <= cutoff]
    if not gaps:
        return SkipReason("no missed days")
    listed, vendor_note = _vendor_days(vendor_source, landing)
    scan = scan_landing(landing.path, landing.books)
    plan = plan_catchup(gaps, scan.days, listed)

    refused = scan.describe_refused() if scan.refused else ""
    if refused and json.loads(context.cursor or "{}").get("refused") != refused:
        context.log.warning(f"catch-up: {refused}")  # once per change, like the days without data
    no_data = ""
    if plan.no_data:
        no_data = (f"no data for {describe_days(plan.no_data)}: no landing files (trades, and books where expected) "
                   f"under {landing.path}, {vendor_note}")
        # Once per change, not once an hour: the cursor remembers what was last reported.
        if json.loads(context.cursor or "{}").get("no_data") != no_data:
            context.log.info(f"catch-up skips {no_data}")
    requests, in_flight = [], []
    for job, spans in ((daily_pipeline, plan.load), (vendor_landing_job, plan.stage)):
        for a, b in spans:
            attempt = next_attempt(context.instance, job.name, a, b)
            if attempt is None:
                in_flight.append(f"{a}..{b}")
                continue
            requests.append(RunRequest(run_key=f"catchup-{job.name}-{a}-{b}-{attempt}", job_name=job.name,
                                       tags=catchup_tags(a, b)))
    cursor = json.dumps({"no_data": no_data, "refused": refused})
    if requests:
        return SensorResult(run_requests=requests, cursor=cursor)
    reason = "; ".join(filter(None, [no_data, in_flight and f"still running: {', '.join(in_flight)}", refused]))
    return SensorResult(skip_reason=SkipReason(reason or "no missed days"), cursor=cursor)
