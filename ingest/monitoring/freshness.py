"""Freshness promises: declared once, here, for every raw table, mart and the hot tier.

`promises()` is the one table (docs/operations.md prints it). The Dagster checks
(orchestration/defs/monitoring/freshness.py), the alert sensor and `tickwh status` all judge
against it with `judge`, so the UI, the alerts and the health view cannot disagree.

Plain Python: `judge` takes what the caller read (when a day's partition was last materialized,
whether its landing files are there) and returns a verdict; it reads nothing itself.

Why "not evaluated" exists: a day whose vendor files have not landed cannot be loaded by anyone,
so calling it late would page an operator for the vendor's schedule. It is shown, never alerted.
Why "blocked": a mart whose raw day is late is late *because of* the raw day; one alert (the raw
table's) names the cause, instead of one per mart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from ingest.datasets import DATASETS

UTC = dt.UTC

DAILY = "daily"  # day D due at D+1 00:00 UTC + `due`
AFTER_UPSTREAM = "after_upstream"  # day D due `due` after `upstream` landed day D
LIVE = "live"  # the newest row at most `due` old, while the live path runs

# Verdict states, worst last.
FRESH = "fresh"
PENDING = "pending"  # not due yet
NOT_EVALUATED = "not_evaluated"  # no landing files for the day: nobody could load it
BLOCKED = "blocked"  # waiting on a late upstream (that one alerts)
LATE = "late"
STATES = (FRESH, PENDING, NOT_EVALUATED, BLOCKED, LATE)


@dataclass(frozen=True)
class Promise:
    asset: str  # the Dagster asset key (one part)
    dataset: str  # what `tickwh status` calls it
    tier: str  # warm or hot
    kind: str  # DAILY, AFTER_UPSTREAM or LIVE
    due: dt.timedelta
    upstream: str | None = None

    @property
    def text(self) -> str:
        """The promise in words, for the UI's check description and the docs' table."""
        minutes = int(self.due.total_seconds() // 60)
        if self.kind == DAILY:
            clock = (dt.datetime(2000, 1, 1) + self.due).strftime("%H:%M")
            return f"day D loaded by D+1 {clock} UTC"
        if self.kind == AFTER_UPSTREAM:
            return f"day D built within {minutes} min of {self.upstream} loading day D"
        return (f"at most {int(self.due.total_seconds())} s behind the trade stream (its oldest message not "
                "loaded yet was sent at most that long ago), while the live path runs")


RAW_DUE = dt.timedelta(hours=2)
MART_DUE = dt.timedelta(minutes=30)
HOT_DUE = dt.timedelta(minutes=2)


def day_marts() -> tuple[str, ...]:
    """The day-keyed marts daily_pipeline builds after raw_trades: every mart dbt partitions by day
    (ingest/marts.py reads them from the manifest, so a new mart gets its promise without an edit here)."""
    from ingest.marts import marts

    return tuple(m.name for m in marts() if m.window_column)


@lru_cache(maxsize=1)
def promises() -> tuple[Promise, ...]:
    """The table: every promise of the platform, in the order `tickwh status` prints them."""
    return (
        *(Promise(d.asset, d.name, "warm", DAILY, RAW_DUE) for d in DATASETS),
        *(Promise(m, m, "warm", AFTER_UPSTREAM, MART_DUE, upstream="raw_trades") for m in day_marts()),
        # The hot tier, loaded by hot_load runs or the long-lived `tickwh hot-loader`: judged (by the
        # freshness sensor and `tickwh status`) from the stream position its writers publish.
        Promise("hot_trades", "trades", "hot", LIVE, HOT_DUE),
    )

# How far back the checks look for landed days that were never loaded (older gaps: `tickwh catchup`).
LOOKBACK_DAYS = 7


def promise(asset: str) -> Promise:
    for p in promises():
        if p.asset == asset:
            return p
    raise KeyError(asset)


def daily_promises() -> tuple[Promise, ...]:
    return tuple(p for p in promises() if p.kind != LIVE)


@dataclass(frozen=True)
class Verdict:
    asset: str
    day: dt.date | None
    state: str
    due: dt.datetime | None
    lateness_s: float  # how long past due: still missing now, or how late it arrived
    detail: str

    @property
    def late(self) -> bool:
        return self.state == LATE

    @property
    def one_line(self) -> str:
        day = f" {self.day}" if self.day else ""
        return f"{self.asset}{day}: {self.state} ({self.detail})"


def deadline(p: Promise, day: dt.date, upstream_at: dt.datetime | None = None) -> dt.datetime:
    """When day `day` of `p` is due. A mart's clock starts when its raw day landed, else at raw's deadline."""
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), UTC)
    if p.kind == DAILY:
        return day_end + p.due
    if upstream_at is not None:
        return upstream_at + p.due
    return day_end + RAW_DUE + p.due


def days_to_judge(p: Promise, now: dt.datetime, landed: set[dt.date]) -> list[dt.date]:
    """The newest day already due (loaded or not), and every landed day of the lookback window that is due."""
    newest = (now - RAW_DUE).date() - dt.timedelta(days=1)
    first = newest - dt.timedelta(days=LOOKBACK_DAYS - 1)
    return sorted({newest} | {d for d in landed if first <= d <= newest})


def fmt_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def judge(
    p: Promise,
    day: dt.date,
    now: dt.datetime,
    *,
    landed: bool,
    updated_at: dt.datetime | None,
    upstream_at: dt.datetime | None = None,
    upstream_verdict: Verdict | None = None,
) -> Verdict:
    """Day `day` of a daily promise at `now`: `updated_at` is its partition's last materialization,
    `upstream_at` the upstream's (marts), `landed` whether the day's landing files are there."""
    due = deadline(p, day, upstream_at)
    if p.kind == AFTER_UPSTREAM and updated_at is not None and upstream_at is not None and updated_at < upstream_at:
        updated_at = None  # built before its raw day was (re)loaded: it does not hold that load yet
    if updated_at is not None:
        late_by = (updated_at - due).total_seconds()
        detail = f"updated {updated_at:%Y-%m-%d %H:%M}Z"
        if late_by > 0:
            detail += f", {fmt_duration(late_by)} after due"
        return Verdict(p.asset, day, FRESH, due, max(late_by, 0.0), detail)
    if now < due:
        return Verdict(p.asset, day, PENDING, due, 0.0, f"due {due:%Y-%m-%d %H:%M}Z")
    if not landed:
        return Verdict(p.asset, day, NOT_EVALUATED, due, 0.0, f"no landing files for {day} yet")
    if p.kind == AFTER_UPSTREAM and upstream_at is None and upstream_verdict is not None and upstream_verdict.late:
        return Verdict(p.asset, day, BLOCKED, due, (now - due).total_seconds(), f"waiting for {p.upstream}")
    late_by = (now - due).total_seconds()
    return Verdict(
        p.asset, day, LATE, due, late_by,
        f"not loaded {fmt_duration(late_by)} after due {due:%Y-%m-%d %H:%M}Z; landing files present",
    )


def judge_live(p: Promise, now: dt.datetime, lag_s: float | None, running: bool, unknown: str = "") -> Verdict:
    """The hot tier, judged only while the live path runs: `lag_s` is how long ago the oldest stream
    message it does not hold yet was sent (0 when it holds the whole stream); None when unknown
    (`unknown` says why: NATS unreachable is the stalled-feed alert's business, not a late hot tier)."""
    if not running:
        return Verdict(p.asset, None, NOT_EVALUATED, None, 0.0, "live path off")
    if lag_s is None:
        return Verdict(p.asset, None, NOT_EVALUATED, None, 0.0, unknown or "lag unknown")
    limit = p.due.total_seconds()
    if lag_s <= limit:
        return Verdict(p.asset, None, FRESH, None, 0.0, f"lag {fmt_duration(lag_s)}")
    due = now - dt.timedelta(seconds=lag_s) + p.due  # when the oldest message missing should have landed
    return Verdict(p.asset, None, LATE, due, lag_s - limit,
                   f"{fmt_duration(lag_s)} behind the stream (promise {int(limit)} s)")


def worst(verdicts: list[Verdict]) -> Verdict | None:
    return max(verdicts, key=lambda v: STATES.index(v.state), default=None)
