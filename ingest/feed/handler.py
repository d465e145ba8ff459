"""The feed handler: replay a day of trades as a live exchange feed into JetStream.

A real handler sits on an exchange websocket; this one reads a vendor file and releases each
trade when the replay clock reaches its exchange timestamp (speed 1 = real time, 10 = ten
times faster, None = as fast as the pipeline takes). From there the path is the one a live
feed takes: normalise to the canonical trade, check ids per (exchange, symbol) for gaps and
duplicates, batch per subject (at most N trades or T ms, whichever comes first), publish with
JetStream acks.

Delivery guarantees, and why they hold:

* Each subject has one publisher lane that sends a batch only after the previous one was
  acknowledged, so what the stream holds for a subject is always a prefix of what the handler
  produced for it. A failed publish (timeout, server gone) is retried with backoff under the
  same `Nats-Msg-Id`; if the first attempt was stored after all, the server's duplicate window
  drops the retry.
* A restarted handler asks the stream for the last message of each subject and skips every
  trade up to the last id it holds (or, for venues without integer ids, up to the last source
  row), so a crash loses nothing acknowledged and repeats nothing stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from ingest.feed.canonical import REJECTED, SOURCE_ROW
from ingest.feed.codec import ARROW, ENCODINGS, H_SENT_US, batch_headers, batch_info, encode, subject_for
from ingest.feed.sequence import Key, SequenceTracker
from ingest.feed.source import TradeFile
from ingest.feed.stream import (
    DEFAULT_URL,
    Backoff,
    StreamSettings,
    connect,
    ensure_stream,
    last_message,
)
from ingest.monitoring.metrics import FeedMetrics

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 1 << 20  # the NATS server's default max_payload


@dataclass
class FeedConfig:
    nats_url: str = DEFAULT_URL
    stream: StreamSettings = field(default_factory=StreamSettings)
    speed: float | None = 1.0  # replay speed factor; None = as fast as possible
    batch_max_trades: int = 1000
    batch_max_delay_ms: float = 100.0
    encoding: str = ARROW
    max_pending_batches: int = 256  # encoded batches waiting for their ack, across subjects
    ack_timeout_s: float = 5.0
    retry_deadline_s: float | None = 600.0  # a batch that cannot be stored for this long stops the feed
    resume: bool = True
    create_stream: bool = True

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError("speed must be > 0 (or None for as fast as possible)")
        if self.batch_max_trades < 1 or self.batch_max_delay_ms < 0:
            raise ValueError("batch_max_trades must be >= 1 and batch_max_delay_ms >= 0")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}")


@dataclass
class FeedStats:
    source: str = ""
    rows_read: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    resumed_skipped: int = 0
    duplicates: int = 0
    gaps: int = 0
    missing_ids: int = 0
    trades_published: int = 0
    messages_published: int = 0
    trades_already_stored: int = 0  # acked as duplicates (a retry after a lost ack)
    publish_retries: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class _Outgoing:
    subject: str
    payload: bytes
    headers: dict[str, str]
    trades: int
    key: Key = ("", "")
    buy: float = 0.0  # volumes of the batch, for the imbalance gauge
    sell: float = 0.0


@dataclass
class _Batcher:
    parts: list[pa.Table] = field(default_factory=list)
    count: int = 0
    since: float = 0.0  # monotonic time the oldest waiting trade was added

    def add(self, rows: pa.Table) -> None:
        if not self.count:
            self.since = time.monotonic()
        self.parts.append(rows)
        self.count += rows.num_rows

    def take(self, n: int | None = None) -> pa.Table:
        table = pa.concat_tables(self.parts)
        n = table.num_rows if n is None else min(n, table.num_rows)
        head, rest = table.slice(0, n), table.slice(n)
        self.parts = [rest] if rest.num_rows else []
        self.count = rest.num_rows
        if self.count:
            self.since = time.monotonic()
        return head


class FeedHandler:
    """Replays trade files into JetStream; one instance per process, `run` per file."""

    def __init__(self, config: FeedConfig | None = None) -> None:
        self.config = config or FeedConfig()
        self.stats = FeedStats()
        self.tracker = SequenceTracker()
        self.metrics = FeedMetrics()  # served on /metrics by __main__ when a port is set
        self.on_replay_start: Callable[[int, int], None] | None = None  # (wall_us, ts_us) of the origin
        self._stop = asyncio.Event()
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._lanes: dict[str, tuple[asyncio.Queue[_Outgoing | None], asyncio.Task[None]]] = {}
        self._batchers: dict[Key, _Batcher] = {}
        self._seq_floor: dict[Key, int] = {}
        self._row_floor: dict[Key, int] = {}
        self._known: set[Key] = set()
        self._pending: asyncio.Semaphore | None = None
        self._origin: tuple[float, int] | None = None  # (monotonic, ts_us)
        self._sched_max = np.iinfo(np.int64).min
        self._source = ""

    def stop(self) -> None:
        """Ask `run` to stop reading; what was read is still flushed and acknowledged."""
        self._stop.set()

    async def run(self, path: Path | str) -> FeedStats:
        started = time.perf_counter()
        source = TradeFile(path)
        self._source = source.name
        self.stats.source = source.name
        cfg = self.config
        self._pending = asyncio.Semaphore(cfg.max_pending_batches)
        backoff = Backoff(deadline_s=cfg.retry_deadline_s, interrupt=self._stop)  # a stop ends its waits
        self._nc = await connect(cfg.nats_url, name="tickwh-feed", backoff=backoff)
        self._js = self._nc.jetstream(timeout=cfg.ack_timeout_s)
        try:
            if cfg.create_stream:
                await self._retry("ensure stream", lambda: ensure_stream(self._js, cfg.stream))
            chunks: Iterator[pa.Table] = iter(source)
            # Parsing runs in a thread (Arrow releases the GIL), one block ahead: block k+1 is
            # read and normalised while block k is routed and published.
            ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            try:
                while not self._stop.is_set():
                    chunk = await ahead
                    if chunk is None:
                        break
                    ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
                    await self._replay(chunk)
            finally:
                with contextlib.suppress(Exception):
                    await ahead  # a thread cannot be cancelled; let the read finish
            for key in list(self._batchers):
                await self._flush(key)
            for queue, _ in self._lanes.values():
                queue.put_nowait(None)
            await asyncio.gather(*(task for _, task in self._lanes.values()))
        finally:
            for _, task in self._lanes.values():
                task.cancel()
            with contextlib.suppress(Exception):
                await self._nc.drain()
        self.stats.rows_read = source.rows_read
        self.stats.rejected = dict(source.rejected)
        totals = self.tracker.totals()
        self.stats.duplicates = totals["duplicates"]
        self.stats.gaps = totals["gaps"]
        self.stats.missing_ids = totals["missing_ids"]
        self.stats.seconds = round(time.perf_counter() - started, 3)
        return self.stats

    # ------------------------------------------------------------------ replay and routing

    async def _replay(self, chunk: pa.Table) -> None:
        chunk = await self._drop_resumed(chunk)
        if not chunk.num_rows:
            return
        ts = chunk["ts_us"].to_numpy()
        # The replay clock never runs backwards: a trade stamped before an earlier one is due at once.
        sched = np.maximum.accumulate(np.maximum(ts, self._sched_max))
        self._sched_max = int(sched[-1])
        speed = self.config.speed
        if self._origin is None:
            self._origin = (time.monotonic(), int(sched[0]))
            if self.on_replay_start:
                self.on_replay_start(int(time.time() * 1e6), int(sched[0]))
        origin_mono, origin_ts = self._origin
        pos, n = 0, chunk.num_rows
        while pos < n:
            if self._stop.is_set():
                return
            if speed is None:
                due = n
            else:
                clock = origin_ts + (time.monotonic() - origin_mono) * speed * 1e6
                due = int(np.searchsorted(sched, clock, side="right"))
                if due <= pos:
                    wait = (sched[pos] - clock) / speed / 1e6
                    await self._flush_aged()
                    await asyncio.sleep(min(max(wait, 0.0005), self._next_flush_in(), 0.05))
                    continue
            await self._route(chunk.slice(pos, due - pos))
            pos = due
            await self._flush_aged()

    def _keys(self, table: pa.Table) -> tuple[np.ndarray, list[Key]]:
        joined = pc.binary_join_element_wise(table["exchange"], table["symbol"], "\x00")
        encoded = pc.dictionary_encode(joined).combine_chunks()
        keys = [tuple(k.split("\x00", 1)) for k in encoded.dictionary.to_pylist()]
        return encoded.indices.to_numpy(zero_copy_only=False), keys  # type: ignore[return-value]

    async def _drop_resumed(self, chunk: pa.Table) -> pa.Table:
        """Skip what the stream already holds (resume after a restart) before it is paced."""
        codes, keys = self._keys(chunk)
        for key in keys:
            if key not in self._known:
                await self._learn(key)
        if not self._seq_floor and not self._row_floor:
            return chunk
        seq_floor = np.array([self._seq_floor.get(k, np.iinfo(np.int64).min) for k in keys], dtype=np.int64)
        row_floor = np.array([self._row_floor.get(k, -1) for k in keys], dtype=np.int64)
        valid = pc.is_valid(chunk["trade_seq"]).to_numpy(zero_copy_only=False)
        seqs = pc.fill_null(chunk["trade_seq"], 0).to_numpy()
        rows = chunk[SOURCE_ROW].to_numpy()
        skip = (valid & (seqs <= seq_floor[codes])) | (rows <= row_floor[codes])
        if not skip.any():
            return chunk
        rejected = chunk[REJECTED].to_numpy(zero_copy_only=False)
        self.stats.resumed_skipped += int((skip & ~rejected).sum())
        return chunk.filter(pa.array(~skip))

    async def _learn(self, key: Key) -> None:
        """First sight of a subject: open its lane and, when resuming, read where it stopped."""
        self._known.add(key)
        subject = subject_for(*key)
        queue: asyncio.Queue[_Outgoing | None] = asyncio.Queue()
        self._lanes[subject] = (queue, asyncio.create_task(self._lane(queue), name=f"lane {subject}"))
        if not self.config.resume:
            return
        stored = await self._retry(
            f"last message of {subject}", lambda: last_message(self._js, self.config.stream.name, subject)
        )
        info = batch_info(stored.headers) if stored else None
        if info is None:
            return
        if info.last_seq is not None:
            self._seq_floor[key] = info.last_seq
            self.tracker.set_floor(key, info.last_seq)
            log.info("%s: resuming after trade id %d (stream seq %d)", subject, info.last_seq, stored.seq)
        elif info.source == self._source and info.source_row is not None:
            self._row_floor[key] = info.source_row
            log.info("%s: resuming after row %d of %s", subject, info.source_row, self._source)

    async def _route(self, piece: pa.Table) -> None:
        codes, keys = self._keys(piece)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
        for k, key in enumerate(keys):
            rows = piece.take(pa.array(order[bounds[k] : bounds[k + 1]]))
            seq_col = rows["trade_seq"]
            valid = pc.is_valid(seq_col).to_numpy(zero_copy_only=False)
            seqs = pc.fill_null(seq_col, 0).to_numpy()
            st = self.tracker.stats(key)
            before = (st.gaps, st.missing, st.duplicates)
            keep = self.tracker.check(key, seqs, valid)
            self.metrics.trades_in.labels(*key).inc(rows.num_rows)
            self.metrics.gaps.labels(*key).inc(st.gaps - before[0])
            self.metrics.missing_ids.labels(*key).inc(st.missing - before[1])
            self.metrics.duplicates.labels(*key).inc(st.duplicates - before[2])
            keep &= ~rows[REJECTED].to_numpy(zero_copy_only=False)  # counted in the sequence, never sent
            if not keep.all():
                rows = rows.filter(pa.array(keep))
            if not rows.num_rows:
                continue
            batcher = self._batchers.setdefault(key, _Batcher())
            batcher.add(rows)
            while batcher.count >= self.config.batch_max_trades:
                await self._send(key, batcher.take(self.config.batch_max_trades))

    # ------------------------------------------------------------------ batching and publishing

    def _next_flush_in(self) -> float:
        delay = self.config.batch_max_delay_ms / 1000
        waiting = [b.since for b in self._batchers.values() if b.count]
        return max(0.0, min(waiting) + delay - time.monotonic()) if waiting else 1.0

    async def _flush_aged(self) -> None:
        delay = self.config.batch_max_delay_ms / 1000
        now = time.monotonic()
        for key, batcher in list(self._batchers.items()):
            if batcher.count and now - batcher.since >= delay:
                await self._flush(key)

    async def _flush(self, key: Key) -> None:
        batcher = self._batchers.get(key)
        if batcher and batcher.count:
            await self._send(key, batcher.take())

    async def _send(self, key: Key, batch: pa.Table) -> None:
        for _, task in self._lanes.values():
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
        payload = encode(batch, self.config.encoding)
        if len(payload) > MAX_PAYLOAD_BYTES and batch.num_rows > 1:
            half = batch.num_rows // 2  # too big for one message: split (ids stay deterministic per run)
            await self._send(key, batch.slice(0, half))
            await self._send(key, batch.slice(half))
            return
        headers = batch_headers(
            batch, self.config.encoding, source=self._source, source_row=int(batch[SOURCE_ROW][-1].as_py())
        )
        assert self._pending is not None
        await self._pending.acquire()
        queue, _ = self._lanes[subject_for(*key)]
        amount = pc.cast(batch["amount"], pa.float64())
        buy = pc.sum(pc.if_else(pc.equal(batch["side"], "buy"), amount, 0.0)).as_py() or 0.0
        sell = pc.sum(pc.if_else(pc.equal(batch["side"], "sell"), amount, 0.0)).as_py() or 0.0
        queue.put_nowait(_Outgoing(subject_for(*key), payload, headers, batch.num_rows, key, buy, sell))

    async def _lane(self, queue: asyncio.Queue[_Outgoing | None]) -> None:
        """One subject's publisher: strictly one batch in flight, retried until acknowledged."""
        assert self._pending is not None
        while True:
            item = await queue.get()
            if item is None:
                return
            started = time.perf_counter()
            ack = await self._retry(f"publish to {item.subject}", lambda item=item: self._publish(item))
            if ack.duplicate:
                self.stats.trades_already_stored += item.trades
            else:
                self.stats.trades_published += item.trades
                self.stats.messages_published += 1
                self.metrics.published(item.key, item.trades, time.perf_counter() - started, item.buy, item.sell)
            if self._nc is not None:
                self.metrics.reconnects.set(self._nc.stats.get("reconnects", 0))
            self._pending.release()

    async def _publish(self, item: _Outgoing):  # noqa: ANN202 - nats' PubAck
        assert self._js is not None
        headers = {**item.headers, H_SENT_US: str(int(time.time() * 1e6))}
        return await self._js.publish(item.subject, item.payload, timeout=self.config.ack_timeout_s, headers=headers)

    async def _retry(self, what: str, call: Callable):  # noqa: ANN202
        def count_failure() -> None:
            self.stats.publish_retries += 1
            self.metrics.publish_retries.inc()

        backoff = Backoff(deadline_s=self.config.retry_deadline_s, interrupt=self._stop)
        return await backoff.call(what, call, on_failure=count_failure)
