"""`tickwh status`: the platform's health on one screen, and an exit status for cron or a health check.

Per dataset and tier: the newest complete day, freshness against its promise, the last run of its
job and that run's result; the live path's lag. Exit 1 when something is late or the newest run
of a job-day failed, 0 otherwise (days without landing files and promises not yet due are fine).
Read from the Dagster instance ($DAGSTER_HOME), the landing folder and NATS; never from the lake
or the hot tier, so a status probe cannot wait on a writer's lock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

UTC = dt.UTC


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tickwh status", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("--no-live", action="store_true", help="do not probe NATS for the live path")
    args = parser.parse_args(argv)

    from dagster import DagsterInstance, DagsterRunStatus

    from ingest.monitoring import freshness as fr
    from ingest.monitoring.live import read_feed
    from ingest.settings import Settings
    from orchestration.defs.monitoring.state import freshness_verdicts, latest_runs

    settings = Settings.from_env()
    now = dt.datetime.now(UTC)
    instance = DagsterInstance.from_config(str(settings.dagster_home)) if settings.dagster_home.is_dir() \
        else DagsterInstance.ephemeral()
    with instance:
        verdicts = freshness_verdicts(instance, settings, now)
        runs = latest_runs(instance, now)
        newest_days = {p.asset: _newest_day(instance, p.asset) for p in fr.daily_promises()}
        hot_runs = [r for r in runs.values() if r.job == "hot_load"]
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
        landed = max((int(r.days.split("-")[1]) for r in hot_runs
                      if r.status == DagsterRunStatus.SUCCESS and "-" in r.days), default=None)
        feed = read_feed(settings.nats_url)
        age, lag = feed.age_s(now), feed.hot_lag_s(now, landed)
        live_on = settings.live if settings.live is not None else bool(hot_runs)
        live = {"state": "on" if live_on else "off", "nats": "reachable" if feed.reachable else feed.error,
                "feed_last_publish_s": None if age is None else round(age, 1),
                "hot_lag_s": None if lag is None else round(lag, 1)}
        verdict = fr.judge_live(fr.promise("hot_trades"), now,
                                None if lag is None else now - dt.timedelta(seconds=lag), live_on and feed.reachable)
        if live_on and feed.reachable and landed is None:
            # Loaded outside Dagster (`tickwh hot-loader`): its lag is on its /metrics, not here.
            verdict = fr.Verdict("hot_trades", None, fr.NOT_EVALUATED, None, 0.0,
                                 "no hot_load run on this instance (a tickwh hot-loader reports on /metrics)")
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
