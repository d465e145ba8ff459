"""Cold tier in Dagster: the daily `cold_archive` asset and `warm_retention`.

The work itself lives in `ingest.cold` (plain Python, shared with the API and the benchmark);
these assets add scheduling, lineage (archive after the day's raw load and marts; retention
after the archive) and metadata a person can audit: what was written where, what was dropped
and why a day was kept.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import json
import time
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Config, MaterializeResult, MetadataValue
from pydantic import Field

from ingest.cold.archive import TableArchive, archive_days
from ingest.cold.layout import ALL_TABLES, RAW_TRADES
from ingest.cold.retention import ALLOW_LOCAL_ENV, allow_local_from_env, enforce_retention
from ingest.settings import Settings
from orchestration.defs.cold.resources import ColdStorageResource
from orchestration.defs.raw.assets import raw_book_snapshots, raw_trades
from orchestration.lib.daily import daily_asset
from orchestration.lib.metadata import markdown_table
from orchestration.lib.partitions import days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.resources import WarehouseResource

# Every mart of the day is archived too (small next to the raw tables); the asset depends on all.
ARCHIVED_MART_KEYS = [AssetKey(t.name) for t in ALL_TABLES if t.source.startswith("marts.")]


def _archive_metadata(results: list[TableArchive], where: str, seconds: float) -> dict[str, Any]:
    rows: dict[str, int] = {}
    size: dict[str, int] = {}
    for r in results:
        rows[r.table] = rows.get(r.table, 0) + r.rows
        size[r.table] = size.get(r.table, 0) + r.bytes
    trades = [r for r in results if r.table == RAW_TRADES.name]
    kept = [f"{r.table} {r.day}: {r.note}" for r in results if r.status == "kept_existing"]
    per_table = markdown_table(
        ["day", "table", "status", "rows", "bytes", "seconds", "manifest"],
        [[r.day, r.table, r.status, r.rows, r.bytes, f"{r.seconds:.2f}", r.manifest_key] for r in results],
    )
    meta: dict[str, Any] = {
        "store": MetadataValue.text(where),
        "rows_by_table": MetadataValue.json(rows),
        "bytes_by_table": MetadataValue.json(size),
        "bytes_total": sum(size.values()),
        "raw_trades_rows": rows.get(RAW_TRADES.name, 0),
        "rows_per_second": round(sum(rows.values()) / seconds, 1) if seconds > 0 else 0.0,
        "keys": MetadataValue.json(sorted(k for r in results for k in r.keys)),
        "manifests": MetadataValue.json(sorted({r.manifest_key for r in results})),
        "old_objects_deleted": sum(len(r.deleted_keys) for r in results),
        "per_table": MetadataValue.md(per_table),
        "seconds": round(seconds, 3),
    }
    if trades:
        meta["manifest"] = MetadataValue.json(json.loads(trades[-1].manifest.to_json()))
    if kept:
        meta["kept_existing"] = MetadataValue.json(kept)
    return meta


@daily_asset(
    deps=[raw_trades, raw_book_snapshots, *ARCHIVED_MART_KEYS],
    group_name="cold",
    kinds={"s3", "parquet"},
    pool=WAREHOUSE_POOL,
)
def cold_archive(
    context: AssetExecutionContext, warehouse: WarehouseResource, cold: ColdStorageResource
) -> MaterializeResult:
    """The day's raw trades, book snapshots, OHLCV bars and daily stats as zstd Parquet in the cold tier
    (one Hive partition per table and day, replaced whole; a manifest with row counts and sha256)."""
    days = days_in_window(context.partition_time_window)
    tier = cold.open()
    started = time.perf_counter()
    with warehouse.connect(read_only=True) as con:
        results = archive_days(con, tier, days, ALL_TABLES, on_progress=context.log.info)
    elapsed = time.perf_counter() - started
    return MaterializeResult(metadata=_archive_metadata(results, cold.config().describe(), elapsed))


class RetentionConfig(Config):
    """Launchpad-tunable retention policy."""

    warm_days: int = Field(
        default_factory=lambda: Settings.from_env().warm_days, ge=1,
        description="days of raw ticks kept warm, counting the run's day",
    )
    deep_verify: bool = Field(
        default=True, description="download each archive and check its sha256 before dropping (else HEAD only)"
    )
    allow_local_cold_store: bool = Field(
        default_factory=allow_local_from_env,
        description=(
            "drop warm rows even when the cold store is a local directory (var/cold: same disk, deleted by "
            f"`make clean`); default from {ALLOW_LOCAL_ENV}"
        ),
    )


@daily_asset(
    deps=[cold_archive],
    group_name="cold",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Drops raw.trades / raw.book_snapshots days older than `warm_days` (counted back from the run's "
        "last day) once their cold archive verifies; marts stay warm. Reports every day it kept, and why."
    ),
)
def warm_retention(
    context: AssetExecutionContext, config: RetentionConfig, warehouse: WarehouseResource, cold: ColdStorageResource
) -> MaterializeResult:
    as_of = days_in_window(context.partition_time_window)[-1]
    tier = cold.open()
    with warehouse.connect() as con:
        report = enforce_retention(
            con, tier, as_of=as_of, warm_days=config.warm_days, deep=config.deep_verify,
            allow_local_store=config.allow_local_cold_store, on_progress=context.log.info,
        )
    for verdict in report.kept:
        context.log.warning(f"kept {verdict.day} warm: {verdict.reason}")
    return MaterializeResult(
        metadata={
            "as_of": MetadataValue.text(as_of.isoformat()),
            "warm_days": config.warm_days,
            "cutoff": MetadataValue.text(report.cutoff.isoformat()),
            "dropped_days": MetadataValue.json([v.day.isoformat() for v in report.dropped]),
            "rows_dropped": MetadataValue.json(report.rows_dropped),
            "kept_days": MetadataValue.md(
                markdown_table(["day", "reason"], [[v.day, v.reason] for v in report.kept]) if report.kept else "none"
            ),
            "store": MetadataValue.text(cold.config().describe()),
            "seconds": round(report.seconds, 3),
        }
    )
