"""The one retry policy of ingest: capped exponential back-off through tenacity.

Every place that waits for something another process holds (a lake commit, the chdb folder,
the NATS server) builds its retrying from `policy`, so the delays, the stop rule and the way
the last error surfaces are the same everywhere: the last error is re-raised as it was, and
the caller turns it into its own error if it wants one. Keep a retried call free of other
retries: one level of waiting, never a retry inside a retry.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_any, stop_never
from tenacity.stop import stop_after_attempt, stop_after_delay, stop_base, stop_before_delay

RetryHook = Callable[[RetryCallState], None]


def exponential(initial_s: float, max_s: float, *, jitter: bool = False) -> Callable[[RetryCallState], float]:
    """initial_s, 2 x, 4 x ... capped at max_s; with `jitter` each delay is scaled by a factor in [0.5, 1.5)
    so writers that lost to each other do not come back in step."""

    def wait(state: RetryCallState) -> float:
        delay = min(max_s, initial_s * 2 ** (state.attempt_number - 1))
        return delay * (0.5 + random.random()) if jitter else delay

    return wait


def policy(
    *,
    retry_if: Callable[[BaseException], bool],
    initial_s: float,
    max_s: float,
    jitter: bool = False,
    attempts: int | None = None,
    deadline_s: float | None = None,
    deadline_includes_wait: bool = False,
    after_failure: RetryHook | None = None,
    before_sleep: RetryHook | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `Retrying` / `AsyncRetrying`.

    Stops after `attempts` calls or once `deadline_s` has passed since the first call (with
    `deadline_includes_wait`: before a wait that would end past it); neither means never.
    `after_failure` runs on every retryable failure, the last one included; `before_sleep` only
    before a wait (`state.upcoming_sleep` is set).
    """
    stops: list[stop_base] = []
    if attempts is not None:
        stops.append(stop_after_attempt(attempts))
    if deadline_s is not None:
        stops.append(stop_before_delay(deadline_s) if deadline_includes_wait else stop_after_delay(deadline_s))
    return {
        "retry": retry_if_exception(retry_if),
        "wait": exponential(initial_s, max_s, jitter=jitter),
        "stop": stop_any(*stops) if stops else stop_never,
        "after": after_failure,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def retrying(**kw: Any) -> Retrying:
    """A `Retrying` with `policy(**kw)`: `retrying(...)(fn)` calls `fn` until it succeeds or the policy stops."""
    return Retrying(**policy(**kw))


class Interrupted(Exception):
    """A wait between attempts ended early because the process was asked to stop (SIGINT/SIGTERM)."""


def async_retrying(*, interrupt: asyncio.Event | None = None, **kw: Any) -> AsyncRetrying:
    """`retrying` for coroutines: `await async_retrying(...)(coroutine_function)`.

    With `interrupt`, a wait between attempts ends as soon as the event is set, raising `Interrupted`:
    a signal handler of an event loop cannot interrupt `asyncio.sleep` by itself, and a process
    asked to stop must not sit out a back-off of minutes (issue 22: honoured within 2 s)."""
    if interrupt is None:
        return AsyncRetrying(**policy(**kw))
    stop = interrupt

    async def sleep(seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Interrupted("asked to stop while waiting to retry")

    return AsyncRetrying(sleep=sleep, **policy(**kw))
