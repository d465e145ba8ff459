"""The live path in Dagster: JetStream -> hot tier loads, driven by a sensor, and the end-of-day check.

The feed handler (`python -m ingest.feed`) runs outside Dagster: it is a long-lived process
that must keep up with the exchange whatever the orchestrator does. Dagster owns what can be
scheduled, retried and audited:

* `hot_load_sensor` asks for each new range of JetStream sequences once (`run_key`
  `hot-<first>-<last>`), in bounded slices so a backlog becomes several runs rather than one
  huge one. Its cursor keeps the ranges requested but not yet landed: a range whose run failed
  is requested again (`hot-<first>-<last>-retry<n>`) on the next tick, and the "landed" mark
  advances only past ranges whose run succeeded;
* `hot_load` loads exactly that range into the ClickHouse hot tier, idempotently (see
  `ingest.hot.load`), so re-executing a failed or doubtful run is always safe;
* `hot_tier_matches_warm` reconciles the hot tier with `raw.trades` once the vendor file of
  the day is loaded. Severity WARN: the hot tier only keeps its retention window.

The sensor is STOPPED by default because it needs a NATS server; see docs/live.md.
"""

# No `from __future__ import annotations`: Dagster inspects annotations at runtime.
import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Backoff,
    Config,
    ConfigurableResource,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    OpExecutionContext,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    multi_asset_check,
    op,
    sensor,
)
from pydantic import Field

from ingest.feed.stream import DEFAULT_STREAM, StreamState, StreamUnavailableError, connect, stream_state
from ingest.feed.stream import Backoff as NatsBackoff
from ingest.hot import HotSettings, HotTarget, day_bars, load_range, open_hot_tier
from ingest.hot.client import redact_url
from ingest.hot.reconcile import reconcile, warm_window
from orchestration.assets.raw import WAREHOUSE_POOL, raw_trades
from orchestration.metadata import markdown_table, not_evaluated
from orchestration.partitions import daily_partitions, days_in_window
from orchestration.resources import WarehouseResource
from orchestration.settings import clickhouse_url, default_chdb_path, default_nats_url, live_path_setting

# Embedded chdb admits one process per directory: hot-tier writers never overlap across runs
# (dagster.yaml gives every pool a default limit of 1).
HOT_TIER_POOL = "clickhouse_hot"
HOT_RANGE_MAX_MSGS = 20_000  # messages per run: ~20M trades at max replay speed, seconds at live rates
HOT_MAX_RUNS_PER_TICK = 5


class NatsResource(ConfigurableResource):
    """The NATS server holding the `TRADES` JetStream stream. `url` may be an `EnvVar`."""

    url: str = Field(default_factory=default_nats_url, description="NATS URL, e.g. nats://127.0.0.1:4222")
    stream: str = Field(default=DEFAULT_STREAM, description="JetStream stream of trade batches")
    timeout_s: float = Field(default=5.0, description="how long a sensor tick waits for the server")

    def state(self) -> StreamState:
        """First/last sequence of the stream; raises StreamUnavailableError if NATS does not answer."""

        async def read() -> StreamState:
            nc = await connect(self.url, name="tickwh-sensor", backoff=NatsBackoff(deadline_s=self.timeout_s))
            try:
                return await stream_state(nc.jetstream(timeout=self.timeout_s), self.stream)
            finally:
                await nc.close()

        return asyncio.run(read())


class HotTierResource(ConfigurableResource):
    """The ClickHouse hot tier: a server when `url` is set (TICKWH_CLICKHOUSE_URL), else embedded chdb."""

    url: str | None = Field(
        default_factory=clickhouse_url, description="http(s)://user@host:8123/db; None for embedded chdb"
    )
    path: str = Field(default_factory=default_chdb_path, description="chdb directory (embedded mode)")
    password: str | None = Field(
        default=None, repr=False, description='EnvVar("TICKWH_CLICKHOUSE_PASSWORD"); read from it if unset'
    )
    ttl_hours: int = Field(default=24, description="hot retention; 0 keeps everything")
    ttl_basis: str = Field(default="event", description="'event': TTL on trade time; 'ingest': on load time")
    dedup_window: int = Field(default=10_000, description="inserts remembered for idempotent retries")
    open_timeout_s: float = Field(default=120.0, description="wait for another process to release chdb")
    live: bool | None = Field(
        default_factory=live_path_setting,
        description="TICKWH_LIVE: does the live path run? None: yes if a server URL is set or hot_load ever ran",
    )

    def target(self) -> HotTarget:
        return HotTarget(path=self.path, url=self.url, password=self.password, open_timeout_s=self.open_timeout_s)

    def settings(self) -> HotSettings:
        return HotSettings(ttl_hours=self.ttl_hours, ttl_basis=self.ttl_basis, dedup_window=self.dedup_window)

    @contextmanager
    def open(self) -> Iterator[Client]:
        with open_hot_tier(self.target(), self.settings()) as client:
            yield client


