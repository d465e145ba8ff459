"""The daily schedule and a ranged backfill, driven through a Dagster instance the way the daemon drives them.

Both tests load the code location through Dagster's workspace machinery (a real gRPC code server
subprocess, as `dagster dev` starts), use the project's `dagster.yaml` (so the `lake_writers`
pool caps the steps that write the lake) and swap only the run coordinator and launcher for Dagster's
synchronous in-memory ones, so a submitted run executes before the daemon call returns. The code
location is `tests/ui_location.py`: the production definitions with the in-process executor
(see its docstring for why).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    build_run_status_sensor_context,
    build_schedule_context,
    instance_for_test,
)
from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_graphql.test.utils import execute_dagster_graphql

from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.marts.schedules import daily_schedule
from orchestration.defs.marts.sensors import rollups_after_daily
from orchestration.lib.resources import LandingZoneResource

REPO = Path(__file__).resolve().parents[1]
LOCATION = "tickwarehouse"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a `Definitions` object
SMALL_DAY: dict[str, Any] = {"trades_per_day": 5_000, "snapshot_interval_ms": 10_000, "seed": 11}

log = logging.getLogger("test_schedules")


@pytest.fixture
def instance(tickwh_env: Path) -> Iterator[DagsterInstance]:
    """The project's dagster.yaml in the test's DAGSTER_HOME, with runs executed synchronously."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    with instance_for_test(
        overrides=config,
        temp_dir=str(tickwh_env / "dagster_home"),
        synchronous_run_coordinator=True,
        synchronous_run_launcher=True,
    ) as inst:
        yield inst


