"""Freshness checks: one `freshness` check per raw table and day-keyed mart, next to its quality checks.

The promises are declared once, in ingest/monitoring/freshness.py (`promises()`); this module turns
the daily ones into Dagster asset checks and evaluates them.

Why not `build_time_partition_freshness_checks` + `build_sensor_for_freshness_checks` (superseded in
Dagster 1.13) nor a bare `FreshnessPolicy` (Dagster's current API, attached below as well): neither
knows that a day without landing files cannot be late (the issue's "not evaluated"), nor that a
mart's clock starts when its raw day landed. So the checks are ordinary `multi_asset_check`s that
emit Dagster's own freshness metadata keys (`dagster/overdue_seconds`,
`dagster/overdue_deadline_timestamp`, `dagster/freshness_params`), and the sensor evaluates them in
its tick and records each result as a runless check evaluation when it changes: no run per tick,
and the UI shows the result beside the GE checks. "Execute" in the UI runs the same evaluation.

The hot tier (`hot_trades`, an external asset) has the same check, judged while the live path runs
by its lag behind the trade stream: the position its writers (hot_load runs, `tickwh hot-loader`)
publish against the send time of the oldest message it does not hold (ingest/monitoring/live.py).
With the live path off it is not evaluated (nothing recorded, an open incident clears).
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt
import json
from collections.abc import Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DefaultSensorStatus,
    FreshnessPolicy,
    SensorEvaluationContext,
    SkipReason,
    multi_asset_check,
    sensor,
)

from ingest.availability import landed_days
from ingest.monitoring import freshness as fr
from ingest.monitoring.alerts import Alert
from ingest.monitoring.live import HotTierState, read_hot_tier
from orchestration.defs.live.resources import HotTierResource, NatsResource
from orchestration.defs.monitoring.resources import AlertsResource
from orchestration.defs.monitoring.state import (
    FRESHNESS_CHECK,
    check_key,
    freshness_verdicts,
    hot_metadata,
    live_running,
    verdict_metadata,
)
from orchestration.lib.redaction import redacted
from orchestration.lib.resources import LandingZoneResource

UTC = dt.UTC


HOT = "hot_trades"


def _description(p: fr.Promise) -> str:
    if p.kind == fr.LIVE:
        return f"Freshness promise: {p.text}. Not evaluated while the live path is off or NATS is unreachable."
    return f"Freshness promise: {p.text}. A day without landing files is not evaluated (never late)."


freshness_checks_def = multi_asset_check(
    name="freshness_checks",
    specs=[
        AssetCheckSpec(FRESHNESS_CHECK, asset=AssetKey(p.asset), description=_description(p), blocking=False)
        for p in fr.promises()
    ],
    can_subset=True,
)


def hot_tier(context, nats: NatsResource, hot: HotTierResource) -> tuple[HotTierState, bool]:  # noqa: ANN001
    """The hot tier's state and whether the live path runs (so whether it is judged at all)."""
    return read_hot_tier(nats.url, nats.stream, hot.monitoring_dir, hot.target().describe(),
                         lambda published: live_running(context.instance, hot.live, hot.url, published))


def hot_result(state: HotTierState, running: bool, now: dt.datetime) -> AssetCheckResult:
    verdict = state.verdict(now, running)
    return AssetCheckResult(
        asset_key=AssetKey(HOT), check_name=FRESHNESS_CHECK, passed=not verdict.late,
        severity=AssetCheckSeverity.ERROR if verdict.late else AssetCheckSeverity.WARN,
        metadata=hot_metadata(state, verdict, now), description=verdict.one_line,
    )


@freshness_checks_def
@redacted
def freshness_checks(
    context: AssetCheckExecutionContext, landing: LandingZoneResource, nats: NatsResource, hot: HotTierResource
) -> Iterator[AssetCheckResult]:
    now = dt.datetime.now(UTC)
    verdicts = freshness_verdicts(context.instance, None, now, landed_days(landing.path, landing.books))
    for key in context.selected_asset_check_keys:
        asset = key.asset_key.path[-1]
        if asset == HOT:
            state, running = hot_tier(context, nats, hot)
            yield hot_result(state, running, now)
        else:
            yield result_for(asset, verdicts[asset], now)


def result_for(asset: str, verdicts: list[fr.Verdict], now: dt.datetime) -> AssetCheckResult:
    overall = fr.worst(verdicts)
    meta = verdict_metadata(asset, verdicts, now)
    late = [v for v in verdicts if v.late]
    if late:
        text = "; ".join(v.one_line for v in late)
    elif overall:
        text = overall.one_line
    else:
        text = "nothing to judge"
    return AssetCheckResult(
        asset_key=AssetKey(asset), check_name=FRESHNESS_CHECK, passed=not late,
        severity=AssetCheckSeverity.ERROR if late else AssetCheckSeverity.WARN,
        metadata=meta, description=text,
    )


