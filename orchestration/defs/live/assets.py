"""`hot_trades`: the ClickHouse hot tier as an asset, so its freshness check has somewhere to live.

An external asset (an `AssetSpec`): Dagster does not materialize it. It is loaded by `hot_load`
runs (an op job, one per stream range) or by the long-lived `tickwh hot-loader` outside Dagster,
so neither its materializations nor its runs say how fresh it is; its `freshness` check judges
what it holds (orchestration/defs/monitoring/freshness.py).
"""

from dagster import AssetSpec

from ingest.monitoring.freshness import promise

hot_trades = AssetSpec(
    "hot_trades",
    description=f"The live hot tier (ClickHouse `hot_trades` and its 1-minute bars), loaded from the TRADES "
    f"stream by hot_load runs or `tickwh hot-loader`. Promise: {promise('hot_trades').text}.",
    group_name="live",
    kinds={"clickhouse"},
)
