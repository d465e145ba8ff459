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
import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    asset_check,
)

from ingest.datasets import DATASETS
from ingest.quality import SuiteResult, load_suite, suite_names, suite_source, validate, validate_window
from orchestration.defs.marts.project import incremental_marts, marts
from orchestration.lib.daily import LatestMaterializations, evaluations_by_day
from orchestration.lib.metadata import ABSENT_BESIDE, markdown_table
from orchestration.lib.partitions import daily_partitions, days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.redaction import redacted
from orchestration.lib.resources import WarehouseResource

RAW_TABLES = tuple(d.asset for d in DATASETS)
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


def result_metadata(r: SuiteResult) -> dict[str, Any]:
    """Check metadata of one slice (a day, or the whole table): a summary table, the failed rules by
    severity, and one JSON entry per expectation (success, observed value, unexpected count, examples)."""
    meta: dict[str, Any] = {
        "summary": MetadataValue.md(markdown_table(SUMMARY_COLUMNS, r.summary_rows())),
        "failed_errors": MetadataValue.json(r.failed_errors),
        "failed_warnings": MetadataValue.json(r.failed_warnings),
        "rows_by_frame": MetadataValue.json(r.rows_by_frame),
    }
    for o in r.outcomes:
        meta[o.rule] = MetadataValue.json(o.to_json())
    meta["seconds"] = round(r.seconds, 3)
    return meta


def to_check_result(r: SuiteResult) -> AssetCheckResult:
    """The result of one slice: failed with ERROR if an error rule failed (downstream must not run),
    failed with WARN if only warnings did. A ranged run records one per day (`suite_check`)."""
    parts = []
    if r.failed_errors:
        parts.append(f"{r.partition or 'table'}: ERROR {', '.join(r.failed_errors)}")
    if r.failed_warnings:
        parts.append(f"{r.partition or 'table'}: warn {', '.join(r.failed_warnings)}")
    warned = not r.success and not r.blocking
    return AssetCheckResult(
        passed=r.success,
        severity=AssetCheckSeverity.WARN if warned else AssetCheckSeverity.ERROR,
        metadata=result_metadata(r),
        description="; ".join(parts) or f"all {len(r.outcomes)} expectations passed",
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
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[Any]:
        if not partitioned:
            with warehouse.connect(read_only=True) as con:
                results = [validate(con, suite)]
            _log(context, results)
            yield to_check_result(results[0])
            return
        days: list[dt.date] = days_in_window(context.partition_time_window)
        with warehouse.connect(read_only=True) as con:
            results = validate_window(con, suite, days)
        # The daily marts whose suite requires rows are built from trades: a quotes-only day has none.
        source = asset if asset in RAW_TABLES else "raw_trades"
        results = [_empty_beside_other_data(r, context.instance, source) for r in results]
        _log(context, results)
        # One result per day, recorded against that day (why: orchestration/lib/daily.py).
        yield from evaluations_by_day(
            context.op_execution_context.assets_def, AssetCheckKey(AssetKey(asset), check_name(suite)),
            {str(r.partition): to_check_result(r) for r in results}, LatestMaterializations(context.instance),
        )

    return _check


def _absent_beside(instance: DagsterInstance, asset: str, day: str | None) -> list[str]:
    """The other datasets' file types of a day the asset's latest load found no file of its own beside."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[str(day)]), limit=1).records
    mat = records[0].asset_materialization if records else None
    value = mat.metadata.get(ABSENT_BESIDE) if mat is not None else None
    return list((value.value or {}).get(str(day), [])) if value is not None else []  # type: ignore[union-attr]


def _empty_beside_other_data(r: SuiteResult, instance: DagsterInstance, source: str) -> SuiteResult:
    """A day with no file of the dataset but other data (a quotes-only day) is not a failed delivery:
    its not_empty warns, naming the data the day has. A header-only file stays an error. The load's
    record is read only for a day whose not_empty failed."""
    if not any(o.rule == "not_empty" and not o.success for o in r.outcomes):
        return r
    beside = _absent_beside(instance, source, r.partition)
    if not beside:
        return r
    why = f"no file of the dataset; the day has {', '.join(beside)} (loaded without it)"
    return dataclasses.replace(r, outcomes=[
        dataclasses.replace(o, severity="warn", note=why) if o.rule == "not_empty" and not o.success else o
        for o in r.outcomes
    ])


quality_checks: list[AssetChecksDefinition] = [
    *(suite_check(asset, suite, partitioned=True) for asset, suite in DAILY_SUITES),
    *(suite_check(asset, suite, partitioned=False) for asset, suite in TABLE_SUITES),
]
checks_by_suite: dict[str, AssetChecksDefinition] = {
    suite: check for (_, suite), check in zip(DAILY_SUITES + TABLE_SUITES, quality_checks, strict=True)
}
