"""The lake maintenance job."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.defs.maintenance.assets import lake_maintenance

lake_maintenance_job = define_asset_job(
    "lake_maintenance_job",
    selection=AssetSelection.assets(lake_maintenance),
    description="Compact the lake and expire old snapshots.",
)
