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

from ingest.monitoring import freshness as fr
from ingest.monitoring.alerts import Alert, Alerter
from ingest.settings import Settings
from orchestration.defs.monitoring.state import FRESHNESS_CHECK, check_key, freshness_verdicts, verdict_metadata

UTC = dt.UTC


def _description(p: fr.Promise) -> str:
    return f"Freshness promise: {p.text}. A day without landing files is not evaluated (never late)."


freshness_checks_def = multi_asset_check(
    name="freshness_checks",
    specs=[
        AssetCheckSpec(FRESHNESS_CHECK, asset=AssetKey(p.asset), description=_description(p), blocking=False)
        for p in fr.daily_promises()
    ],
    can_subset=True,
)


@freshness_checks_def
def freshness_checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    now = dt.datetime.now(UTC)
    verdicts = freshness_verdicts(context.instance, Settings.from_env(), now)
    for key in context.selected_asset_check_keys:
        yield result_for(key.asset_key.path[-1], verdicts[key.asset_key.path[-1]], now)


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


@sensor(
    name="freshness_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Evaluates the freshness checks each minute (results recorded when they change) and "
    "alerts once per late asset-day, with a recovery message when it lands (docs/operations.md).",
)
def freshness_sensor(context: SensorEvaluationContext) -> SkipReason:
    settings = Settings.from_env()
    now = dt.datetime.now(UTC)
    verdicts = freshness_verdicts(context.instance, settings, now)
    previous = json.loads(context.cursor) if context.cursor else {}
    current = {}
    for asset, vs in verdicts.items():
        result = result_for(asset, vs, now)
        # What changes the UI's answer: pass/fail and which days are late (not the growing lateness).
        current[asset] = [result.passed, sorted(v.state + str(v.day) for v in vs if v.state != fr.FRESH)]
        if previous.get(asset) != current[asset]:
            context.instance.report_runless_asset_event(
                AssetCheckEvaluation(
                    asset_key=AssetKey(asset), check_name=FRESHNESS_CHECK, passed=result.passed,
                    metadata=result.metadata, severity=result.severity, description=result.description,
                )
            )
    context.update_cursor(json.dumps(current))
    # Every late-day incident this sensor ever opened and that is no longer late clears, including
    # days that left the lookback window.
    alerter = Alerter.from_settings(settings)
    firing, _ = late_alerts(verdicts, settings.ui_url)
    cleared = alerter.open_keys("late:") - {a.key for a in firing}
    outcome = alerter.update(firing, cleared)
    late = [f"{a.asset} {a.day}" for a in firing]
    return SkipReason(f"late: {', '.join(late) if late else 'nothing'}; alerts: {outcome.describe()}")


CHECK_KEYS = [check_key(p.asset) for p in fr.daily_promises()]
