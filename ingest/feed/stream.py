"""The JetStream side of the live path: the `TRADES` stream, connections, and range reads.

The stream is the live path's buffer and its source of truth between the feed handler and
the hot tier: file storage so a restarted server keeps what it acknowledged, `max_age` just
over the hot window (older trades come from the warm warehouse), and a duplicate window so a
batch republished after a reconnect (same `Nats-Msg-Id`) is stored once. Readers address the
stream by sequence number, which is what lets the hot-tier loader be exactly-once: a range
`[first, last]` always holds the same messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from tenacity import RetryCallState

from ingest.redact import redact, redact_url
from ingest.retry import async_retrying

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "TRADES"

# Errors after which the same request can simply be sent again once the connection is back.
RETRYABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)


class StreamUnavailableError(RuntimeError):
    """NATS did not answer within the allowed time."""


@dataclass(frozen=True)
class StreamSettings:
    """Configuration of the trade stream; `ensure_stream` makes the server match it."""

    name: str = DEFAULT_STREAM
    subjects: tuple[str, ...] = ("trades.>",)
    max_age_s: float = 24 * 3600.0 + 3600.0  # the 24 h hot window plus an hour of slack
    duplicate_window_s: float = 600.0
    max_bytes: int = -1
    replicas: int = 1

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD,
            max_age=self.max_age_s,
            duplicate_window=self.duplicate_window_s,
            max_bytes=self.max_bytes,
            num_replicas=self.replicas,
            allow_direct=True,
        )


@dataclass(frozen=True)
class StreamState:
    first_seq: int
    last_seq: int
    messages: int
    bytes: int
    created_us: int = 0  # identifies this incarnation of the stream (sequences restart on re-creation)


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    subject: str
    headers: dict[str, str] | None
    data: bytes


@dataclass
class Backoff:
    """Exponential backoff with a cap (ingest.retry); `deadline_s` None retries forever."""

    initial_s: float = 0.1
    max_s: float = 5.0
    deadline_s: float | None = 60.0
    interrupt: asyncio.Event | None = None  # set: a wait between attempts ends at once (ingest.retry.Interrupted)

    async def call(
        self,
        what: str,
        fn: Callable[[], Awaitable[T]],
        retry_on: tuple[type[BaseException], ...] = RETRYABLE,
        on_failure: Callable[[], None] | None = None,
    ) -> T:
        """`await fn()` until it returns; a `retry_on` error past the deadline is a StreamUnavailableError.

        `on_failure` runs on every retryable failure, the last one included."""
        started = time.monotonic()

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            # `what` may name a server by a URL with a password: redacted here, not on every call (hot path)
            log.warning("%s failed (%s); retrying in %.2fs", redact(what), redact(repr(exc)), state.upcoming_sleep)

        async def attempt() -> T:  # a coroutine function, so tenacity awaits what a lambda returns
            return await fn()

        try:
            return await async_retrying(
                interrupt=self.interrupt, retry_if=lambda exc: isinstance(exc, retry_on),
                initial_s=self.initial_s, max_s=self.max_s,
                deadline_s=self.deadline_s, after_failure=on_failure and (lambda _state: on_failure()),
                before_sleep=log_retry,
            )(attempt)
        except retry_on as exc:
            elapsed = time.monotonic() - started
            # `from None`: the cause would be stored and shown as well (a traceback, Dagster's event
            # log), and nats-py's errors may carry the URL; its text, redacted, is in the message.
            raise StreamUnavailableError(f"{redact(what)}: gave up after {elapsed:.1f}s: {redact(repr(exc))}") from None


async def connect(url: str = DEFAULT_URL, name: str = "tickwh", backoff: Backoff | None = None) -> NATS:
    """A client that reconnects on its own forever; the first connect retries with backoff.

    nats-py buffers publishes while it reconnects; our own retries (same message id) cover
    anything the buffer loses, and the stream's duplicate window drops the doubles.
    """
    backoff = backoff or Backoff()
    client: list[NATS] = []
    shown = redact_url(url)  # registers the URL's password with the one redaction point, too

    async def on_disconnect() -> None:
        if client and (client[0].is_closed or client[0].is_draining):
            return  # our own close, not an outage
        log.warning("NATS %s: disconnected", shown)

    async def on_reconnect() -> None:
        log.warning("NATS %s: reconnected", shown)

    async def on_error(exc: Exception) -> None:
        log.debug("NATS %s: %s", shown, redact(repr(exc)))

    async def connect_once() -> NATS:
        nc = await nats.connect(
            url,
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            # nats-py retries the *first* connect forever when this is -1; try twice here,
            # back off ourselves, and switch to "forever" once connected (below).
            max_reconnect_attempts=1,
            reconnect_time_wait=0.25,
            ping_interval=5,
            max_outstanding_pings=2,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            error_cb=on_error,
        )
        nc.options["max_reconnect_attempts"] = -1  # once up, never give up reconnecting
        client.append(nc)
        return nc

    return await backoff.call(f"connect to {shown}", connect_once, retry_on=(nats.errors.NoServersError, *RETRYABLE))


async def ensure_stream(js: JetStreamContext, settings: StreamSettings | None = None) -> api.StreamInfo:
    """Create the stream, or update it when its limits differ; safe to call on every start."""
    settings = settings or StreamSettings()
    wanted = settings.config()
    try:
        info = await js.stream_info(settings.name)
    except nats.js.errors.NotFoundError:
        log.info("creating stream %s (%s)", settings.name, ", ".join(settings.subjects))
        try:
            return await js.add_stream(wanted)
        except nats.js.errors.BadRequestError:
            # Another process created it between our lookup and our create.
            info = await js.stream_info(settings.name)
    have = info.config
    if have.storage != wanted.storage:
        raise ValueError(f"stream {settings.name} uses {have.storage} storage; it must be {wanted.storage}")
    differs = (
        sorted(have.subjects or []) != sorted(wanted.subjects or [])
        or abs((have.max_age or 0) - (wanted.max_age or 0)) > 1e-3
        or abs((have.duplicate_window or 0) - (wanted.duplicate_window or 0)) > 1e-3
        or (have.max_bytes or -1) != (wanted.max_bytes or -1)
        or not have.allow_direct
    )
    if not differs:
        return info
    log.info("updating stream %s limits", settings.name)
    return await js.update_stream(wanted)


async def stream_state(js: JetStreamContext, stream: str = DEFAULT_STREAM) -> StreamState:
    info = await js.stream_info(stream)
    st = info.state
    created = int(info.created.timestamp() * 1_000_000) if info.created else 0
    return StreamState(
        first_seq=st.first_seq, last_seq=st.last_seq, messages=st.messages, bytes=st.bytes, created_us=created
    )


async def last_message(js: JetStreamContext, stream: str, subject: str) -> StoredMessage | None:
    """The newest message stored on `subject`, or None: where a restarted publisher resumes."""
    try:
        raw = await js.get_last_msg(stream, subject)
    except nats.js.errors.NotFoundError:
        return None
    return StoredMessage(seq=raw.seq or 0, subject=raw.subject or subject, headers=raw.headers, data=raw.data or b"")


async def fetch_range(
    js: JetStreamContext,
    stream: str,
    first: int,
    last: int,
    *,
    batch: int = 256,
    fetch_timeout_s: float = 5.0,
    filter_subject: str = "trades.>",
) -> AsyncIterator[StoredMessage]:
    """Every message stored with sequence in [first, last], in sequence order.

    An ephemeral pull consumer starting at `first` (no acks, in memory) reads the range in
    pulls of `batch` messages, each asking for no more than what is left of the range, so it
    never reads far past `last`. Sequences that no longer exist (expired, deleted) are simply
    absent. The consumer is deleted afterwards, and the server drops it on its own if we die.
    """
    if first > last:
        return
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first,
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=60.0,
        mem_storage=True,
        num_replicas=1,
    )
    sub = await js.pull_subscribe(filter_subject, stream=stream, config=config)
    consumer = sub._consumer  # nats-py keeps the generated ephemeral name here only
    try:
        next_seq = first
        idle = 0
        while next_seq <= last:
            want = min(batch, last - next_seq + 1)
            try:
                msgs = await sub.fetch(want, timeout=fetch_timeout_s)
            except (TimeoutError, nats.errors.TimeoutError):
                # Nothing arrived: the rest of the range is gone (expired or deleted) if the
                # stream holds nothing at or after next_seq, else the server is slow: try again.
                state = await stream_state(js, stream)
                if state.last_seq < next_seq or state.messages == 0 or state.first_seq > last:
                    return
                idle += 1
                if idle >= 3:
                    raise
                continue
            idle = 0
            for msg in msgs:
                meta = msg.metadata
                seq = meta.sequence.stream
                if seq > last:
                    return
                yield StoredMessage(seq=seq, subject=msg.subject, headers=msg.headers, data=msg.data)
                next_seq = seq + 1
                if meta.num_pending == 0 and seq < last:
                    return  # nothing stored after this one: the rest of the range was deleted
    finally:
        try:
            await js.delete_consumer(stream, consumer)
        except Exception as exc:  # the server drops it after inactive_threshold anyway
            log.debug("could not delete consumer %s: %r", consumer, exc)
        try:
            await sub.unsubscribe()
        except Exception as exc:
            log.debug("could not unsubscribe %s: %r", consumer, exc)
