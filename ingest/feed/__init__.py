"""The live path's first half: a feed handler that publishes trades to NATS JetStream.

Plain Python (no Dagster): it runs as its own long-lived process next to the exchange
connection, and Dagster only reads what it has stored. See docs/live.md.
"""

from ingest.feed.codec import decode, encode, parse_subject, subject_for
from ingest.feed.handler import FeedConfig, FeedHandler, FeedStats
from ingest.feed.stream import StreamSettings, StreamState, ensure_stream, fetch_range

__all__ = [
    "FeedConfig",
    "FeedHandler",
    "FeedStats",
    "StreamSettings",
    "StreamState",
    "decode",
    "encode",
    "ensure_stream",
    "fetch_range",
    "parse_subject",
    "subject_for",
]
