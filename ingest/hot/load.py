"""Load one JetStream sequence range into the hot tier, exactly once however often it is retried.

The stream only appends (expiry removes from the front), so a sequence window always holds
the same messages, minus any that expired. Each insert covers a fixed window of sequences
(`part_msgs` of them, aligned to the range start) and carries the token
`hot:<stream>@<created>:<a>-<b>`: a window is inserted completely or not at all, and a retry
(a run that died after inserting, a re-executed Dagster run, a sensor that asked twice)
inserts nothing twice, into `hot_trades` or the bars. Windows depend only on sequence
numbers, not on what is still stored, so even a retry after expiry cannot shift rows into a
token that was already used. `<created>` keeps tokens of a re-created stream (whose sequences
restart at 1) from colliding with the old ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from ingest.feed.codec import decode
from ingest.feed.stream import DEFAULT_STREAM, RETRYABLE, Backoff, connect, fetch_range, stream_state
from ingest.hot.tier import insert_trades, to_hot_rows

log = logging.getLogger(__name__)

PART_MSGS = 500  # sequences per insert: ~500k trades at 1000 a message; bounds memory


@dataclass
class RangeLoad:
    """What one range load did, for run metadata and benchmarks."""

    first_seq: int
    last_seq: int
    messages: int = 0
    trades: int = 0
    inserts: int = 0
    fetch_seconds: float = 0.0  # wall time of the whole fetch, inserts overlapping it
    insert_seconds: float = 0.0
    subjects: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        """Sequences of the range not in the stream any more (expired or deleted)."""
        return (self.last_seq - self.first_seq + 1) - self.messages


def range_token(stream: str, created_us: int, first: int, last: int) -> str:
    return f"hot:{stream}@{created_us}:{first}-{last}"


async def _load(
    client: Client, url: str, stream: str, first: int, last: int, part_msgs: int, result: RangeLoad
) -> None:
    nc = await connect(url, name="tickwh-hot-load", backoff=Backoff(deadline_s=60))
    try:
        js = nc.jetstream(timeout=10)
        created = (await stream_state(js, stream)).created_us
        started = time.perf_counter()
        pending: list[pa.Table] = []
        window = first  # start of the current sequence window
        inserting: asyncio.Future[None] | None = None

        def insert(rows: pa.Table, token: str) -> None:
            t0 = time.perf_counter()
            insert_trades(client, rows, token)
            result.inserts += 1
            result.trades += rows.num_rows
            result.insert_seconds += time.perf_counter() - t0

        async def flush(window_start: int) -> None:
            # The insert runs in a thread (ClickHouse works off the GIL) while the next window
            # is fetched; at most one insert at a time, so windows go in in order.
            nonlocal inserting, pending
            if inserting is not None:
                await inserting
                inserting = None
            if not pending:
                return
            rows, pending = pa.concat_tables(pending), []
            token = range_token(stream, created, window_start, min(last, window_start + part_msgs - 1))
            inserting = asyncio.ensure_future(asyncio.to_thread(insert, rows, token))

        try:
            async for msg in fetch_range(js, stream, first, last):
                msg_window = first + (msg.seq - first) // part_msgs * part_msgs
                if msg_window != window:
                    await flush(window)
                    window = msg_window
                trades = decode(msg.data, msg.headers)
                seqs = pa.array(np.full(trades.num_rows, msg.seq, dtype=np.uint64))
                pending.append(to_hot_rows(trades, seqs))
                result.messages += 1
                result.subjects[msg.subject] = result.subjects.get(msg.subject, 0) + trades.num_rows
            await flush(window)
        finally:
            if inserting is not None:
                await inserting  # never leave an insert running behind a failed fetch
        result.fetch_seconds = time.perf_counter() - started
    finally:
        await nc.close()


def load_range(
    client: Client,
    first: int,
    last: int,
    *,
    url: str,
    stream: str = DEFAULT_STREAM,
    part_msgs: int = PART_MSGS,
    attempts: int = 5,
) -> RangeLoad:
    """Fetch stream sequences [first, last] and insert their trades into `hot_trades`.

    A NATS outage mid-range starts the range again (after backoff): windows inserted before
    the failure are dropped as duplicates by their tokens, the rest go in.
    """
    if first < 1 or last < first:
        raise ValueError(f"invalid sequence range {first}..{last}")
    delay = 0.5
    for attempt in range(1, attempts + 1):
        result = RangeLoad(first_seq=first, last_seq=last)
        try:
            asyncio.run(_load(client, url, stream, first, last, part_msgs, result))
        except RETRYABLE as exc:
            if attempt == attempts:
                raise
            log.warning("range %d-%d: attempt %d failed (%r); retrying in %.1fs", first, last, attempt, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if result.missing:
            log.warning("range %d-%d: %d sequences no longer in the stream", first, last, result.missing)
        return result
    raise AssertionError("unreachable")