# ---------------------------------------------------------------------------------------- job


class HotLoadConfig(Config):
    first_seq: int = Field(description="first JetStream stream sequence of the range (inclusive)")
    last_seq: int = Field(description="last JetStream stream sequence of the range (inclusive)")


@op(
    pool=HOT_TIER_POOL,
    retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
    tags={"dagster/kind/clickhouse": ""},
)
def load_stream_range(
    context: OpExecutionContext, config: HotLoadConfig, nats: NatsResource, hot: HotTierResource
) -> int:
    """Insert the trades of stream sequences [first_seq, last_seq] into the hot tier, exactly once."""
    with hot.open() as client:
        result = load_range(client, config.first_seq, config.last_seq, url=nats.url, stream=nats.stream)
    context.log.info(
        f"sequences {config.first_seq}-{config.last_seq}: {result.messages} messages, {result.trades} trades "
        f"({result.missing} no longer in the stream)"
    )
    context.add_output_metadata(
        {
            "messages": result.messages,
            "trades": result.trades,
            "missing_sequences": result.missing,
            "inserts": result.inserts,
            "fetch_seconds": round(result.fetch_seconds, 3),
            "insert_seconds": round(result.insert_seconds, 3),
            "trades_by_subject": MetadataValue.json(result.subjects),
        }
    )
    return result.trades


@job(
    description="Load one JetStream sequence range of trade batches into the ClickHouse hot tier (idempotent).",
    tags={"tickwh/path": "live"},
)
def hot_load() -> None:
    load_stream_range()


# ---------------------------------------------------------------------------------------- sensor


def hot_range_requests(
    cursor: int, state: StreamState, max_msgs: int, max_runs: int
) -> tuple[list[tuple[int, int]], int]:
    """The next ranges to load after `cursor` (last sequence already requested) and the new cursor.

    Pure, so the slicing rules are testable without a server. Sequences the stream already
    dropped (retention ran ahead of the loader) are skipped: nothing could load them.
    """
    if state.last_seq <= cursor:
        return [], cursor
    start = max(cursor + 1, state.first_seq, 1)
    ranges: list[tuple[int, int]] = []
    while start <= state.last_seq and len(ranges) < max_runs:
        end = min(state.last_seq, start + max_msgs - 1)
        ranges.append((start, end))
        start = end + 1
    return ranges, (ranges[-1][1] if ranges else cursor)


SEQ_RANGE_TAG = "tickwh/seq_range"
_FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass
class HotCursor:
    """The sensor's state: last sequence requested, and the requested ranges not yet landed.

    `landed` is the last sequence below which every range's run succeeded: what the hot tier
    is known to hold. Stored as JSON; a bare integer (the format before) reads as all landed.
    """

    requested: int = 0
    pending: list[tuple[int, int, int]] = field(default_factory=list)  # (first, last, attempt)

    @property
    def landed(self) -> int:
        return min(first for first, _, _ in self.pending) - 1 if self.pending else self.requested

    @classmethod
    def parse(cls, text: str | None) -> "HotCursor":
        if not text:
            return cls()
        if text.strip().isdigit():
            return cls(requested=int(text))
        data = json.loads(text)
        return cls(int(data["requested"]), [(int(f), int(la), int(a)) for f, la, a in data["pending"]])

    def dump(self) -> str:
        return json.dumps({"requested": self.requested, "landed": self.landed, "pending": self.pending})


def range_run_key(first: int, last: int, attempt: int) -> str:
    return f"hot-{first}-{last}" + (f"-retry{attempt}" if attempt else "")


