"""`python -m ingest.feed --file <trades.csv.gz> --speed 10 --nats nats://127.0.0.1:4222`.

Prints one JSON line when the replay clock starts (wall time and the exchange time it maps
to, so a benchmark can measure event-to-queryable latency) and one with the totals at the end.
SIGINT/SIGTERM stop reading and flush what was read, waiting for its acknowledgements for at most
`STOP_GRACE_S`; every back-off wait (NATS unreachable) ends at once. The process then exits within
2 s with the shell's status for the signal (130 for SIGINT, 143 for SIGTERM) and one line on stderr;
a second signal stops at once. Whatever was not acknowledged is published again on the next start
(resume), as after a crash (SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ingest import args as rules
from ingest.args import Parser
from ingest.errors import run
from ingest.feed.codec import ENCODINGS
from ingest.feed.handler import FeedConfig, FeedHandler
from ingest.feed.stream import DEFAULT_STREAM, DEFAULT_URL, StreamSettings
from ingest.logs import setup_logging
from ingest.redact import redact_url
from ingest.retry import Interrupted

STOP_GRACE_S = 1.5  # after a signal, the longest the flush may take before the run is cancelled


def _speed(text: str) -> float | None:
    if text.lower() in ("max", "inf", "0"):  # as fast as it goes
        return None
    return rules.bounded_float(0.001, 1_000_000)(text.lower().removesuffix("x"))


def _trades_file(text: str) -> Path:
    path = rules.existing_file(text)
    if not path.name.endswith((".csv", ".csv.gz")):
        raise rules.Invalid(f"{rules.shown(text)} is not a .csv or .csv.gz file")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="tickwh feed", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=rules.arg(_trades_file), required=True,
                        help="Tardis trades CSV (.csv or .csv.gz)")
    parser.add_argument("--speed", type=rules.arg(_speed), default=1.0, help="replay speed: 1, 10, ... or 'max'")
    parser.add_argument("--nats", type=rules.arg(rules.url("nats", "tls")), default=DEFAULT_URL,
                        help="NATS server URL")
    parser.add_argument("--stream", type=rules.arg(rules.stream_name), default=DEFAULT_STREAM)
    parser.add_argument("--batch-trades", type=rules.arg(rules.bounded_int(1, 1_000_000)), default=1000,
                        help="most trades in one message")
    parser.add_argument("--batch-ms", type=rules.arg(rules.bounded_float(0, 60_000)), default=100.0,
                        help="longest a trade waits for its batch")
    parser.add_argument("--encoding", choices=ENCODINGS, default="arrow")
    parser.add_argument("--max-age-hours", type=rules.arg(rules.bounded_float(0.01, 24 * 3660)), default=25.0,
                        help="stream retention")
    parser.add_argument("--duplicate-window-s", type=rules.arg(rules.bounded_float(0, 86_400)), default=600.0)
    parser.add_argument("--no-resume", action="store_true", help="do not skip what the stream already holds")
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--metrics-port", type=rules.arg(rules.bounded_int(0, 65535)), default=None,
                        help="serve Prometheus /metrics here (default TICKWH_FEED_METRICS_PORT; 0: off)")
    parser.add_argument("--metrics-addr", type=rules.arg(rules.host), default="127.0.0.1",
                        help="address of /metrics (0.0.0.0: every interface)")
    args = parser.parse_args(argv)
    redact_url(args.nats)  # the URL's password is a secret from here on (the log filter masks it)
    setup_logging()  # the one format, through the one redaction point
    logging.getLogger().setLevel(args.log_level.upper())
    config = FeedConfig(
        nats_url=args.nats,
        stream=StreamSettings(
            name=args.stream, max_age_s=args.max_age_hours * 3600, duplicate_window_s=args.duplicate_window_s
        ),
        speed=args.speed,
        batch_max_trades=args.batch_trades,
        batch_max_delay_ms=args.batch_ms,
        encoding=args.encoding,
        resume=not args.no_resume,
    )
    handler = FeedHandler(config)
    from ingest.monitoring.metrics import serve
    from ingest.settings import Settings

    port = args.metrics_port if args.metrics_port is not None else Settings.from_env().feed_metrics_port
    serve(handler.metrics.registry, port, args.metrics_addr)

    def started(wall_us: int, ts_us: int) -> None:
        start = {"event": "replay_start", "wall_us": wall_us, "ts_us": ts_us, "speed": args.speed}
        print(json.dumps(start), flush=True)

    handler.on_replay_start = started

    signals: list[signal.Signals] = []

    async def replay() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(sig: signal.Signals) -> None:
            if signals:  # a second signal: stop now
                task.cancel()
                return
            signals.append(sig)
            handler.stop()  # stop reading, flush; ends every back-off wait at once
            loop.call_later(STOP_GRACE_S, task.cancel)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        stats = await handler.run(args.file)
        print(json.dumps({"event": "done", **stats.as_dict()}), flush=True)

    try:
        asyncio.run(replay())
    except (asyncio.CancelledError, Interrupted):
        if not signals:
            raise
    if signals:
        sig = signals[0]
        print(f"tickwh feed: stopped by {sig.name}; what was not acknowledged is sent again on the next start",
              file=sys.stderr, flush=True)
        return 128 + sig.value
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
