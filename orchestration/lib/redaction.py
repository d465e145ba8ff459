"""Every step's failure passes the one redaction point (ingest/redact.py) before Dagster stores it.

Dagster turns a step's exception into a `SerializableErrorInfo` (dagster `_utils/error.py`,
`serializable_error_info_from_exc_info`: Python's `TracebackException`, which walks `__cause__`
and, unless suppressed, `__context__`) and keeps it in the STEP_FAILURE / STEP_UP_FOR_RETRY
events of the run's event log; a `Failure`'s description and metadata are stored as given. So
the compute function of every asset, check and op of the code location is wrapped by `redacted`
(applied by the shared decorators in orchestration/lib/daily.py and on the few definitions made
with Dagster's own decorators; tests/faults/test_credentials.py fails on any definition of `defs`
whose compute function is not wrapped). When the failure's whole text (message, traceback, causes)
holds a secret, the wrapper raises a replacement built from the redacted text, `from None`, so the
original exception is neither stored nor chained; a failure without a secret is re-raised as it was.
The wrapper also puts the redacting log filter on the step's `context.log` (Dagster's log manager
is a `logging.Logger`), so a message the step logs passes `redact` before the event log stores it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    OpExecutionContext,
    RetryRequested,
)

from ingest.redact import RedactingFilter, redact

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__tickwh_redacted__"


class RedactedStepError(RuntimeError):
    """A step's error whose text held a secret: the same text with every secret masked."""


def _replacement(exc: Exception) -> Exception | None:
    """What to raise instead of `exc`, or None when nothing in it is secret."""
    whole = "".join(traceback.format_exception(exc))
    if isinstance(exc, Failure):
        texts = [whole, exc.description or "", *(repr(v) for v in (exc.metadata or {}).values())]
        if all(redact(t) == t for t in texts):
            return None
        metadata = {k: MetadataValue.text(redact(getattr(v, "value", v))) for k, v in (exc.metadata or {}).items()}
        return Failure(description=redact(exc.description or ""), metadata=metadata, allow_retries=exc.allow_retries)
    if redact(whole) == whole:
        return None
    if isinstance(exc, RetryRequested):  # keep the retry, not the secret-carrying cause
        retry = RetryRequested(max_retries=exc.max_retries, seconds_to_wait=exc.seconds_to_wait)
        retry.__cause__ = RedactedStepError(redact(whole))
        retry.__suppress_context__ = True
        return retry
    first = redact(f"{type(exc).__name__}: {exc}")
    return RedactedStepError(f"{first}\n\n(original traceback, redacted)\n{redact(whole)}")


def _raise_clean(exc: Exception) -> None:
    clean = _replacement(exc)
    if clean is None:
        raise exc
    raise clean from clean.__cause__  # None unless a RetryRequested carries its redacted cause


def _filter_run_log(args: tuple[Any, ...]) -> None:
    """The redacting filter on the log manager of the step's context (once per log manager)."""
    for arg in args:
        if isinstance(arg, AssetExecutionContext | OpExecutionContext | AssetCheckExecutionContext):
            log = arg.log
            if isinstance(log, logging.Logger) and not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())


def redacted(fn: F) -> F:
    """`fn` whose failures pass `ingest.redact` (see the module's docstring); generators stay generators."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            _filter_run_log((*args, *kwargs.values()))
            try:
                return (yield from fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - every failure, Dagster's own included
                _raise_clean(exc)

        wrapper: Any = gen_wrapper
    else:

        @functools.wraps(fn)
        def call_wrapper(*args: Any, **kwargs: Any) -> Any:
            _filter_run_log((*args, *kwargs.values()))
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                _raise_clean(exc)

        wrapper = call_wrapper
    setattr(wrapper, MARK, True)
    return wrapper


def is_redacted(fn: Any) -> bool:
    return bool(getattr(fn, MARK, False))
