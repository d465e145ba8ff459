"""Lake maintenance: an asset that merges small files and expires old snapshots."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ingest.lake import current_snapshot
from ingest.lake_admin import maintain
from ingest.settings import Settings
from orchestration.lib.redaction import redacted
from orchestration.lib.resources import WarehouseResource


def default_keep_days() -> float:
    """How long a snapshot stays readable with `as_of` (TICKWH_LAKE_KEEP_DAYS, default 30 days)."""
    return Settings.from_env().lake_keep_days


class LakeMaintenanceConfig(Config):
    keep_days: float = Field(
        default_factory=default_keep_days, ge=1, le=3650,
        description="snapshots older than this are expired; a backtest pinned to one can no longer read it",
    )


@asset(
    group_name="maintenance",
    kinds={"ducklake"},
    description="Merges the lake's small Parquet files, expires snapshots older than keep_days and deletes "
    "the files no kept snapshot reads. Answers at the current snapshot do not change.",
)
@redacted
def lake_maintenance(
    context: AssetExecutionContext, config: LakeMaintenanceConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    with warehouse.connect() as con:
        report = maintain(con, keep=dt.timedelta(days=config.keep_days))
        snapshot = current_snapshot(con)
    context.log.info(
        f"files {report.files_before} -> {report.files_after}, snapshots {report.snapshots_before} -> "
        f"{report.snapshots_after}"
    )
    return MaterializeResult(
        metadata={
            "files_before": report.files_before,
            "files_after": report.files_after,
            "snapshots_before": report.snapshots_before,
            "snapshots_after": report.snapshots_after,
            "expired_before": MetadataValue.timestamp(report.expired_before),
            "lake_snapshot": snapshot,
            "rows": MetadataValue.json(report.rows),
            "seconds": round(report.seconds, 2),
        }
    )
