"""Vendor data as assets: a vendor's day staged into the landing folder, and the exchange's klines."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue

from ingest.vendors.reference import load_klines_reference
from ingest.vendors.source import find_klines_files, stage_vendor_day_report
from orchestration.defs.vendors.resources import VendorSourceResource
from orchestration.lib.daily import daily_asset
from orchestration.lib.metadata import markdown_table, preview
from orchestration.lib.partitions import days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.resources import LandingZoneResource, WarehouseResource


@daily_asset(
    group_name="landing",
    kinds={"python"},
    description=(
        "A vendor's files for the day (Tardis or Binance public data, folder or S3), checksums verified, "
        "written or linked into the landing folder in the Tardis layout the raw loaders read."
    ),
)
def vendor_landing(
    context: AssetExecutionContext, vendor_source: VendorSourceResource, landing: LandingZoneResource
) -> MaterializeResult:
    if not vendor_source.configured:
        raise Failure(
            "vendor_source is not configured: set TICKWH_VENDOR_PATH (and TICKWH_VENDOR, TICKWH_VENDOR_MARKET, "
            "TICKWH_VENDOR_SYMBOLS) or pass resources={'vendor_source': VendorSourceResource(...)}; see docs/vendors.md"
        )
    source = vendor_source.to_source()
    days = days_in_window(context.partition_time_window)
    rows: list[list[Any]] = []
    n_files = 0
    for i, day in enumerate(days, 1):
        context.log.info(f"staging {source.vendor} {source.market} {day} from {source.path} ({i}/{len(days)})")
        staged = stage_vendor_day_report(source, day, landing.path)
        n_files += len(staged.files)
        rows += [[day, d.get("symbol", ""), d.get("data_type", "trades"), d.get("vendor_file", ""),
                  d.get("landing_file", ""), d.get("rows", ""), d.get("sha256", "")[:16]] for d in staged.details]
    return MaterializeResult(
        metadata={
            "vendor": source.vendor,
            "market": source.market,
            "source_path": source.path,
            "landing_files": n_files,
            "files": MetadataValue.md(
                markdown_table(["day", "symbol", "data", "vendor file", "landing file", "rows", "sha256"], rows)
            ),
        }
    )


@daily_asset(
    group_name="reference",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    output_required=False,
    description=(
        "Binance's own published 1-minute klines of the day, checksum-verified, in "
        "reference.binance_klines_1m (exact DECIMAL): the yardstick for ohlcv_1m. Skipped when "
        "binance_reference is not configured."
    ),
)
def binance_klines_reference(
    context: AssetExecutionContext,
    binance_reference: VendorSourceResource,
    warehouse: WarehouseResource,
    landing: LandingZoneResource,
) -> Iterator[MaterializeResult]:
    if not binance_reference.configured:
        context.log.warning("binance_reference is not configured (TICKWH_BINANCE_REFERENCE_PATH): nothing loaded")
        return
    source = binance_reference.to_source(vendor="binance")
    days = days_in_window(context.partition_time_window)
    files = []
    for day in days:
        files += find_klines_files(source, day, work_dir=landing.path / "_vendor_cache")
    with warehouse.connect() as con:
        report = load_klines_reference(con, files, source.market)
        table = preview(
            con,
            "SELECT * EXCLUDE (source_file, source_sha256, loaded_at) FROM reference.binance_klines_1m "
            "WHERE kline_date = ? ORDER BY open_time DESC LIMIT 5",
            [days[-1]],
        )
    yield MaterializeResult(
        metadata={
            "dagster/row_count": sum(report.rows_by_symbol.values()),
            "rows_replaced": report.rows_replaced,
            "rows_by_symbol": MetadataValue.json(report.rows_by_symbol),
            "files": MetadataValue.json(report.files),
            "preview": table,
        }
    )
