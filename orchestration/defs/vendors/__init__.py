"""Real vendor data in the platform: staging a vendor's day into the landing folder, loading the
exchange's own klines as reference data, and checking our bars against them.

Dependency choice: `vendor_landing` is its own daily-partitioned asset (group `landing`) and
`raw_trades` does NOT depend on it. The raw loaders read whatever is in the landing folder
(the simulator, a vendor sync outside Dagster, or this asset), so making them depend on a
vendor asset would break the deployments that have no vendor configured. The order is made
by a job and a sensor instead:

    vendor_landing_job (vendor_landing + binance_klines_reference, day D)
        --success--> sensor daily_pipeline_after_vendor_landing --> daily_pipeline (day D)

The daily pipeline then builds the marts and runs the asset check
`ohlcv_1m_matches_exchange_klines`, which compares the day's bars with the reference klines.
See docs/vendors.md for the configuration and the backfill commands.
"""

