"""What the Dagster instance knows about the platform's health, read the same way by the sensors and
`tickwh status`: freshness verdicts per promise, the newest run of each job and day, failed checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    MetadataValue,
    RunsFilter,
)

from ingest.availability import landed_days
from ingest.books import BookExpectation
from ingest.monitoring import freshness as fr
from ingest.monitoring.live import HotTierState
from ingest.settings import Settings
from orchestration.lib.partitions import PARTITION_TAG, RANGE_END, RANGE_START

UTC = dt.UTC
FRESHNESS_CHECK = "freshness"
SEQ_RANGE_TAG = "tickwh/seq_range"
# Runs launched by our own monitoring (none today) and Dagster's internal ones are not incidents.
RUN_WINDOW = dt.timedelta(days=3)


def check_key(asset: str) -> AssetCheckKey:
    return AssetCheckKey(AssetKey(asset), FRESHNESS_CHECK)


def materialized_at(instance: DagsterInstance, asset: str, days: Iterable[dt.date]) -> dict[dt.date, dt.datetime]:
    """When each day's partition of `asset` was last materialized (days never materialized are absent)."""
    keys = [d.isoformat() for d in days]
    if not keys:
        return {}
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=keys), limit=len(keys) * 20
    )
    found: dict[dt.date, dt.datetime] = {}
    for record in result.records:
        day = dt.date.fromisoformat(record.partition_key) if record.partition_key else None
        if day is not None and day not in found:  # newest first
            found[day] = dt.datetime.fromtimestamp(record.timestamp, UTC)
    return found


def freshness_verdicts(
    instance: DagsterInstance, settings: Settings | None, now: dt.datetime | None = None,
    landed: set[dt.date] | None = None,
) -> dict[str, list[fr.Verdict]]:
    """Every daily promise judged over its days (fr.days_to_judge): asset -> verdicts, oldest day first.
    `landed` (the days with landing files) is read from `settings` when not given."""
    now = now or dt.datetime.now(UTC)
    if landed is None:
        settings = settings or Settings.from_env()
        landed = landed_days(settings.landing_root, BookExpectation.parse(settings.book_exchanges))
    out: dict[str, list[fr.Verdict]] = {}
    times: dict[str, dict[dt.date, dt.datetime]] = {}
    for p in fr.daily_promises():  # raw before marts: a mart reads its upstream's verdicts
        days = fr.days_to_judge(p, now, landed)
        times[p.asset] = materialized_at(instance, p.asset, days)
        verdicts = []
        for day in days:
            up = times.get(p.upstream, {}) if p.upstream else {}
            up_verdict = next((v for v in out.get(p.upstream or "", []) if v.day == day), None)
            verdicts.append(fr.judge(p, day, now, landed=day in landed, updated_at=times[p.asset].get(day),
                                     upstream_at=up.get(day), upstream_verdict=up_verdict))
        out[p.asset] = verdicts
    return out


def live_running(instance: DagsterInstance, live: bool | None, server_url: str | None, published: bool) -> bool:
    """Does the live path run? TICKWH_LIVE when set; unset: yes once the hot tier is a server, a
    hot_load run exists, or a writer published a hot tier position (the hot-loader: docs/live.md)."""
    if live is not None:
        return live
    return bool(server_url) or published or bool(instance.get_run_ids(RunsFilter(job_name="hot_load"), limit=1))


def hot_metadata(state: HotTierState, verdict: fr.Verdict, now: dt.datetime) -> dict[str, object]:
    """The hot tier check's metadata: the lag behind the stream, where the hot tier stands, who loaded it."""
    p = fr.promise("hot_trades")
    lag = state.lag_s(now)
    pos = state.position
    meta: dict[str, object] = {
        "promise": p.text,
        "state": verdict.state,
        "evaluated": verdict.state != fr.NOT_EVALUATED,
        "lag_s": None if lag is None else round(lag, 1),
        "lateness_s": round(verdict.lateness_s),
        "detail": verdict.detail,
        "hot_tier_holds_seq": state.landed,
        "stream_last_seq": state.feed.last_seq,
        "loaded_by": pos.writer if pos else "",
        "dagster/freshness_params": {"promise": p.text, "kind": p.kind, "due_s": p.due.total_seconds()},
    }
    if pos:
        meta["position_published_at"] = MetadataValue.timestamp(pos.committed_at)
    if verdict.late and verdict.due:
        meta["dagster/overdue_seconds"] = round(verdict.lateness_s)
        meta["dagster/overdue_deadline_timestamp"] = MetadataValue.timestamp(verdict.due)
    return meta


