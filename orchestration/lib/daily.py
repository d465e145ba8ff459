"""Decorators and factories for what every day-keyed feature declares the same way.

A day-partitioned asset backfills N days as one run (`BackfillPolicy.single_run()`); a job over such
assets carries the lake-writer tags; a follow-up run covers the same days as the run it follows; an
optional cross-check is a non-blocking, subsettable check over the run's days (Dagster shows it as
skipped when the check yields nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    BackfillPolicy,
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    asset,
    define_asset_job,
    multi_asset_check,
    run_status_sensor,
)

if TYPE_CHECKING:  # what `define_asset_job` returns; dagster exports no public name for it
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.lib.partitions import PARTITION_TAG, RANGE_END, RANGE_START, daily_partitions
from orchestration.lib.pools import WAREHOUSE_POOL, WRITER_TAGS
from orchestration.lib.redaction import redacted


def daily_asset(**kwargs: Any) -> Callable[..., Any]:
    """`@asset` over UTC days, a backfill of many days being one run; its failures are redacted."""
    decorate = asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run(), **kwargs)
    return lambda fn: decorate(redacted(fn))


def daily_job(name: str, selection: Sequence[Any], description: str) -> UnresolvedAssetJobDefinition:
    """A job over day-partitioned assets that write the lake."""
    return define_asset_job(
        name, selection=AssetSelection.assets(*selection), partitions_def=daily_partitions, tags=WRITER_TAGS,
        description=description,
    )


def optional_daily_check(
    name: str, asset_key: AssetKey, description: str, additional_deps: Sequence[AssetKey] = ()
) -> Callable[..., Any]:
    """A WARN-level cross-check of the run's days that may end without a result (shown as skipped)."""
    decorate = multi_asset_check(
        name=name,
        specs=[AssetCheckSpec(name, asset=asset_key, partitions_def=daily_partitions,
                              additional_deps=list(additional_deps), blocking=False, description=description)],
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    return lambda fn: decorate(redacted(fn))


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
