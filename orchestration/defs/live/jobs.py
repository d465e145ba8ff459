"""`hot_load`: one JetStream sequence range into the hot tier, exactly once."""

# No `from __future__ import annotations`: Dagster inspects annotations at runtime.
from dagster import Backoff, Config, MetadataValue, OpExecutionContext, RetryPolicy, job, op
from pydantic import Field

from ingest.hot import load_range
from ingest.hot import position as hot_position
from orchestration.defs.live.resources import HotTierResource, NatsResource
from orchestration.lib.pools import HOT_TIER_POOL
from orchestration.lib.redaction import redacted


class HotLoadConfig(Config):
    first_seq: int = Field(description="first JetStream stream sequence of the range (inclusive)")
    last_seq: int = Field(description="last JetStream stream sequence of the range (inclusive)")


@op(
    pool=HOT_TIER_POOL,
    retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
    tags={"dagster/kind/clickhouse": ""},
)
@redacted
def load_stream_range(
    context: OpExecutionContext, config: HotLoadConfig, nats: NatsResource, hot: HotTierResource
) -> int:
    """Insert the trades of stream sequences [first_seq, last_seq] into the hot tier, exactly once."""
    with hot.open() as client:
        result = load_range(client, config.first_seq, config.last_seq, url=nats.url, stream=nats.stream,
                            connect_deadline_s=nats.connect_deadline_s)
        # Published for the freshness sensor, which judges the hot tier by what it holds, not by
        # which runs succeeded (the hot-loader publishes the same way): ingest/hot/position.py.
        held = hot_position.held_seq(client)
        if hot.monitoring_dir:
            hot_position.record(hot.monitoring_dir, hot.target().describe(), nats.stream, held,
                                f"hot_load run {context.run_id}")
    context.log.info(
        f"sequences {config.first_seq}-{config.last_seq}: {result.messages} messages, {result.trades} trades "
        f"({result.missing} no longer in the stream)"
    )
    context.add_output_metadata(
        {
            "messages": result.messages,
            "trades": result.trades,
            "missing_sequences": result.missing,
            "inserts": result.inserts,
            "fetch_seconds": round(result.fetch_seconds, 3),
            "insert_seconds": round(result.insert_seconds, 3),
            "trades_by_subject": MetadataValue.json(result.subjects),
            "hot_tier_holds_seq": held,
        }
    )
    return result.trades


@job(
    description="Load one JetStream sequence range of trade batches into the ClickHouse hot tier (idempotent).",
    tags={"tickwh/path": "live"},
)
def hot_load() -> None:
    load_stream_range()
