"""The archive job: the day's tables to the cold tier, then warm retention."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.defs.cold.assets import cold_archive, warm_retention
from orchestration.lib.partitions import daily_partitions
from orchestration.lib.pools import WRITER_TAGS

archive_job = define_asset_job(
    "archive",
    selection=AssetSelection.assets(cold_archive, warm_retention),
    partitions_def=daily_partitions,
    tags=WRITER_TAGS,
    description="Archive the day's raw ticks and bars to Parquet on S3, then drop expired warm days.",
)
