"""The vendor landing job: stage a day's vendor files and load the reference klines."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.defs.vendors.assets import binance_klines_reference, vendor_landing
from orchestration.lib.partitions import daily_partitions
from orchestration.lib.pools import WRITER_TAGS

vendor_landing_job = define_asset_job(
    "vendor_landing_job",
    selection=AssetSelection.assets(vendor_landing, binance_klines_reference),
    partitions_def=daily_partitions,
    tags=WRITER_TAGS,
    description="Stage a day's vendor files into the landing folder and load the exchange's klines as reference.",
)
