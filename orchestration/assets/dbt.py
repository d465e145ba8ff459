"""dbt models as Dagster assets: day-partitioned marts in one group, whole-table rollups in another."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt
import os
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MetadataValue, Output
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev

from ingest.lake import current_snapshot
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.charts import markdown_image, price_volume_png
from orchestration.dbt_args import window_env
from orchestration.dbt_resource import DbtResource
from orchestration.metadata import preview
from orchestration.partitions import daily_partitions, days_in_window
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR, dbt_executable

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Parse under `dagster dev` (models change while one works), and elsewhere once when no manifest
# exists yet, so a fresh clone loads without a manual `dbt parse`. Not `prepare_if_dev()`: its
# preparer runs whichever `dbt` is first on PATH, and `make demo`/`make bench` do not activate
# the venv, so that may be another dbt or none at all.
# The profile names no path (the lake plugin reads TICKWH_LAKE_* when dbt connects), so the parse
# state stays valid whichever lake a run points at.
if using_dagster_dev() or not dbt_project.manifest_path.exists():
    DbtResource(project_dir=dbt_project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=dbt_project.target_path,
    ).wait()

# Staging views are rebuilt with the day's marts: the marts read them, and a view costs nothing.
DAILY_SELECT = "config.materialized:incremental staging"
# `staging` also matches the tests defined on the raw sources in models/staging (column_rules_raw_*).
# They are not checks of this multi-asset (raw_* are other assets), so dagster-dbt could only log
# them as observations; excluding the source drops them from the run (eager indirect selection).
# Made checks of raw_* instead, they would run inside this op and let it start past a failed
# blocking GE check of raw_*, which must stop the marts. The raw GE suites hold the same not-null rules.
DAILY_EXCLUDE = "source:raw"
DBT_DOCS_URL = os.environ.get("TICKWH_DBT_DOCS_URL", "http://127.0.0.1:8580/dbt/index.html")


class TickTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        # Models keep their plain names (`ohlcv_1m`), not `marts/ohlcv_1m`: names say what a thing is.
        if dbt_resource_props.get("resource_type") == "model":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if "staging" in fqn:
            return "staging"
        if "rollups" in fqn:
            return "rollups"
        return "marts"

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        meta = dict(super().get_metadata(dbt_resource_props))
        if dbt_resource_props.get("resource_type") == "model":
            meta["dbt_docs"] = MetadataValue.url(f"{DBT_DOCS_URL}#!/model/{dbt_resource_props['unique_id']}")
        return meta


translator = TickTranslator()


def _mart_metadata(con: Any, model: str, days: list[dt.date]) -> dict[str, Any]:
    """Row counts for the window and the table, a preview, and for 1m bars a chart of one symbol-day."""
    date_col = "bar_date"
    lo, hi = days[0], days[-1] + dt.timedelta(days=1)
    table = f"marts.{model}"
    meta: dict[str, Any] = {
        "dagster/row_count": con.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
        "rows_in_window": con.execute(
            f"SELECT count(*) FROM {table} WHERE {date_col} >= ? AND {date_col} < ?", [lo, hi]
        ).fetchone()[0],
        "preview": preview(
            con,
            f"SELECT * FROM {table} WHERE {date_col} >= ? AND {date_col} < ? ORDER BY ALL DESC LIMIT 5",
            [lo, hi],
        ),
    }
    if model == "ohlcv_1m":
        top = con.execute(
            "SELECT exchange, symbol FROM marts.ohlcv_1m WHERE bar_date = ? "
            "GROUP BY ALL ORDER BY sum(quote_volume) DESC LIMIT 1",
            [days[-1]],
        ).fetchone()
        if top:
            rows = con.execute(
                "SELECT bucket_start, close::DOUBLE, volume::DOUBLE FROM marts.ohlcv_1m "
                "WHERE bar_date = ? AND exchange = ? AND symbol = ? ORDER BY bucket_start",
                [days[-1], *top],
            ).fetchall()
            png = price_volume_png(f"{top[1]} on {top[0]}, {days[-1]} (1m close, volume)",
                                   [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            meta["chart"] = MetadataValue.md(markdown_image(png, f"{top[1]} {days[-1]}"))
    return meta


def _with_mart_metadata(
    context: AssetExecutionContext, events: Iterable[Any], warehouse: WarehouseResource, days: list[dt.date]
) -> Iterator[Any]:
    # Read after dbt has finished, so the metadata describe the snapshot the run left behind.
    buffered = list(events)
    with warehouse.connect(read_only=True) as con:
        snapshot = current_snapshot(con)
        for event in buffered:
            if isinstance(event, Output):
                model = context.asset_key_for_output(event.output_name).path[-1]
                extra: dict[str, Any] = {"lake_snapshot": snapshot}
                if model.startswith("ohlcv_") or model == "daily_stats":
                    extra.update(_mart_metadata(con, model, days))
                event = event.with_metadata({**event.metadata, **extra})
            yield event


def _build(
    context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource, env: dict[str, str]
) -> tuple[DbtCliInvocation, list[Any]]:
    """`dbt build`, run again when another writer's commit to the same mart won (a lake conflict).

    Each model replaces its window in one transaction, so a rerun of the same window is exact; only
    the last attempt's events reach Dagster.
    """
    attempts = 4
    for attempt in range(1, attempts + 1):
        invocation = dbt.cli(["build"], env={**warehouse.dbt_env(), **env}, context=context, raise_on_error=False)
        events = list(invocation.stream())
        if invocation.is_successful() or attempt == attempts or not _lost_to_concurrent_writer(invocation):
            return invocation, events
        delay = min(8.0, 0.5 * 2**attempt) * (0.5 + random.random())
        context.log.info(f"dbt build lost a commit to a concurrent writer (attempt {attempt}); rerun in {delay:.1f}s")
        time.sleep(delay)
    raise AssertionError("unreachable")


# What dbt reports when another writer committed first: a DuckLake conflict, the SQLite catalog's
# lock, or (two first builds at once) the other run having created the mart or view already.
_CONCURRENT_WRITER = ("Transaction conflict", "database is locked", "Failed to commit DuckLake", "already exists")


def _lost_to_concurrent_writer(invocation: DbtCliInvocation) -> bool:
    results = invocation.get_artifact("run_results.json").get("results", []) if invocation.target_path else []
    messages = [str(r.get("message") or "") for r in results if r.get("status") == "error"]
    return bool(messages) and all(any(p in m for p in _CONCURRENT_WRITER) for m in messages)


def _finish(invocation: DbtCliInvocation) -> None:
    """After the events are out (failed tests show as failed checks), fail the step like dagster-dbt does."""
    error = invocation.get_error()
    if error is not None:
        raise error


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=DAILY_SELECT,
    exclude=DAILY_EXCLUDE,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="dbt_daily_marts",
    pool=WAREHOUSE_POOL,
)
def dbt_daily_marts(context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource) -> Iterator[Any]:
    window = context.partition_time_window
    invocation, events = _build(context, dbt, warehouse, window_env(window))
    yield from _with_mart_metadata(context, events, warehouse, days_in_window(window))
    dbt.save_parse_state(invocation)
    _finish(invocation)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    exclude=DAILY_SELECT,
    dagster_dbt_translator=translator,
    name="dbt_rollups",
    pool=WAREHOUSE_POOL,
)
def dbt_rollups(context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource) -> Iterator[Any]:
    invocation, events = _build(context, dbt, warehouse, window_env(None))
    yield from events
    dbt.save_parse_state(invocation)
    _finish(invocation)
