"""`ohlcv_1m_matches_exchange_klines`: our bars against the exchange's own published klines."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
)

from ingest.vendors.reference import TOLERANCE_TEXT, compare_with_reference
from orchestration.defs.vendors.resources import VendorSourceResource
from orchestration.lib.daily import optional_daily_check
from orchestration.lib.metadata import not_evaluated
from orchestration.lib.partitions import days_in_window
from orchestration.lib.resources import WarehouseResource

CHECK_NAME = "ohlcv_1m_matches_exchange_klines"
MAX_MISMATCH_ROWS = 20


# Ends without a result (Dagster shows it as skipped) when no reference exists.
@optional_daily_check(
    CHECK_NAME,
    AssetKey("ohlcv_1m"),
    (
        "Our 1m bars (gap-filled like klines) and 1h bars equal the exchange's published klines: OHLC, "
        "volume, trade count and taker buy volume exactly, quote volume within trade_count x 1e-8. WARN: "
        "the exchange archive is itself revised after the fact and a vendor capture can miss trades the "
        "exchange printed, so a difference is a finding to investigate, not proof the bars are wrong. "
        "Compared nothing (reference configured, no klines for the days): a WARN marked evaluated=false. "
        "No reference configured and none loaded: not evaluated at all (skipped)."
    ),
    additional_deps=[AssetKey("ohlcv_1m_filled"), AssetKey("ohlcv_1h"), AssetKey("binance_klines_reference")],
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
