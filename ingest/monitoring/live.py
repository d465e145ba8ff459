"""The live path's health, read from NATS: when did the feed last publish, how far behind is the hot tier.

Measured from the stream, not from the hot tier's tables: an embedded chdb directory admits one
process, and the loader holds it, so a health probe must not compete for it. Every message the
feed handler publishes carries its wall-clock send time (header `Tw-Sent-Us`, ingest/feed/codec.py).

* feed age: now - send time of the stream's last message. Above TICKWH_FEED_STALL_S (120 s) the
  feed counts as stalled (a killed handler, a lost exchange connection, a replay that ended).
* hot lag: 0 when the hot tier holds the stream's last sequence, else now - send time of the
  oldest message it does not hold yet: how old the newest data a reader cannot see is. What the
  hot tier holds is the position its writer published (ingest/hot/position.py), whichever writer
  (hot_load runs or `tickwh hot-loader`) it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import nats
from nats.js.errors import NotFoundError

from ingest.feed.codec import H_SENT_US
from ingest.hot import position as hot_position
from ingest.monitoring import freshness as fr

UTC = dt.UTC


@dataclass(frozen=True)
class FeedState:
    reachable: bool
    error: str = ""
    last_seq: int = 0
    last_sent_at: dt.datetime | None = None
    oldest_unloaded_at: dt.datetime | None = None  # send time of `landed + 1`, when the hot tier lags

    def age_s(self, now: dt.datetime) -> float | None:
        return None if self.last_sent_at is None else (now - self.last_sent_at).total_seconds()

    def hot_lag_s(self, now: dt.datetime, landed: int | None) -> float | None:
        if landed is None or not self.reachable:
            return None
        if landed >= self.last_seq or self.oldest_unloaded_at is None:
            return 0.0
        return (now - self.oldest_unloaded_at).total_seconds()


def _sent_at(msg: object) -> dt.datetime | None:
    headers = getattr(msg, "headers", None) or {}
    value = headers.get(H_SENT_US)
    return dt.datetime.fromtimestamp(int(value) / 1e6, UTC) if value else None


async def _read(url: str, stream: str, landed: int | None, timeout_s: float) -> FeedState:
    nc = await nats.connect(url, connect_timeout=timeout_s, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=timeout_s)
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return FeedState(True, error=f"stream {stream} does not exist")
        last = info.state.last_seq
        sent = oldest = None
        if info.state.messages:
            sent = _sent_at(await js.get_msg(stream, seq=last))
            if landed is not None and landed < last:
                first = max(landed + 1, info.state.first_seq)
                oldest = _sent_at(await js.get_msg(stream, seq=first))
        return FeedState(True, last_seq=last, last_sent_at=sent, oldest_unloaded_at=oldest)
    finally:
        await nc.close()


def read_feed(url: str, stream: str = "TRADES", landed: int | None = None, timeout_s: float = 3.0) -> FeedState:
    """One probe of the stream; an unreachable server is a state (`reachable=False`), not an exception."""
    try:
        return asyncio.run(asyncio.wait_for(_read(url, stream, landed, timeout_s), timeout_s * 3))
    except Exception as exc:  # noqa: BLE001 - any failure to reach NATS is what the probe reports
        return FeedState(False, error=f"{type(exc).__name__}: {exc}"[:200])


@dataclass(frozen=True)
class HotTierState:
    feed: FeedState
    position: hot_position.HotPosition | None  # None: no writer ever published one for this hot tier

    @property
    def landed(self) -> int:
        # Nothing published: the hot tier holds nothing of the stream (every message is behind).
        return self.position.landed_seq if self.position else 0

    def lag_s(self, now: dt.datetime) -> float | None:
        return self.feed.hot_lag_s(now, self.landed)

    def verdict(self, now: dt.datetime, running: bool) -> fr.Verdict:
        unknown = "" if self.feed.reachable else f"NATS unreachable ({self.feed.error})"
        return fr.judge_live(fr.promise("hot_trades"), now, self.lag_s(now), running, unknown)


def read_hot_tier(
    url: str, stream: str, monitoring_dir: str | None, target: str, running: Callable[[bool], bool] | None = None
) -> tuple[HotTierState, bool]:
    """The hot tier's lag behind the stream, from its published position and NATS (never from the hot
    tier), and whether the live path runs: `running(published)` decides; NATS is not probed when it
    does not (an idle dev box has no NATS, and each probe of an absent server waits its timeout)."""
    position = hot_position.read(monitoring_dir, target, stream)
    on = running(position is not None) if running else True
    if not on:
        return HotTierState(FeedState(False, error="not probed: live path off"), position), False
    landed = position.landed_seq if position else 0
    return HotTierState(read_feed(url, stream, landed=landed), position), True
