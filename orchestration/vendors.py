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

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    BackfillPolicy,
    ConfigurableResource,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multi_asset_check,
    run_status_sensor,
)
from pydantic import Field

from ingest.names import InvalidNameError, canonical_symbol
from ingest.vendors.reference import TOLERANCE_TEXT, compare_with_reference, load_klines_reference
from ingest.vendors.source import TARDIS_BOOK_TYPES, VendorSource, find_klines_files, stage_vendor_day_report
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.jobs import WRITER_TAGS, daily_pipeline
from orchestration.metadata import markdown_table, not_evaluated, preview
from orchestration.partitions import PARTITION_TAG, RANGE_END, RANGE_START, daily_partitions, days_in_window
from orchestration.resources import LandingZoneResource, WarehouseResource

CHECK_NAME = "ohlcv_1m_matches_exchange_klines"
MAX_MISMATCH_ROWS = 20


def _env_list(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


def _env_symbols(name: str) -> list[str]:
    """Symbols listed in an environment variable, refused (naming the variable) before any use."""
    try:
        return [canonical_symbol(s) for s in _env_list(name)]
    except InvalidNameError as exc:
        raise InvalidNameError(f"{name}: {exc}") from exc


class VendorSourceResource(ConfigurableResource):
    """Where a vendor's daily files are and which of them to take (see `ingest.vendors.source.VendorSource`).

    An empty `path` means "not configured": `vendor_landing` then fails with a clear message and
    `binance_klines_reference` skips.
    """

    vendor: str = Field(default="tardis", description="tardis or binance")
    market: str = Field(default="usdm", description="spot (exchange `binance`) or usdm (`binance-futures`)")
    path: str = Field(default="", description="folder or s3://bucket/prefix holding the vendor files")
    symbols: list[str] = Field(default_factory=list, description="symbols; empty = every symbol found (flat folders)")
    exchange: str | None = Field(default=None, description="tardis: exchange id, default from market")
    trades_kind: str = Field(default="trades", description="binance: trades or aggTrades")
    book_data_types: list[str] = Field(
        default_factory=lambda: list(TARDIS_BOOK_TYPES), description="tardis: book sources in order of preference"
    )
    snapshot_depth: int = Field(default=25, description="levels of snapshots rebuilt from incremental_book_L2")
    snapshot_interval_ms: int = Field(default=1000, description="cadence of snapshots rebuilt from incremental_book_L2")
    checksums: str = Field(default="require", description="binance: require, if_present or skip")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, SeaweedFS)")
    cache_dir: str | None = Field(default=None, description="where S3 downloads go; default <landing>/_vendor_cache")

    @property
    def configured(self) -> bool:
        return bool(self.path)

    def to_source(self, vendor: str | None = None) -> VendorSource:
        """The plain config; `vendor` overrides the field (the klines reference is Binance whatever it says)."""
        return VendorSource(
            vendor=vendor or self.vendor,  # type: ignore[arg-type]
            market=self.market,  # type: ignore[arg-type]
            path=self.path,
            symbols=tuple(self.symbols),
            exchange=self.exchange,
            trades_kind=self.trades_kind,  # type: ignore[arg-type]
            book_data_types=tuple(self.book_data_types),
            snapshot_depth=self.snapshot_depth,
            snapshot_interval_ms=self.snapshot_interval_ms,
            checksums=self.checksums,  # type: ignore[arg-type]
            s3_endpoint_url=self.s3_endpoint_url,
            cache_dir=self.cache_dir,
        )


def vendor_source_from_env() -> VendorSourceResource:
    """`vendor_source` from TICKWH_VENDOR, TICKWH_VENDOR_MARKET, TICKWH_VENDOR_PATH, TICKWH_VENDOR_SYMBOLS."""
    return VendorSourceResource(
        vendor=os.environ.get("TICKWH_VENDOR", "tardis"),
        market=os.environ.get("TICKWH_VENDOR_MARKET", "usdm"),
        path=os.environ.get("TICKWH_VENDOR_PATH", ""),
        symbols=_env_symbols("TICKWH_VENDOR_SYMBOLS"),
        trades_kind=os.environ.get("TICKWH_VENDOR_TRADES_KIND", "trades"),
    )


def binance_reference_from_env() -> VendorSourceResource:
    """`binance_reference` from TICKWH_BINANCE_REFERENCE_PATH, _MARKET and _SYMBOLS."""
    return VendorSourceResource(
        vendor="binance",
        market=os.environ.get("TICKWH_BINANCE_REFERENCE_MARKET", "usdm"),
        path=os.environ.get("TICKWH_BINANCE_REFERENCE_PATH", ""),
        symbols=_env_symbols("TICKWH_BINANCE_REFERENCE_SYMBOLS"),
    )


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
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


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
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


