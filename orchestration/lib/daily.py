"""Decorators and factories for what every day-keyed feature declares the same way.

A day-partitioned asset backfills N days as one run (`BackfillPolicy.single_run()`); a job over such
assets carries the lake-writer tags; a follow-up run covers the same days as the run it follows; an
optional cross-check is a non-blocking, subsettable check over the run's days (Dagster shows it as
skipped when the check yields nothing).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    BackfillPolicy,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
    MetadataValue,
    Output,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    asset,
    define_asset_job,
    multi_asset_check,
    run_status_sensor,
)

# No public name in 1.13: what an evaluation says it checked (the check's Partitions view needs it).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

if TYPE_CHECKING:  # what `define_asset_job` returns; dagster exports no public name for it
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.lib.logs import OPTIONAL_CHECKS
from orchestration.lib.partitions import PARTITION_TAG, RANGE_END, RANGE_START, daily_partitions, days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL, WRITER_TAGS
from orchestration.lib.redaction import redacted


def daily_asset(**kwargs: Any) -> Callable[..., Any]:
    """`@asset` over UTC days, a backfill of many days being one run; its failures are redacted."""
    decorate = asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run(), **kwargs)
    return lambda fn: decorate(redacted(fn))


def daily_job(name: str, selection: Sequence[Any], description: str) -> UnresolvedAssetJobDefinition:
    """A job over day-partitioned assets that write the lake.

    Without the freshness checks (orchestration/defs/monitoring): they judge the platform's newest
    days, not the run's, and their sensor evaluates them; a backfill of 2024 has nothing to say on that.
    """
    from ingest.monitoring.freshness import daily_promises

    freshness = AssetSelection.checks(*(AssetCheckKey(AssetKey(p.asset), "freshness") for p in daily_promises()))
    return define_asset_job(
        name, selection=AssetSelection.assets(*selection) - freshness, partitions_def=daily_partitions,
        tags=WRITER_TAGS, description=description,
    )


def optional_daily_check(
    name: str, asset_key: AssetKey, description: str, additional_deps: Sequence[AssetKey] = ()
) -> Callable[..., Any]:
    """A WARN-level cross-check of the run's days that may end without a result (shown as skipped).

    Such a check logs why it did not evaluate; Dagster's own "did not yield" line for it is then
    left out of the console (orchestration/lib/logs.py). The result it gives for a ranged run's
    window is recorded against each day of it (`evaluations_by_day`).
    """
    OPTIONAL_CHECKS.add(name)
    decorate = multi_asset_check(
        name=name,
        specs=[AssetCheckSpec(name, asset=asset_key, partitions_def=daily_partitions,
                              additional_deps=list(additional_deps), blocking=False, description=description)],
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def wrap(fn: Callable[..., Iterator[Any]]) -> Any:
        @functools.wraps(fn)  # Dagster reads the context and resource parameters from `fn`'s signature
        def per_day(context: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            ranged = context.has_partition_key_range and not context.has_partition_key
            days = [str(d) for d in days_in_window(context.partition_time_window)] if ranged else []
            latest = LatestMaterializations(context.instance)
            for event in fn(context, *args, **kwargs):
                if days and isinstance(event, AssetCheckResult):
                    result = event.with_metadata({**event.metadata, "window": MetadataValue.text(
                        f"{days[0]}..{days[-1]}")})
                    yield from evaluations_by_day(context.op_execution_context.assets_def,
                                                  AssetCheckKey(asset_key, name), dict.fromkeys(days, result), latest)
                else:
                    yield event

        return decorate(redacted(per_day))

    return wrap


class LatestMaterializations:
    """The latest materialization of each asset partition, looked up once per step (a query each)."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.found: dict[tuple[AssetKey, str], AssetCheckEvaluationTargetMaterializationData | None] = {}

    def target(self, asset: AssetKey, day: str) -> AssetCheckEvaluationTargetMaterializationData | None:
        if (asset, day) not in self.found:
            records = self.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=asset, asset_partitions=[day]), limit=1).records
            self.found[asset, day] = AssetCheckEvaluationTargetMaterializationData(
                run_id=records[0].event_log_entry.run_id, storage_id=records[0].storage_id,
                timestamp=records[0].timestamp,
            ) if records else None
        return self.found[asset, day]


def evaluations_by_day(
    assets_def: Any, key: AssetCheckKey, results: Mapping[str, AssetCheckResult], latest: LatestMaterializations
) -> Iterator[Output | AssetCheckEvaluation]:
    """A check's results in a run over several days, each recorded against its own day (partition key).

    Why: in a ranged run (a backfill of N days as one run, `BackfillPolicy.single_run()`) Dagster
    plans a partitioned check once per day, but an `AssetCheckResult` names no partition (1.13), so
    its one evaluation lands beside the N planned executions, which the UI then shows as skipped.
    An `AssetCheckEvaluation` names its day and completes that day's planned execution; it names the
    day's latest materialization too (as Dagster does for a one-day run), without which the check's
    Partitions view counts the day as missing. The check's output comes first: steps behind a
    blocking check wait on it, and a failed ERROR evaluation still fails the step (Dagster raises
    after the step's events) and stops them.
    `assets_def`: the executing op's `context.assets_def` (asset or check op alike). A generator:
    each day's materialization is looked up when its evaluation is due, after the events before it
    (the model's own materialization, for a dbt test) are stored.
    """
    spec = assets_def.get_spec_for_check_key(key)
    yield Output(None, output_name=assets_def.get_output_name_for_asset_check_key(key))
    for day, result in results.items():
        yield AssetCheckEvaluation(
            asset_key=key.asset_key, check_name=key.name, passed=result.passed, severity=result.severity,
            metadata=result.metadata, description=result.description, blocking=spec.blocking, partition=day,
            target_materialization_data=latest.target(key.asset_key, day),
        )


def same_days(run_tags: Mapping[str, str], run_key: str) -> RunRequest | None:
    """A request over the days of a finished run: its range, its one partition, or None (no days)."""
    if RANGE_START in run_tags and RANGE_END in run_tags:
        return RunRequest(run_key=run_key, tags={RANGE_START: run_tags[RANGE_START], RANGE_END: run_tags[RANGE_END]})
    if PARTITION_TAG in run_tags:
        return RunRequest(run_key=run_key, partition_key=run_tags[PARTITION_TAG])
    return None


def after_success(
    name: str, monitored: JobDefinition | UnresolvedAssetJobDefinition,
    request_job: JobDefinition | UnresolvedAssetJobDefinition, key_prefix: str, description: str,
    over_same_days: bool = True,
) -> SensorDefinition:
    """Requests `request_job` after each successful run of `monitored` (over the same days, or whole)."""

    @run_status_sensor(
        name=name,
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[monitored],
        request_job=request_job,
        default_status=DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: RunStatusSensorContext) -> RunRequest | None:
        run = context.dagster_run
        key = f"{key_prefix}-{run.run_id}"
        return same_days(run.tags, key) if over_same_days else RunRequest(run_key=key)

    return _sensor