@pytest.fixture
def workspace(instance: DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    """The code location as the daemon sees it: loaded in a code-server subprocess with this test's env."""
    # tests.ui_location.defs() builds the definitions when the location loads, so the resources
    # point at this test's TICKWH_* paths (orchestration.definitions.defs was built at first import).
    target = ModuleTarget(
        module_name="tests.ui_location",
        attribute="defs",
        working_directory=str(REPO),
        location_name=LOCATION,
    )
    with create_test_daemon_workspace_context(target, instance) as context:
        entry = context.create_request_context().get_code_location_entries()[LOCATION]
        assert entry.load_error is None, entry.load_error
        yield context


def writer_limit() -> dict[str, Any]:
    """The run queue's limit on runs that write the warehouse, as the project's dagster.yaml sets it."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    [limit] = [x for x in config["concurrency"]["runs"]["tag_concurrency_limits"] if x["key"] == "tickwh/writer"]
    return limit


def remote_repo(workspace: WorkspaceProcessContext) -> RemoteRepository:
    return workspace.create_request_context().get_code_location(LOCATION).get_repository(REPOSITORY)


def daily_assets() -> list[str]:
    """The assets of `daily_pipeline`: raw loads, staging views and the day-keyed marts."""
    job = build_defs().resolve_job_def("daily_pipeline")
    return sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)


def materialized(instance: DagsterInstance, keys: list[str]) -> dict[str, set[str]]:
    return {k: set(instance.get_materialized_partitions(AssetKey(k))) for k in keys}


def test_daily_schedule_runs_yesterday(tickwh_env: Path, instance: DagsterInstance,
                                       workspace: WorkspaceProcessContext) -> None:
    tick = dt.datetime(2024, 3, 6, 1, 30, tzinfo=dt.UTC)
    yesterday = "2024-03-05"
    simulate_days(dt.date(2024, 3, 5), 1, tickwh_env / "landing", **SMALL_DAY)

    # 1. The schedule on its own: the 01:30 UTC tick of 6 March asks for the partition of 5 March.
    assert (daily_schedule.cron_schedule, daily_schedule.execution_timezone) == ("30 1 * * *", "UTC")
    landing = LandingZoneResource(root=str(tickwh_env / "landing"))
    with build_schedule_context(instance=instance, scheduled_execution_time=tick, resources={"landing": landing},
                                repository_def=build_defs().get_repository_def()) as context:
        result = daily_schedule.evaluate_tick(context)
    assert result.skip_message is None
    requests = result.run_requests or []
    assert [r.partition_key for r in requests] == [yesterday]

    # 2. The scheduler daemon: the schedule ships RUNNING, so a daemon iteration an hour before the
    # tick records its state on this fresh instance; the iteration at 01:31 then evaluates the 01:30
    # tick in the code server and submits its run, which the synchronous launcher executes.
    schedule = remote_repo(workspace).get_schedule(daily_schedule.name)
    iteration_times: dict = {}
    for now in (tick - dt.timedelta(hours=1), tick + dt.timedelta(minutes=1)):
        list(launch_scheduled_runs(workspace, log, end_datetime_utc=now, iteration_times=iteration_times))

    ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
    assert [(t.status, t.timestamp) for t in ticks] == [(TickStatus.SUCCESS, tick.timestamp())]
    runs = instance.get_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.run_id in ticks[0].run_ids
    assert run.job_name == "daily_pipeline"
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == yesterday
    assert run.tags["dagster/schedule_name"] == daily_schedule.name
    # The tag the run queue limits (dagster.yaml's tag_concurrency_limits: lake writers).
    assert run.tags["tickwh/writer"] == "lake"
    assert {"key": "tickwh/writer", "value": "lake"}.items() <= writer_limit().items()
    keys = daily_assets()
    assert materialized(instance, keys) == {k: {yesterday} for k in keys}

    # 3. The run's success is what triggers the rollups.
    assert_sensor_requests_rollups(instance, run)


def assert_sensor_requests_rollups(instance: DagsterInstance, run: DagsterRun) -> None:
    success = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_SUCCESS).records
    assert len(success) == 1
    context = build_run_status_sensor_context(
        sensor_name=rollups_after_daily.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=success[0].event_log_entry.get_dagster_event(),
    )
    request = rollups_after_daily(context)
    assert isinstance(request, RunRequest)
    assert request.run_key == f"rollups-after-{run.run_id}"
    assert rollups_after_daily.job_name == "rollups"


LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      runs { id }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsMaterialized
            numPartitionsInProgress
            numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""


def test_backfill_of_three_days_is_one_run_through_the_daemon(
    tickwh_env: Path, instance: DagsterInstance, workspace: WorkspaceProcessContext
) -> None:
    first = dt.date(2024, 3, 1)
    days = {(first + dt.timedelta(days=i)).isoformat() for i in range(3)}
    simulate_days(first, 3, tickwh_env / "landing", **SMALL_DAY)
    keys = daily_assets()

    # What the UI sends for "Materialize" on the daily assets with a date range selected.
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": [key]}, "partitions": {"range": {"start": min(days), "end": max(days)}}}
            for key in keys
        ],
        "title": "three days",
    }
    response = execute_dagster_graphql(workspace.create_request_context(), LAUNCH_BACKFILL, {"params": params})
    launched = response.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    # The backfill daemon: the first iteration submits (and, synchronously, executes) the run; the
    # next one sees the materializations and completes the backfill.
    for _ in range(5):
        errors = [e for e in execute_backfill_iteration(workspace, log) if e is not None]
        assert errors == []
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None
        if backfill.status.value != "REQUESTED":
            break
    assert backfill.status.value == "COMPLETED_SUCCESS", backfill.status

    runs = instance.get_runs()
    assert len(runs) == 1, [r.tags for r in runs]  # BackfillPolicy.single_run(): one run for the range
    run = runs[0]
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/backfill"] == backfill_id
    assert run.tags["dagster/asset_partition_range_start"] == min(days)
    assert run.tags["dagster/asset_partition_range_end"] == max(days)
    assert {k.to_user_string() for k in run.asset_selection or ()} == set(keys)

    # Per-partition status, as the backfill page and the assets' partition bars show it.
    assert materialized(instance, keys) == {k: days for k in keys}
    response = execute_dagster_graphql(workspace.create_request_context(), BACKFILL_STATUS, {"id": backfill_id})
    page = response.data["partitionBackfillOrError"]
    assert page["status"] == "COMPLETED_SUCCESS"
    assert [r["id"] for r in page["runs"]] == [run.run_id]
    counts = {
        "/".join(s["assetKey"]["path"]): (s["numPartitionsTargeted"], s["numPartitionsMaterialized"],
                                          s["numPartitionsInProgress"], s["numPartitionsFailed"])
        for s in page["assetBackfillData"]["assetBackfillStatuses"]
    }
    assert counts == {k: (3, 3, 0, 0) for k in keys}
