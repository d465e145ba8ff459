"""`tickwh status`: the platform's health on one screen, and an exit status for cron or a health check.

Per dataset and tier: the newest complete day, freshness against its promise, the last run of its
job and that run's result; the live path's lag. Exit 1 when something is late or the newest run
of a job-day failed, 0 otherwise (days without landing files and promises not yet due are fine).
Read from the Dagster instance ($DAGSTER_HOME), the landing folder, NATS and the stream position the
hot tier's writer publishes (ingest/hot/position.py); never from the lake or the hot tier, so a
status probe cannot wait on a writer's lock.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence

from ingest.args import Parser

UTC = dt.UTC


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="tickwh status", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("--no-live", action="store_true", help="do not probe NATS for the live path")
    args = parser.parse_args(argv)

    from dagster import DagsterInstance, DagsterRunStatus

    from ingest.hot import HotTarget
    from ingest.hot import position as hot_position
    from ingest.monitoring import freshness as fr
    from ingest.monitoring.live import read_hot_tier
    from ingest.settings import Settings
    from orchestration.defs.monitoring.state import freshness_verdicts, latest_runs, live_running

    settings = Settings.from_env()
    now = dt.datetime.now(UTC)
    instance = DagsterInstance.from_config(str(settings.dagster_home)) if settings.dagster_home.is_dir() \
        else DagsterInstance.ephemeral()
    with instance:
        verdicts = freshness_verdicts(instance, settings, now)
        runs = latest_runs(instance, now)
        newest_days = {p.asset: _newest_day(instance, p.asset) for p in fr.daily_promises()}
        hot_runs = [r for r in runs.values() if r.job == "hot_load"]
        # The hot tier as the freshness sensor judges it: by the position its writer published.
        target = HotTarget(url=settings.clickhouse_url, path=settings.chdb_path).describe()
        published = hot_position.read(settings.monitoring_dir, target, "TRADES") is not None
        live_on = live_running(instance, settings.live, settings.clickhouse_url, published)
    rows, problems = [], []
    for p in fr.daily_promises():
        vs = verdicts[p.asset]
        overall = fr.worst(vs)
        job_runs = [r for r in runs.values() if r.job == "daily_pipeline"]
        last = max(job_runs, key=lambda r: r.updated_at, default=None)
        late = [v for v in vs if v.late]
        rows.append({
            "dataset": p.dataset, "tier": p.tier, "asset": p.asset,
            "newest_day": str(newest_days[p.asset] or "-"),
            "freshness": overall.state if overall else "-",
            "detail": "; ".join(v.one_line for v in late) if late else (overall.detail if overall else ""),
            "last_run": f"{last.job} {last.days} {last.status.value}" if last else "-",
        })
        problems += [f"late: {v.one_line}" for v in late]
    failed = [r for r in runs.values() if r.status == DagsterRunStatus.FAILURE]
    problems += [f"failed run: {r.job} {r.days}: {r.failure}" for r in failed]
    live = {"state": "not probed"}
    if not args.no_live:
        hot, _ = read_hot_tier(settings.nats_url, "TRADES", str(settings.monitoring_dir), target)  # always probed
        feed = hot.feed
        age, lag = feed.age_s(now), hot.lag_s(now)
        live = {"state": "on" if live_on else "off", "nats": "reachable" if feed.reachable else feed.error,
                "feed_last_publish_s": None if age is None else round(age, 1),
                "hot_lag_s": None if lag is None else round(lag, 1),
                "hot_loaded_by": hot.position.writer if hot.position else "-"}
        verdict = hot.verdict(now, live_on)
        rows.append({"dataset": "trades", "tier": "hot", "asset": "hot_trades", "newest_day": "-",
                     "freshness": verdict.state, "detail": verdict.detail,
                     "last_run": _describe_last(hot_runs)})
        if live_on and (not feed.reachable or (age is not None and age > settings.feed_stall_s)):
            problems.append(f"live feed stalled: {feed.error or f'last publish {age:.0f} s ago'}")
        if verdict.late:
            problems.append(f"late: {verdict.one_line}")
    if args.json:
        print(json.dumps({"ok": not problems, "rows": rows, "live": live, "problems": problems}, default=str))
    else:
        _print(rows, live, problems)
    return 1 if problems else 0


def _newest_day(instance, asset: str) -> dt.date | None:  # noqa: ANN001 - a DagsterInstance
    """The newest day whose partition is materialized: the newest complete day of the dataset."""
    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=200).records
    days = [dt.date.fromisoformat(r.partition_key) for r in records if r.partition_key]
    return max(days, default=None)


def _describe_last(runs: list) -> str:
    last = max(runs, key=lambda r: r.updated_at, default=None)
    return f"{last.job} {last.days} {last.status.value}" if last else "-"


def _print(rows: list[dict], live: dict, problems: list[str]) -> None:
    cols = ("dataset", "tier", "newest_day", "freshness", "last_run", "detail")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols[:-1]}
    print("  ".join(c.ljust(widths.get(c, 0)) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths.get(c, 0)) for c in cols).rstrip())
    print()
    print("live path: " + ", ".join(f"{k} {v}" for k, v in live.items()))
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stdout)
        for line in problems:
            print(f"  {line}")
    else:
        print("\nok: nothing late, no failed run")