def freshness_policies() -> dict[AssetKey, FreshnessPolicy]:
    """The same promises as Dagster FreshnessPolicies (its current API: the asset page's freshness
    badge, evaluated by Dagster itself). A cron deadline cannot say "30 min after raw", so marts get
    raw's deadline plus their 30 minutes; the checks above are the exact judgement."""
    out = {}
    for p in fr.daily_promises():
        due = p.due if p.kind == fr.DAILY else fr.RAW_DUE + p.due
        minutes = int(due.total_seconds() // 60)
        out[AssetKey(p.asset)] = FreshnessPolicy.cron(
            deadline_cron=f"{minutes % 60} {minutes // 60} * * *", lower_bound_delta=dt.timedelta(hours=24)
        )
    return out


def late_alerts(verdicts: dict[str, list[fr.Verdict]], ui_url: str) -> tuple[list[Alert], set[str]]:
    """Late days as incidents (`late:<asset>:<day>`), and the keys of days no longer late."""
    firing, fine = [], set()
    for asset, vs in verdicts.items():
        for v in vs:
            key = f"late:{asset}:{v.day}"
            if v.late:
                firing.append(Alert(key, "late", asset, str(v.day), v.detail, f"{ui_url}/assets/{asset}"))
            else:
                fine.add(key)
    return firing, fine


def hot_alert(state: HotTierState, running: bool, now: dt.datetime, ui_url: str) -> Alert | None:
    """A late hot tier as one incident, `late:hot_trades` (no day in the key: midnight is no new incident)."""
    verdict = state.verdict(now, running)
    if not verdict.late:
        return None
    return Alert(f"late:{HOT}", "late", HOT, now.date().isoformat(), verdict.detail, f"{ui_url}/assets/{HOT}")


def _report(context: SensorEvaluationContext, result: AssetCheckResult) -> None:
    context.instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=result.asset_key, check_name=FRESHNESS_CHECK, passed=result.passed,
            metadata=result.metadata, severity=result.severity, description=result.description,
        )
    )


@sensor(
    name="freshness_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Evaluates the freshness checks each minute (results recorded when they change; the hot "
    "tier's while the live path runs) and alerts once per late asset-day and late hot tier, with a "
    "recovery message when it clears (docs/operations.md).",
)
def freshness_sensor(
    context: SensorEvaluationContext, alerts: AlertsResource, landing: LandingZoneResource, nats: NatsResource,
    hot: HotTierResource,
) -> SkipReason:
    now = dt.datetime.now(UTC)
    verdicts = freshness_verdicts(context.instance, None, now, landed_days(landing.path, landing.books))
    previous = json.loads(context.cursor) if context.cursor else {}
    current = {}
    for asset, vs in verdicts.items():
        result = result_for(asset, vs, now)
        # What changes the UI's answer: pass/fail and which days are late (not the growing lateness).
        current[asset] = [result.passed, sorted(v.state + str(v.day) for v in vs if v.state != fr.FRESH)]
        if previous.get(asset) != current[asset]:
            _report(context, result)
    state, running = hot_tier(context, nats, hot)
    hot_now = hot_result(state, running, now)
    # The hot tier's answer changes with its state; with the live path off nothing is recorded,
    # unless an earlier (e.g. late) result would otherwise stay on the asset's page.
    hot_state = state.verdict(now, running).state
    current[HOT] = [hot_now.passed, hot_state]
    if previous.get(HOT) != current[HOT] and (running or HOT in previous):
        _report(context, hot_now)
    if not running and HOT not in previous:
        del current[HOT]
    context.update_cursor(json.dumps(current))
    # Every late incident this sensor ever opened and that is no longer late clears, including
    # days that left the lookback window and a hot tier whose live path was switched off.
    alerter = alerts.alerter()
    firing, _ = late_alerts(verdicts, alerts.ui_url)
    late_hot = hot_alert(state, running, now, alerts.ui_url)
    firing += [late_hot] if late_hot else []
    cleared = alerter.open_keys("late:") - {a.key for a in firing}
    outcome = alerter.update(firing, cleared)
    late = [f"{a.asset} {a.day}" for a in firing]
    hot_line = f"hot tier {hot_state} ({hot_now.description})" if running else "live path off"
    return SkipReason(f"late: {', '.join(late) if late else 'nothing'}; {hot_line}; alerts: {outcome.describe()}")


CHECK_KEYS = [check_key(p.asset) for p in fr.promises()]
