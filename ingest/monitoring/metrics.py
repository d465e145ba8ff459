"""Live metrics for Prometheus: what the feed handler and the hot loader count, on `/metrics`.

The standard client (`prometheus_client`); each process serves its own registry on the port its
setting names (TICKWH_FEED_METRICS_PORT, TICKWH_HOT_METRICS_PORT; 0 or unset: no endpoint, the
counters still cost next to nothing). Names are listed in docs/operations.md, with
ops/prometheus/alerts.yml as example rules.

Ages are computed when Prometheus scrapes (a collector), so a stalled feed shows a growing age
rather than a frozen one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Ages(Collector):
    """`<name>{exchange,symbol}` = seconds since the last trade of each symbol went out."""

    def __init__(self, name: str, doc: str) -> None:
        self.name, self.doc = name, doc
        self.last: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.doc, labels=["exchange", "symbol"])
        now = time.time()
        for (exchange, symbol), at in sorted(self.last.items()):
            family.add_metric([exchange, symbol], now - at)
        yield family


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        labels = ["exchange", "symbol"]
        self.trades_in = Counter("tickwh_feed_trades_in", "Trades read from the source (before checks)", labels,
                                 registry=r)
        self.trades_published = Counter("tickwh_feed_trades_published", "Trades acknowledged by JetStream", labels,
                                        registry=r)
        self.messages_published = Counter("tickwh_feed_messages_published", "Batches acknowledged by JetStream",
                                          registry=r)
        self.gaps = Counter("tickwh_feed_sequence_gaps", "Jumps in trade ids (trades never delivered)", labels,
                            registry=r)
        self.missing_ids = Counter("tickwh_feed_missing_ids", "Trade ids skipped by the gaps", labels, registry=r)
        self.duplicates = Counter("tickwh_feed_duplicates", "Trades dropped as repeats of an id already seen",
                                  labels, registry=r)
        self.reconnects = Gauge("tickwh_feed_nats_reconnects", "Reconnects of the NATS client since start",
                                registry=r)
        self.publish_retries = Counter("tickwh_feed_publish_retries", "Failed publish attempts retried", registry=r)
        self.publish_seconds = Histogram("tickwh_feed_publish_seconds", "Publish to JetStream ack, per batch",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.imbalance = Gauge("tickwh_feed_trade_imbalance",
                               "(buy - sell) / (buy + sell) volume of the last batch, -1..1", labels, registry=r)
        self.ages = _Ages("tickwh_feed_last_trade_age_seconds", "Seconds since the symbol's last trade was published")
        r.register(self.ages)

    def published(self, key: tuple[str, str], trades: int, seconds: float, buy: float, sell: float) -> None:
        self.trades_published.labels(*key).inc(trades)
        self.messages_published.inc()
        self.publish_seconds.observe(seconds)
        if buy + sell > 0:
            self.imbalance.labels(*key).set((buy - sell) / (buy + sell))
        self.ages.last[key] = time.time()


class HotMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.messages = Counter("tickwh_hot_messages_loaded", "Stream messages read by the hot loader", registry=r)
        self.trades = Counter("tickwh_hot_trades_inserted", "Trades inserted into hot_trades", registry=r)
        self.already = Counter("tickwh_hot_trades_already_present", "Trades found present (overlap, retry)",
                               registry=r)
        self.insert_seconds = Histogram("tickwh_hot_insert_seconds", "Wall time of one range load's inserts",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.loaded_seq = Gauge("tickwh_hot_loaded_seq", "Highest stream sequence the hot tier holds", registry=r)
        self.lag_messages = Gauge("tickwh_hot_lag_messages", "Stream messages not yet in the hot tier", registry=r)
        self.last_load = Gauge("tickwh_hot_last_load_timestamp_seconds", "When the last range load ended",
                               registry=r)


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> None:
    """`/metrics` on `addr:port` in a daemon thread; port 0 means no endpoint."""
    if port:
        start_http_server(port, addr=addr, registry=registry)