def _latest_status(context: SensorEvaluationContext, first: int, last: int) -> DagsterRunStatus | None:
    runs = context.instance.get_runs(filters=RunsFilter(tags={SEQ_RANGE_TAG: f"{first}-{last}"}), limit=1)
    return runs[0].status if runs else None


def make_hot_load_sensor(
    name: str = "hot_load_sensor",
    max_msgs_per_run: int = HOT_RANGE_MAX_MSGS,
    max_runs_per_tick: int = HOT_MAX_RUNS_PER_TICK,
    minimum_interval_seconds: int = 5,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """The streaming sensor; a factory so tests can use small ranges."""

    @sensor(
        name=name,
        job=hot_load,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Requests a hot_load run for each new range of the TRADES stream and again for each range whose run "
            "failed (cursor: ranges requested, not yet landed). Needs a NATS server: start it and the feed "
            "handler first (docs/live.md)."
        ),
    )
    def evaluate(context: SensorEvaluationContext, nats: NatsResource) -> SensorResult | SkipReason:
        cursor = HotCursor.parse(context.cursor)
        try:
            state = nats.state()
        except (StreamUnavailableError, OSError) as exc:
            return SkipReason(redact_url(nats.url, f"NATS at {nats.url} not reachable: {exc}"))
        except Exception as exc:  # e.g. the stream does not exist yet
            return SkipReason(f"stream {nats.stream} not readable: {exc!r}")
        if state.last_seq < cursor.requested:
            return SkipReason(
                f"stream {nats.stream} ends at {state.last_seq}, before the cursor {cursor.requested}: it was "
                "re-created. Reset this sensor's cursor (docs/live.md)."
            )
        if cursor.requested and state.first_seq > cursor.requested + 1:
            context.log.warning(
                f"sequences {cursor.requested + 1}-{state.first_seq - 1} expired from the stream before they were "
                "loaded"
            )

        def request(first: int, last: int, attempt: int) -> RunRequest:
            return RunRequest(
                run_key=range_run_key(first, last, attempt),
                run_config={"ops": {"load_stream_range": {"config": {"first_seq": first, "last_seq": last}}}},
                tags={"tickwh/stream": nats.stream, SEQ_RANGE_TAG: f"{first}-{last}"},
            )

        requests: list[RunRequest] = []
        pending: list[tuple[int, int, int]] = []
        for first, last, attempt in cursor.pending:
            status = _latest_status(context, first, last)
            if status == DagsterRunStatus.SUCCESS:
                continue  # landed
            if last < state.first_seq:
                context.log.warning(f"range {first}-{last} expired from the stream before it landed")
                continue
            if status in _FAILED:
                context.log.warning(f"range {first}-{last}: run failed ({status.value}); requesting it again")
                attempt += 1
                requests.append(request(first, last, attempt))
            pending.append((first, last, attempt))
        # New ranges only while the in-flight backlog is bounded: a hot tier that keeps failing
        # should not grow the cursor without end.
        room = max(0, min(max_runs_per_tick, 4 * max_runs_per_tick - len(pending)))
        ranges, new_requested = hot_range_requests(cursor.requested, state, max_msgs_per_run, room)
        for first, last in ranges:
            requests.append(request(first, last, 0))
            pending.append((first, last, 0))
        new_cursor = HotCursor(new_requested, pending)
        if not requests:
            waiting = f"; {len(pending)} range(s) in flight, landed up to {new_cursor.landed}" if pending else ""
            return SensorResult(
                skip_reason=SkipReason(f"no new messages (last sequence {state.last_seq}){waiting}"),
                cursor=new_cursor.dump(),
            )
        return SensorResult(run_requests=requests, cursor=new_cursor.dump())

    return evaluate


hot_load_sensor = make_hot_load_sensor()


# ---------------------------------------------------------------------------------------- check


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


@multi_asset_check(
    name="hot_tier_matches_warm",
    specs=[
        AssetCheckSpec(
            "hot_tier_matches_warm",
            asset=raw_trades.key,
            partitions_def=daily_partitions,
            blocking=False,
            description=(
                "The live hot tier's 1-minute bars, trade counts and volumes for the day equal those from the "
                "vendor file in raw.trades (minutes older than the hot retention are reported, not judged). A day "
                "wholly older than the retention is a WARN marked evaluated=false; with the live path off "
                "(TICKWH_LIVE, docs/live.md) the check does not evaluate at all (skipped)."
            ),
        )
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
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
