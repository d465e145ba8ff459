"""`hot_load_sensor`: a `hot_load` run for each new range of the trade stream, and again for a failed one."""

# No `from __future__ import annotations`: Dagster inspects annotations at runtime.
import json
from dataclasses import dataclass, field

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ingest.feed.stream import StreamState, StreamUnavailableError
from ingest.redact import redact_url
from orchestration.defs.live.jobs import hot_load
from orchestration.defs.live.resources import NatsResource

HOT_RANGE_MAX_MSGS = 20_000  # messages per run: ~20M trades at max replay speed, seconds at live rates
HOT_MAX_RUNS_PER_TICK = 5


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