@multi_asset_check(
    name=CHECK_NAME,
    specs=[
        AssetCheckSpec(
            CHECK_NAME,
            asset=AssetKey("ohlcv_1m"),
            partitions_def=daily_partitions,
            additional_deps=[AssetKey("ohlcv_1m_filled"), AssetKey("ohlcv_1h"), AssetKey("binance_klines_reference")],
            blocking=False,
            description=(
                "Our 1m bars (gap-filled like klines) and 1h bars equal the exchange's published klines: OHLC, "
                "volume, trade count and taker buy volume exactly, quote volume within trade_count x 1e-8. WARN: "
                "the exchange archive is itself revised after the fact and a vendor capture can miss trades the "
                "exchange printed, so a difference is a finding to investigate, not proof the bars are wrong. "
                "Compared nothing (reference configured, no klines for the days): a WARN marked evaluated=false. "
                "No reference configured and none loaded: not evaluated at all (skipped)."
            ),
        )
    ],
    # Lets the check end without a result (Dagster shows it as skipped) when no reference exists.
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def ohlcv_1m_matches_exchange_klines(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, binance_reference: VendorSourceResource
) -> Iterator[AssetCheckResult]:
    with warehouse.connect() as con:
        if context.has_partition_key or context.has_partition_key_range:
            days = days_in_window(context.partition_time_window)
            first, end = days[0], days[-1] + dt.timedelta(days=1)
        else:
            # Run outside a partition (e.g. by hand): every day that has reference klines.
            first, last = _reference_bounds(con)
            end = None if last is None else last + dt.timedelta(days=1)
        cmp = None if first is None or end is None else compare_with_reference(
            con, first, end, max_rows=MAX_MISMATCH_ROWS
        )
    if cmp is None or not cmp.evaluated:
        reason = cmp.note if cmp is not None and cmp.note else "no reference klines loaded: nothing to compare"
        if not binance_reference.configured and (cmp is None or not cmp.reference_rows):
            context.log.info(f"{CHECK_NAME} not evaluated: binance_reference is not configured ({reason})")
            return
        yield not_evaluated(reason, {
            "window": f"[{first}, {end})",
            "symbols_missing_from_reference": MetadataValue.json(cmp.symbols_missing_from_reference if cmp else []),
        })
        return
    metadata: dict[str, Any] = {
        "evaluated": True,
        "status": cmp.summary(),
        "window": f"[{cmp.first_day}, {cmp.end_day})",
        "reference_rows": cmp.reference_rows,
        "symbol_days": cmp.symbol_days,
        "minutes_compared": cmp.minutes_compared,
        "minutes_mismatched": cmp.minutes_mismatched,
        "minutes_outside_traded_span": cmp.minutes_outside_span,
        "hours_compared": cmp.hours_compared,
        "hours_mismatched": cmp.hours_mismatched,
        "mismatches_by_field": MetadataValue.json(cmp.by_field),
        "symbols_missing_from_reference": MetadataValue.json(cmp.symbols_missing_from_reference),
        "tolerance": TOLERANCE_TEXT,
        f"first_{MAX_MISMATCH_ROWS}_mismatches": MetadataValue.md(cmp.markdown()),
    }
    missing = cmp.symbols_missing_from_reference
    note = f"; not compared (no reference klines): {', '.join(missing[:10])}" if missing else ""
    yield AssetCheckResult(
        passed=cmp.passed,
        severity=AssetCheckSeverity.WARN,
        description=cmp.summary() + note,
        metadata=metadata,
    )


def _reference_bounds(con: Any) -> tuple[dt.date | None, dt.date | None]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'reference' "
        "AND table_name = 'binance_klines_1m'"
    ).fetchone()[0]
    if not exists:
        return None, None
    return con.execute("SELECT min(kline_date), max(kline_date) FROM reference.binance_klines_1m").fetchone()


vendor_landing_job = define_asset_job(
    "vendor_landing_job",
    selection=AssetSelection.assets(vendor_landing, binance_klines_reference),
    partitions_def=daily_partitions,
    tags=WRITER_TAGS,
    description="Stage a day's vendor files into the landing folder and load the exchange's klines as reference.",
)

# Tardis publishes day D around 06:00 UTC on D+1, Binance's daily archives during D+1 as well.
# Off by default: turn it on (and daily_schedule off) when a vendor feeds the platform.
vendor_landing_schedule = build_schedule_from_partitioned_job(
    vendor_landing_job, hour_of_day=7, minute_of_hour=0, default_status=DefaultScheduleStatus.STOPPED
)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[vendor_landing_job],
    request_job=daily_pipeline,
    default_status=DefaultSensorStatus.RUNNING,
    description="Load and build the day(s) a vendor_landing_job run just staged.",
)
def daily_pipeline_after_vendor_landing(context: RunStatusSensorContext) -> RunRequest | None:
    run = context.dagster_run
    tags = run.tags
    key = f"daily-after-{run.run_id}"
    if RANGE_START in tags and RANGE_END in tags:
        return RunRequest(run_key=key, tags={RANGE_START: tags[RANGE_START], RANGE_END: tags[RANGE_END]})
    if PARTITION_TAG in tags:
        return RunRequest(run_key=key, partition_key=tags[PARTITION_TAG])
    return None
