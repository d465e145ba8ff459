"""`hot_tier_matches_warm`: the hot tier's day reconciled with the vendor file's day in raw.trades."""

# No `from __future__ import annotations`: Dagster inspects annotations at runtime.
import datetime as dt
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    RunsFilter,
)

from ingest.hot import day_bars
from ingest.hot.reconcile import reconcile, warm_window
from orchestration.defs.live.resources import HotTierResource
from orchestration.defs.raw.assets import raw_trades
from orchestration.lib.daily import optional_daily_check
from orchestration.lib.metadata import markdown_table, not_evaluated
from orchestration.lib.partitions import days_in_window
from orchestration.lib.resources import WarehouseResource


def _horizon(hot: HotTierResource, now: dt.datetime) -> dt.datetime | None:
    """Oldest minute the hot tier still fully holds, naive UTC; None when nothing expires by trade time."""
    if hot.ttl_basis != "event" or not hot.ttl_hours:
        return None
    # A 10-minute margin: rows close to the horizon may expire while we read.
    return (now - dt.timedelta(hours=hot.ttl_hours) + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)


def _live_path_off(context: AssetCheckExecutionContext, hot: HotTierResource) -> str | None:
    """Why the live path counts as off (the check then does not evaluate), or None when it runs."""
    if hot.live is not None:
        return None if hot.live else "TICKWH_LIVE is off"
    if hot.url:
        return None
    if context.instance.get_runs_count(RunsFilter(job_name="hot_load")):
        return None
    return "the live path is not running (no hot_load run on this instance; set TICKWH_LIVE=1 to force the check)"


@optional_daily_check(
    "hot_tier_matches_warm",
    raw_trades.key,
    (
        "The live hot tier's 1-minute bars, trade counts and volumes for the day equal those from the "
        "vendor file in raw.trades (minutes older than the hot retention are reported, not judged). A day "
        "wholly older than the retention is a WARN marked evaluated=false; with the live path off "
        "(TICKWH_LIVE, docs/live.md) the check does not evaluate at all (skipped)."
    ),
)
def hot_tier_matches_warm(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, hot: HotTierResource
) -> Iterator[AssetCheckResult]:
    off = _live_path_off(context, hot)
    if off:
        context.log.info(f"hot_tier_matches_warm not evaluated: {off}")
        return
    days = days_in_window(context.partition_time_window)
    since = _horizon(hot, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    # A day whose last minute is before the horizon: the hot tier no longer holds any of it.
    outside = [d for d in days if since is not None and _day_end(d) <= since]
    judged = [d for d in days if d not in outside]
    common = {
        "days_not_evaluated": MetadataValue.json([str(d) for d in outside]),
        "judged_since": MetadataValue.text(str(since) if since else "whole day"),
        "hot_tier": MetadataValue.text(hot.target().describe()),
    }
    if not judged:
        yield not_evaluated(
            f"{_days_text(outside)} lie wholly before the hot tier's retention horizon {since} "
            f"({hot.ttl_hours} h): the hot tier no longer holds them, 0 minutes compared", common,
        )
        return
    with warehouse.connect(read_only=True) as con:
        warm = warm_window(con, judged, since)
    with hot.open() as client:
        results = [reconcile(day, warm[day], day_bars(client, day), since) for day in judged]
    if not any(r.minutes_compared or r.only_warm or r.only_hot for r in results):
        yield not_evaluated(f"no trades on either side for {_days_text(judged)} since {since or 'midnight'}", common)
        return
    yield _reconciliation_result(results, outside, common)


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _days_text(days: list[dt.date]) -> str:
    return str(days[0]) if len(days) == 1 else f"{len(days)} days ({days[0]}..{days[-1]})"


def _reconciliation_result(results: list[Any], outside: list[dt.date], common: dict[str, Any]) -> AssetCheckResult:
    passed = all(r.ok for r in results)
    metadata: dict[str, Any] = {
        "evaluated": True,
        **common,
        "trades_warm": sum(r.warm_trades for r in results),
        "trades_hot": sum(r.hot_trades for r in results),
        "volume_warm": MetadataValue.text(str(sum(r.warm_volume for r in results))),
        "volume_hot": MetadataValue.text(str(sum(r.hot_volume for r in results))),
        "minutes_compared": sum(r.minutes_compared for r in results),
        "minutes_different": sum(r.minutes_different for r in results),
        "minutes_only_warm": sum(len(r.only_warm) for r in results),
        "minutes_only_hot": sum(len(r.only_hot) for r in results),
        "warm_trades_before_horizon": sum(r.outside_window_warm_trades for r in results),
        "per_symbol": MetadataValue.md(
            markdown_table(
                ["day", "symbol", "warm trades", "hot trades", "warm volume", "hot volume"],
                [
                    [r.day, key, v["warm_trades"], v["hot_trades"], v["warm_volume"], v["hot_volume"]]
                    for r in results
                    for key, v in sorted(r.per_symbol.items())
                ],
            )
        ),
    }
    examples = [e for r in results for e in r.examples][:20]
    if examples:
        metadata["differences"] = MetadataValue.json(examples)
    missing = [f"{k[0]}:{k[1]} {k[2]}" for r in results for k in r.only_warm][:20]
    if missing:
        metadata["first_minutes_only_warm"] = MetadataValue.json(missing)
    extra = [f"{k[0]}:{k[1]} {k[2]}" for r in results for k in r.only_hot][:20]
    if extra:
        metadata["first_minutes_only_hot"] = MetadataValue.json(extra)
    skipped = f"; not evaluated (older than the hot retention): {_days_text(outside)}" if outside else ""
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        metadata=metadata,
        description="; ".join(r.summary() for r in results) + skipped,
    )
