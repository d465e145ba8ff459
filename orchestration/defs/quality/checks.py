"""Great Expectations suites as blocking Dagster asset checks, one per dataset.

Why blocking: a check that only reports lets bad data flow on. A blocking check that fails with
ERROR severity stops every downstream step of the same run (a raw_trades failure means no dbt
marts for that day), and the failed run does not trigger the rollups sensor. A suite whose
failures are all `warn` expectations reports WARN and lets the run go on.

Checks never delete rows: row-level problems the loader does not quarantine (spikes, id gaps)
are reported with their rule, count and examples (including `source_file`) in the check's
metadata. Removing rows stays the loader's job, so raw.quarantine keeps one writer.

The suites are declared in `expectations/` (raw JSON, the marts' shapes in `marts.yml`) and in the dbt
tests' meta, and run through `ingest.quality` (plain Python).
"""

# No `from __future__ import annotations`: Dagster inspects parameter annotations at runtime.
import datetime as dt
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from ingest.quality import SuiteResult, jsonable, load_suite, suite_names, suite_source, validate, validate_window
from orchestration.defs.marts.project import incremental_marts, marts
from orchestration.lib.metadata import markdown_table
from orchestration.lib.partitions import daily_partitions, days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.redaction import redacted
from orchestration.lib.resources import WarehouseResource

RAW_TABLES = ("raw_trades", "raw_book_snapshots")
# (asset key, suite name): one blocking check per dataset that has a suite named after it. The raw
# tables and the incremental marts (from the dbt manifest) check the run's days; the other marts
# are whole-table rebuilds and are checked whole.
_SUITES = set(suite_names())
_DAILY_MARTS = incremental_marts()
DAILY_SUITES: tuple[tuple[str, str], ...] = tuple(
    (name, name) for name in (*RAW_TABLES, *_DAILY_MARTS) if name in _SUITES
)
TABLE_SUITES: tuple[tuple[str, str], ...] = tuple(
    (name, name) for name in marts() if name in _SUITES and name not in _DAILY_MARTS
)
SUMMARY_COLUMNS = ["status", "rule", "severity", "frame", "observed", "unexpected"]


def check_name(suite: str) -> str:
    return f"ge_{suite}"


def result_metadata(results: Sequence[SuiteResult]) -> dict[str, Any]:
    """Check metadata: a summary table, the failed rules by severity, and one JSON entry per
    expectation (success, observed value, unexpected count, examples)."""
    meta: dict[str, Any] = {}
    if len(results) == 1:
        r = results[0]
        meta["summary"] = MetadataValue.md(markdown_table(SUMMARY_COLUMNS, r.summary_rows()))
        meta["failed_errors"] = MetadataValue.json(r.failed_errors)
        meta["failed_warnings"] = MetadataValue.json(r.failed_warnings)
        meta["rows_by_frame"] = MetadataValue.json(r.rows_by_frame)
        for o in r.outcomes:
            meta[o.rule] = MetadataValue.json(o.to_json())
    else:
        meta["per_day"] = MetadataValue.md(markdown_table(
            ["day", "status", "failed errors", "failed warnings", "rows"],
            [[r.partition, "FAIL" if r.blocking else ("warn" if not r.success else "pass"),
              ", ".join(r.failed_errors), ", ".join(r.failed_warnings), r.rows_by_frame.get("rows", "")]
             for r in results],
        ))
        meta["failed_errors"] = MetadataValue.json({r.partition: r.failed_errors for r in results if r.failed_errors})
        meta["failed_warnings"] = MetadataValue.json(
            {r.partition: r.failed_warnings for r in results if r.failed_warnings}
        )
        for o in results[0].outcomes:
            by_day = {r.partition: r.outcome(o.rule) for r in results}
            failed = {day: x.to_json() for day, x in by_day.items() if not x.success}
            meta[o.rule] = MetadataValue.json(jsonable({
                "success": not failed,
                "severity": o.severity,
                "failed_days": sorted(failed),
                "by_day": failed or {day: {"observed_value": x.observed_value} for day, x in by_day.items()},
            }))
    meta["seconds"] = round(sum(r.seconds for r in results), 3)
    return meta


def to_check_result(results: Sequence[SuiteResult]) -> AssetCheckResult:
    """One check result for the slices of a run: failed with ERROR if any error rule failed on
    any day (downstream must not run), failed with WARN if only warnings did."""
    blocking = [r for r in results if r.blocking]
    warned = [r for r in results if not r.success and not r.blocking]
    parts = []
    for r in results:
        if r.failed_errors:
            parts.append(f"{r.partition or 'table'}: ERROR {', '.join(r.failed_errors)}")
        if r.failed_warnings:
            parts.append(f"{r.partition or 'table'}: warn {', '.join(r.failed_warnings)}")
    return AssetCheckResult(
        passed=not blocking and not warned,
        severity=AssetCheckSeverity.ERROR if blocking or not warned else AssetCheckSeverity.WARN,
        metadata=result_metadata(results),
        description="; ".join(parts) or f"all {len(results[0].outcomes) if results else 0} expectations passed",
    )


def _log(context: AssetCheckExecutionContext, results: Sequence[SuiteResult]) -> None:
    for r in results:
        if r.failed_errors:
            context.log.error(f"{r.suite} {r.partition}: error rules failed: {r.failed_errors}")
        if r.failed_warnings:
            context.log.warning(f"{r.suite} {r.partition}: warnings: {r.failed_warnings}")


def suite_check(asset: str, suite: str, partitioned: bool) -> AssetChecksDefinition:
    """A blocking check: over each day of the run's partition window, or over the whole table."""
    spec = load_suite(suite)

    @asset_check(
        asset=AssetKey(asset),
        name=check_name(suite),
        blocking=True,
        partitions_def=daily_partitions if partitioned else None,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite {suite} ({suite_source(suite)}): {spec.meta.get('description', '')}",
        metadata={"suite_file": suite_source(suite)},
    )
    @redacted
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        days: list[dt.date] = days_in_window(context.partition_time_window) if partitioned else []
        with warehouse.connect(read_only=True) as con:
            results = validate_window(con, suite, days) if partitioned else [validate(con, suite)]
        _log(context, results)
        return to_check_result(results)

    return _check


quality_checks: list[AssetChecksDefinition] = [
    *(suite_check(asset, suite, partitioned=True) for asset, suite in DAILY_SUITES),
    *(suite_check(asset, suite, partitioned=False) for asset, suite in TABLE_SUITES),
]
checks_by_suite: dict[str, AssetChecksDefinition] = {
    suite: check for (_, suite), check in zip(DAILY_SUITES + TABLE_SUITES, quality_checks, strict=True)
}
