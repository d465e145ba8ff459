"""`tickwh hot-loader`: a long-lived hot loader, polling the stream and loading new sequences.

The Dagster path (hot_load_sensor -> hot_load runs) starts a process per range; this loop is the
low-latency alternative docs/live.md names, and the process whose `/metrics`
(TICKWH_HOT_METRICS_PORT) Prometheus scrapes. It resumes from the highest `stream_seq` the hot tier
holds, and `load_range` is exactly-once whatever it overlaps, so a restart after a kill is safe.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Sequence

from ingest import args as rules
from ingest.args import Parser
from ingest.feed.stream import DEFAULT_STREAM, connect, stream_state
from ingest.hot import HotSettings, HotTarget, load_range, open_hot_tier
from ingest.hot import position as hot_position
from ingest.logs import setup_logging
from ingest.monitoring.metrics import HotMetrics, serve
from ingest.redact import redact_url
from ingest.settings import Settings

log = logging.getLogger(__name__)
MAX_RANGE = 20_000  # messages per load, as the sensor requests them


def _last_seq(url: str, stream: str) -> int:
    async def read() -> int:
        nc = await connect(url, name="tickwh-hot-loader")
        try:
            return (await stream_state(nc.jetstream(), stream)).last_seq
        finally:
            await nc.close()

    return asyncio.run(read())


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = Parser(prog="tickwh hot-loader", description=__doc__.splitlines()[0])
    parser.add_argument("--nats", type=rules.arg(rules.url("nats", "tls")), default=settings.nats_url)
    parser.add_argument("--stream", type=rules.arg(rules.stream_name), default=DEFAULT_STREAM)
    # 0.5 s: freshness (event to queryable) is about half the poll plus the feed's 100 ms batch, p95 0.65 s
    # measured (bench/live_bench.py); at 1 s its p95 was 1.09 s.
    parser.add_argument("--poll-s", type=rules.arg(rules.bounded_float(0.01, 60)), default=0.5,
                        help="seconds between looks at the stream (default 0.5)")
    parser.add_argument("--metrics-port", type=rules.arg(rules.bounded_int(0, 65535)),
                        default=settings.hot_metrics_port,
                        help="serve Prometheus /metrics here (default TICKWH_HOT_METRICS_PORT; 0: off)")
    parser.add_argument("--metrics-addr", type=rules.arg(rules.host), default="127.0.0.1")
    args = parser.parse_args(argv)
    redact_url(args.nats)  # the URL's password is a secret from here on (the log filter masks it)
    setup_logging()  # the one format, through the one redaction point
    metrics = HotMetrics()
    serve(metrics.registry, args.metrics_port, args.metrics_addr)
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    target = HotTarget(url=settings.clickhouse_url, path=settings.chdb_path)
    with open_hot_tier(target, HotSettings()) as client:
        landed = hot_position.held_seq(client)
        metrics.loaded_seq.set(landed)
        writer = f"tickwh hot-loader pid {os.getpid()}"

        def publish() -> None:
            # What the hot tier holds, for the freshness sensor and `tickwh status`, which cannot
            # open the chdb directory this process holds (ingest/hot/position.py).
            hot_position.record(settings.monitoring_dir, target.describe(), args.stream, landed, writer)

        publish()
        while not stop:
            last = _last_seq(args.nats, args.stream)
            metrics.lag_messages.set(max(last - landed, 0))
            if last > landed:
                hi = min(last, landed + MAX_RANGE)
                started = time.perf_counter()
                done = load_range(client, landed + 1, hi, url=args.nats, stream=args.stream)
                metrics.insert_seconds.observe(time.perf_counter() - started)
                metrics.messages.inc(done.messages)
                metrics.trades.inc(done.trades)
                metrics.already.inc(done.already_present)
                landed = hi
                publish()
                metrics.loaded_seq.set(landed)
                metrics.lag_messages.set(max(last - landed, 0))
                metrics.last_load.set(time.time())
                continue
            time.sleep(args.poll_s)
    return 0
