"""Load one JetStream sequence range into the hot tier, each trade exactly once, whatever the ranges.

Exactly once is keyed by the stream's sequence, not by the range asked for: a retried run, a
range overlapping one already loaded, a manual replay of any boundaries, or a rerun after the
loader was killed mid-insert all leave each trade once in `hot_trades` and in the bars.

* Messages are inserted in fixed blocks of `part_msgs` sequences aligned to sequence 1
  (`1..500`, `501..1000`, ...), whatever the range's first sequence.
* Before a block is inserted, the `(stream_seq, exchange, symbol, trade_id)` keys already in
  `hot_trades` for its sequences are read and those trades dropped from the insert: an
  overlap, or the part of a block a killed loader had committed, is not inserted again. An
  insert either commits or leaves nothing (a killed process leaves only temporary parts, which
  the engine discards on restart), so the check sees every row that landed.
* The insert carries the token `hot:<stream>@<created>:<a>-<b>:<rows>:<digest>` of exactly the
  rows it holds, so two identical retries racing each other, or a replay of rows the TTL already
  expired, are dropped by the server's deduplication window; different rows never share a token.
  `<created>` keeps tokens of a re-created stream (whose sequences restart at 1) apart.

The check and the insert are two statements, so exactly-once assumes one writer at a time per
hot tier: the Dagster pool `clickhouse_hot` (limit 1) serialises loads, and embedded chdb admits
one process per directory anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from ingest.feed.codec import decode
from ingest.feed.stream import DEFAULT_STREAM, RETRYABLE, Backoff, connect, fetch_range, stream_state
from ingest.hot.tier import insert_trades, present_keys, to_hot_rows
from ingest.redact import redact

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
    already_present: int = 0  # trades of the range found in the hot tier before insert (overlap, retry)
    fetch_seconds: float = 0.0  # wall time of the whole fetch, inserts overlapping it
    insert_seconds: float = 0.0
    subjects: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        """Sequences of the range not in the stream any more (expired or deleted)."""
        return (self.last_seq - self.first_seq + 1) - self.messages


KEY_COLUMNS = ("stream_seq", "exchange", "symbol", "trade_id")


def block_start(seq: int, part_msgs: int) -> int:
    """First sequence of the fixed block holding `seq`: blocks do not depend on a range's boundaries."""
    return (seq - 1) // part_msgs * part_msgs + 1


def _keys(rows: pa.Table) -> pa.Table:
    """The key columns as plain types (the rows may carry dictionary-encoded strings)."""
    types = {"stream_seq": pa.uint64(), "exchange": pa.string(), "symbol": pa.string(), "trade_id": pa.string()}
    return pa.table({c: pc.cast(rows[c], types[c]) for c in KEY_COLUMNS})


def rows_token(stream: str, created_us: int, rows: pa.Table) -> str:
    """A token naming exactly these rows (by key), independent of their order."""
    keys = _keys(rows)
    keys = keys.take(pc.sort_indices(keys, [(c, "ascending") for c in KEY_COLUMNS]))
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(keys["stream_seq"].combine_chunks()).tobytes())
    for column in KEY_COLUMNS[1:]:
        digest.update("\x1f".join(keys[column].to_pylist()).encode())
        digest.update(b"\x1e")
    seqs = keys["stream_seq"]
    first, last = pc.min(seqs).as_py(), pc.max(seqs).as_py()
    return f"hot:{stream}@{created_us}:{first}-{last}:{rows.num_rows}:{digest.hexdigest()}"


def without_present(client: Client, rows: pa.Table) -> tuple[pa.Table, int]:
    """`rows` minus the trades `hot_trades` already holds under the same stream sequences."""
    seqs = rows["stream_seq"]
    present = present_keys(client, pc.min(seqs).as_py(), pc.max(seqs).as_py())
    if not present.num_rows:
        return rows, 0
    keys = _keys(rows).append_column("_row", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    keep = keys.join(present, keys=list(KEY_COLUMNS), join_type="left anti", use_threads=False)
    kept = keep["_row"]
    return rows.take(kept.take(pc.sort_indices(kept))), rows.num_rows - keep.num_rows


async def _load(
    client: Client, url: str, stream: str, first: int, last: int, part_msgs: int, result: RangeLoad,
    connect_deadline_s: float = 60.0,
) -> None:
    nc = await connect(url, name="tickwh-hot-load", backoff=Backoff(deadline_s=connect_deadline_s))
    try:
        js = nc.jetstream(timeout=10)
        created = (await stream_state(js, stream)).created_us
        started = time.perf_counter()
        pending: list[pa.Table] = []
        window = block_start(first, part_msgs)  # start of the current fixed block
        inserting: asyncio.Future[None] | None = None

        def insert(rows: pa.Table) -> None:
            t0 = time.perf_counter()
            rows, present = without_present(client, rows)
            result.already_present += present
            if rows.num_rows:
                insert_trades(client, rows, rows_token(stream, created, rows))
                result.inserts += 1
                result.trades += rows.num_rows
            result.insert_seconds += time.perf_counter() - t0

        async def flush() -> None:
            # The insert runs in a thread (ClickHouse works off the GIL) while the next block
            # is fetched; at most one insert at a time, so blocks go in in order.
            nonlocal inserting, pending
            if inserting is not None:
                await inserting
                inserting = None
            if not pending:
                return
            rows, pending = pa.concat_tables(pending), []
            inserting = asyncio.ensure_future(asyncio.to_thread(insert, rows))

        try:
            async for msg in fetch_range(js, stream, first, last):
                msg_window = block_start(msg.seq, part_msgs)
                if msg_window != window:
                    await flush()
                    window = msg_window
                trades = decode(msg.data, msg.headers)
                seqs = pa.array(np.full(trades.num_rows, msg.seq, dtype=np.uint64))
                pending.append(to_hot_rows(trades, seqs))
                result.messages += 1
                result.subjects[msg.subject] = result.subjects.get(msg.subject, 0) + trades.num_rows
            await flush()
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
    connect_deadline_s: float = 60.0,
) -> RangeLoad:
    """Fetch stream sequences [first, last] and insert their trades into `hot_trades`.

    A NATS outage mid-range starts the range again (after backoff): trades inserted before the
    failure are found in the hot tier and left out, the rest go in.
    """
    if first < 1 or last < first:
        raise ValueError(f"invalid sequence range {first}..{last}")
    delay = 0.5
    for attempt in range(1, attempts + 1):
        result = RangeLoad(first_seq=first, last_seq=last)
        try:
            asyncio.run(_load(client, url, stream, first, last, part_msgs, result, connect_deadline_s))
        except RETRYABLE as exc:
            if attempt == attempts:
                raise
            log.warning("range %d-%d: attempt %d failed (%s); retrying in %.1fs", first, last, attempt,
                        redact(repr(exc)), delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if result.missing:
            log.warning("range %d-%d: %d sequences no longer in the stream", first, last, result.missing)
        return result
    raise AssertionError("unreachable")
