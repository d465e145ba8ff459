"""One log format for every command, and (orchestration/logs.py) every Dagster run: `time LEVEL source: message`.

Times are UTC, like the partitions.

Third-party INFO chatter (alembic migrations of Dagster's SQLite storage, matplotlib's font cache)
is hidden unless verbose. Colour only on a terminal: dbt colours its lines unless told not to, so
DBT_USE_COLORS is set off when stdout is not a TTY (the dbt processes Dagster starts inherit it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

from ingest.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# INFO from these is about their own machinery, not the user's data.
CHATTY = ("alembic", "matplotlib", "urllib3", "botocore", "boto3", "s3transfer", "great_expectations", "filelock",
          "mail.log")  # mail.log: aiosmtpd, the tests' SMTP receiver
VERBOSE_ENV = "TICKWH_VERBOSE"


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return super().formatTime(record, datefmt) + "Z"


class _Stderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time: a caller (a test's capture) may replace, and
    close, the one that was there when logging was set up."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _Activity(logging.Filter):
    """Remembers when the last line was written, so a heartbeat speaks only into silence."""

    last = time.monotonic()

    def filter(self, record: logging.LogRecord) -> bool:
        _Activity.last = time.monotonic()
        return True


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def setup_logging(verbose_output: bool | None = None) -> None:
    """Root handler with the one format; quiet third parties unless verbose (`-v` or TICKWH_VERBOSE=1)."""
    if verbose_output is None:
        verbose_output = verbose()
    elif verbose_output:
        os.environ[VERBOSE_ENV] = "1"  # for the run workers and dbt processes started from here
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_tickwh", False):
            root.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(_UtcFormatter(FORMAT, DATE_FORMAT))
    handler.addFilter(RedactingFilter())  # the one redaction point (ingest/redact.py)
    handler.addFilter(_Activity())
    handler._tickwh = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose_output else logging.INFO)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose_output else logging.WARNING)
    # Inside a run Dagster hands `dagster.builtin` records (dagster-dbt's) to the run's loggers too,
    # which print them in this format: propagated as well, each line would appear twice.
    logging.getLogger("dagster.builtin").propagate = verbose_output
    if not sys.stdout.isatty():
        os.environ.setdefault("DBT_USE_COLORS", "false")


@contextlib.contextmanager
def heartbeat(log: logging.Logger, what: str, every: float = 5.0) -> Iterator[None]:
    """Log `still <what> (Ns)` whenever `every` seconds pass without any other line."""
    stop = threading.Event()
    t0 = time.monotonic()

    def beat() -> None:
        while not stop.wait(1.0):
            if time.monotonic() - _Activity.last >= every:
                log.info("still %s (%.0fs)", what, time.monotonic() - t0)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
