"""Raw layer: one UTC day of landing files into `raw.trades` / `raw.book_snapshots`."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from ingest.loader import load_day
from orchestration.metadata import load_metadata, preview
from orchestration.partitions import daily_partitions, days_in_window
from orchestration.resources import LandingZoneResource, WarehouseResource

WAREHOUSE_POOL = "duckdb_warehouse"


def _load(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingZoneResource,
    dataset: str,
    table: str,
    date_column: str,
) -> MaterializeResult:
    days = days_in_window(context.partition_time_window)
    reports = []
    with warehouse.connect() as con:
        for i, day in enumerate(days, 1):
            context.log.info(f"loading {dataset} for {day} ({i}/{len(days)})")
            kwargs = {"books": landing.books} if dataset == "book_snapshots" else {}
            reports.append(load_day(con, landing.path, day, dataset, **kwargs))
        metadata = load_metadata(reports)
        missing = [f"{r.day}: {ex}" for r in reports for ex in r.missing_book_files]
        if missing:
            # Allowed (trades-only exchanges), but visible: the book statistics of these days are NULL.
            context.log.warning(f"no book file (trades-only, book statistics NULL): {', '.join(missing)}")
            metadata["missing_book_files"] = MetadataValue.json(missing)
        metadata["preview"] = preview(
            con,
            f"SELECT * EXCLUDE (source_file) FROM {table} WHERE {date_column} = ? ORDER BY ts DESC LIMIT 5",
            [days[-1]],
        )
    return MaterializeResult(metadata=metadata)


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Exchange trade ticks of one UTC day, parsed and sanity-checked; rejects go to raw.quarantine.",
)
def raw_trades(
    context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource
) -> MaterializeResult:
    return _load(context, warehouse, landing, "trades", "raw.trades", "trade_date")


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Order-book snapshots (top N levels) of one UTC day; rejects go to raw.quarantine.",
)
def raw_book_snapshots(
    context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource
) -> MaterializeResult:
    return _load(context, warehouse, landing, "book_snapshots", "raw.book_snapshots", "snapshot_date")
