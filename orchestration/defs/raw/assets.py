"""Raw layer: one UTC day of landing files into `raw.trades` / `raw.book_snapshots`."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt

from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue

from ingest.lake import current_snapshot
from ingest.loader import load_day
from ingest.sql import qualified, quote_ident
from orchestration.lib.daily import daily_asset
from orchestration.lib.metadata import load_metadata, preview
from orchestration.lib.partitions import days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.resources import LandingZoneResource, WarehouseResource


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
            try:
                reports.append(load_day(con, landing.path, day, dataset, **kwargs))
            except Exception as exc:
                raise partial_range_failure(dataset, days, [r.day for r in reports], day, exc) from exc
        metadata = load_metadata(reports)
        # The snapshot this run's loads produced: pin it with `--as-of` / HistoricalData(as_of=...).
        metadata["lake_snapshot"] = current_snapshot(con)
        missing = [f"{r.day}: {ex}" for r in reports for ex in r.missing_book_files]
        if missing:
            # Allowed (trades-only exchanges), but visible: the book statistics of these days are NULL.
            context.log.warning(f"no book file (trades-only, book statistics NULL): {', '.join(missing)}")
            metadata["missing_book_files"] = MetadataValue.json(missing)
        metadata["preview"] = preview(
            con,
            f"SELECT * EXCLUDE (source_file) FROM {qualified(*table.split('.'))} WHERE {quote_ident(date_column)} = ? "
            "ORDER BY ts DESC LIMIT 5",
            [days[-1]],
        )
    return MaterializeResult(metadata=metadata)


def partial_range_failure(
    dataset: str, days: list[dt.date], committed: list[dt.date], failed: dt.date, exc: BaseException
) -> Failure:
    """A ranged load stopped at `failed`: say which days now hold new raw rows under old marts.

    Each day commits on its own (one snapshot a day), so the days before the failure keep their
    reload; the marts of the range are not rebuilt because this step failed. A rerun of the same
    range after fixing the cause reloads every day and rebuilds the marts: it converges.
    """
    rest = [d for d in days if d > failed]
    lines = [f"{dataset} for {failed} failed: {exc}"]
    if committed:
        lines.append(
            f"{len(committed)} day(s) before it were reloaded and committed ({committed[0]}..{committed[-1]}): "
            "their raw rows are newer than their marts until this range is rerun successfully"
        )
    if rest:
        lines.append(f"{len(rest)} day(s) not attempted ({rest[0]}..{rest[-1]})")
    return Failure(
        description="; ".join(lines),
        metadata={
            "failed_day": str(failed),
            "reloaded_days": [str(d) for d in committed],
            "not_attempted_days": [str(d) for d in rest],
            "error": f"{type(exc).__name__}: {exc}",
        },
    )


def _raw_asset(name: str, dataset: str, table: str, date_column: str, description: str) -> AssetsDefinition:
    """One day-partitioned raw table, loaded from the landing files of its dataset."""

    @daily_asset(
        name=name,
        group_name="raw",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description=description,
    )
    def _asset(
        context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource
    ) -> MaterializeResult:
        return _load(context, warehouse, landing, dataset, table, date_column)

    return _asset


raw_trades = _raw_asset(
    "raw_trades", "trades", "raw.trades", "trade_date",
    "Exchange trade ticks of one UTC day, parsed and sanity-checked; rejects go to raw.quarantine.",
)
raw_book_snapshots = _raw_asset(
    "raw_book_snapshots", "book_snapshots", "raw.book_snapshots", "snapshot_date",
    "Order-book snapshots (top N levels) of one UTC day; rejects go to raw.quarantine.",
)