def verdict_metadata(asset: str, verdicts: list[fr.Verdict], now: dt.datetime) -> dict[str, object]:
    """The check's metadata: Dagster's own freshness keys (overdue seconds, deadline) plus the days."""
    p = fr.promise(asset)
    overall = fr.worst(verdicts)
    late = [v for v in verdicts if v.late]
    meta: dict[str, object] = {
        "promise": p.text,
        "state": overall.state if overall else fr.NOT_EVALUATED,
        "evaluated": bool(overall and overall.state not in (fr.NOT_EVALUATED,)),
        "late_days": [str(v.day) for v in late],
        "lateness_s": round(max((v.lateness_s for v in late), default=0.0)),
        "days": [{"day": str(v.day), "state": v.state, "due": f"{v.due:%Y-%m-%d %H:%M}Z" if v.due else "",
                  "lateness_s": round(v.lateness_s), "detail": v.detail} for v in verdicts],
        "dagster/freshness_params": {"promise": p.text, "kind": p.kind, "due_s": p.due.total_seconds()},
    }
    if late:
        meta["dagster/overdue_seconds"] = round(max(v.lateness_s for v in late))
        meta["dagster/overdue_deadline_timestamp"] = MetadataValue.timestamp(min(v.due for v in late if v.due))
    return meta


@dataclass(frozen=True)
class RunOutcome:
    key: str  # job and days: one incident per job-day, whatever the retries
    job: str
    days: str
    run_id: str
    status: DagsterRunStatus
    failure: str
    updated_at: dt.datetime


def run_days(tags: Mapping[str, str]) -> str:
    if RANGE_START in tags and RANGE_END in tags:
        return f"{tags[RANGE_START]}..{tags[RANGE_END]}" if tags[RANGE_START] != tags[RANGE_END] else tags[RANGE_START]
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    return tags.get(SEQ_RANGE_TAG, "")


def latest_runs(instance: DagsterInstance, now: dt.datetime | None = None) -> dict[str, RunOutcome]:
    """The newest finished run of each (job, days) in the last few days: its result is the job-day's state."""
    now = now or dt.datetime.now(UTC)
    records = instance.get_run_records(
        RunsFilter(
            statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
            updated_after=now - RUN_WINDOW,
        ),
        limit=1000,
    )
    out: dict[str, RunOutcome] = {}
    for rec in records:  # newest first
        run = rec.dagster_run
        days = run_days(run.tags)
        key = f"{run.job_name}:{days}" if days else run.job_name
        if key in out:
            continue
        failure = ""
        if run.status == DagsterRunStatus.FAILURE:
            failure = run_failure_line(instance, run.run_id)
        updated = rec.end_time or rec.update_timestamp.timestamp()
        out[key] = RunOutcome(key, run.job_name, days, run.run_id, run.status, failure,
                              dt.datetime.fromtimestamp(updated, UTC))
    return out


def run_failure_line(instance: DagsterInstance, run_id: str) -> str:
    """The first step failure's message (or the run's), which is what an operator needs to read first."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}, limit=10
    ).records
    for rec in records:
        event = rec.event_log_entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None:
            first = error.message.strip().splitlines()[0] if error.message else error.cls_name or "failed"
            # Dagster's own `Failure` carries the message the step wrote: its class name is noise.
            first = first.removeprefix("dagster._core.definitions.events.Failure: ")
            return f"{event.step_key or 'run'}: {first}"
        if rec.event_log_entry.message:
            return rec.event_log_entry.message
    return "run failed"


@dataclass(frozen=True)
class CheckOutcome:
    key: str
    asset: str
    check: str
    day: str
    run_id: str
    passed: bool
    summary: str


def blocking_check_outcomes(instance: DagsterInstance, check_keys: Iterable[AssetCheckKey]) -> dict[str, CheckOutcome]:
    """The newest result of each blocking check per partition (or unpartitioned), from the event log."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    out: dict[str, CheckOutcome] = {}
    for ck in check_keys:
        records = instance.event_log_storage.get_asset_check_execution_history(ck, limit=50)
        for rec in records:  # newest first
            if rec.status not in (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED):
                continue
            evaluation = rec.event.asset_check_evaluation if rec.event else None
            if evaluation is None:
                continue
            day = getattr(rec, "partition", None) or evaluation.partition or ""
            key = f"{ck.asset_key.to_user_string()}:{ck.name}:{day}"
            if key in out:
                continue
            severity = getattr(evaluation.severity, "value", "ERROR")
            passed = bool(evaluation.passed) or severity != "ERROR"
            summary = evaluation.description or ("passed" if passed else "failed")
            out[key] = CheckOutcome(key, ck.asset_key.to_user_string(), ck.name, day, rec.run_id, passed, summary)
    return out
