"""The vendor landing job: stage a day's vendor files and load the reference klines."""

from __future__ import annotations

from orchestration.defs.vendors.assets import binance_klines_reference, vendor_landing
from orchestration.lib.daily import daily_job

vendor_landing_job = daily_job(
    "vendor_landing_job", [vendor_landing, binance_klines_reference],
    "Stage a day's vendor files into the landing folder and load the exchange's klines as reference.",
)
