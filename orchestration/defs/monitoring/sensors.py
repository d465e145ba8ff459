"""The alert sensor: failed runs, failed blocking checks and a stalled live feed, one message per incident.

Why one reconciling sensor instead of `@run_failure_sensor`: a run-failure sensor fires per failed
run, so a job-day that fails, is retried and fails again would page twice, and nothing would ever
say it recovered. Here each tick reads the newest result of each job-day, each blocking check's
partition and the feed, and `ingest.monitoring.alerts.Alerter` turns those states into messages:
one when an incident opens, one when it clears, none in between (its store is durable).
"""

# No `from __future__ import annotations`: Dagster inspects the resource annotations at runtime.
import datetime as dt

from dagster import DagsterRunStatus, DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from ingest.hot import position as hot_position
from ingest.monitoring.alerts import Alert
from ingest.monitoring.live import read_feed
from orchestration.defs.live.resources import HotTierResource, NatsResource
from orchestration.defs.monitoring.resources import AlertsResource
from orchestration.defs.monitoring.state import blocking_check_outcomes, latest_runs, live_running

UTC = dt.UTC
FEED_STREAM = "TRADES"


def run_alerts(context: SensorEvaluationContext, ui_url: str) -> tuple[list[Alert], set[str]]:
    firing, cleared = [], set()
    for outcome in latest_runs(context.instance).values():
        key = f"run:{outcome.key}"
        if outcome.status == DagsterRunStatus.FAILURE:
            firing.append(Alert(key, "run_failed", outcome.job, outcome.days, outcome.failure,
                                f"{ui_url}/runs/{outcome.run_id}"))
        else:
            cleared.add(key)
    return firing, cleared


def check_alerts(context: SensorEvaluationContext, ui_url: str) -> tuple[list[Alert], set[str]]:
    graph = context.repository_def.asset_graph
    blocking = [k for k in graph.asset_check_keys if graph.get_check_spec(k).blocking]
    firing, cleared = [], set()
    for outcome in blocking_check_outcomes(context.instance, blocking).values():
        key = f"check:{outcome.key}"
        if outcome.passed:
            cleared.add(key)
        else:
            firing.append(Alert(key, "check_failed", f"{outcome.asset} ({outcome.check})", outcome.day,
                                outcome.summary, f"{ui_url}/runs/{outcome.run_id}"))
    return firing, cleared


def feed_alerts(nats_url: str, stall_s: float, ui_url: str) -> tuple[list[Alert], set[str], str]:
    key = f"feed:{FEED_STREAM}"
    state = read_feed(nats_url, FEED_STREAM)
    now = dt.datetime.now(UTC)
    age = state.age_s(now)
    url = f"{ui_url}/automation"
    if not state.reachable:
        line = f"NATS unreachable: {state.error}"
    elif age is None:
        line = state.error or "the stream holds no message yet"
    elif age > stall_s:
        line = (f"no trade published for {age:.0f} s (limit {stall_s:.0f} s), "
                f"last stream seq {state.last_seq}")
    else:
        return [], {key}, f"feed: last publish {age:.1f} s ago"
    return [Alert(key, "feed_stalled", f"live feed ({FEED_STREAM})", now.date().isoformat(), line, url)], set(), line


@sensor(
    name="health_alerts",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="One alert per failed run (job-day), failed blocking check and stalled live feed, one "
    "recovery when it clears; channels from the `alerts` resource, TICKWH_ALERT_* (docs/operations.md).",
)
def health_alerts(
    context: SensorEvaluationContext, alerts: AlertsResource, nats: NatsResource, hot: HotTierResource
) -> SkipReason:
    alerter = alerts.alerter()
    firing, cleared = run_alerts(context, alerts.ui_url)
    f2, c2 = check_alerts(context, alerts.ui_url)
    firing, cleared = firing + f2, cleared | c2
    feed = "live path off"
    published = hot_position.read(hot.monitoring_dir, hot.target().describe(), nats.stream) is not None
    if live_running(context.instance, hot.live, hot.url, published):
        f3, c3, feed = feed_alerts(nats.url, alerts.feed_stall_s, alerts.ui_url)
        firing, cleared = firing + f3, cleared | c3
    else:
        cleared |= alerter.open_keys("feed:")  # the live path was switched off: nothing is stalled
    outcome = alerter.update(firing, cleared)
    return SkipReason(f"{len(firing)} open incident(s); {feed}; alerts: {outcome.describe()}")
