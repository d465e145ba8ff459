"""dbt models as Dagster assets: day-partitioned marts in one group, whole-table rollups in another."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
import datetime as dt
import random
from collections.abc import Iterable, Iterator
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MetadataValue,
    Output,
    RetryRequested,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DbtCliInvocation, dbt_assets

from ingest.lake import build_lock, current_snapshot
from ingest.sql import qualified
from orchestration.defs.marts.project import prepare_manifest
from orchestration.lib.charts import markdown_image, price_volume_png
from orchestration.lib.daily import LatestMaterializations, evaluations_by_day
from orchestration.lib.dbt import DAILY_EXCLUDE, DAILY_SELECT, WINDOW_ENV, TickTranslator, window_env
from orchestration.lib.dbt_cli import DbtResource
from orchestration.lib.metadata import preview
from orchestration.lib.partitions import daily_partitions, days_in_window
from orchestration.lib.pools import WAREHOUSE_POOL
from orchestration.lib.redaction import redacted
from orchestration.lib.resources import WarehouseResource

translator = TickTranslator()
# How often a build that lost its commit to a concurrent writer is run again (see `_build`). A build
# commits once per model for 20-30 s on a loaded machine, so a retry that starts a few seconds after the
# other writer's meets it again: the waits grow to half a build and more (3 retries of 1-4 s were seen
# exhausted by two writers of one day on 2 busy cores).
CONCURRENT_WRITER_RETRIES = 6


def _mart_metadata(con: Any, model: str, days: list[dt.date]) -> dict[str, Any]:
    """Row counts for the window and the table, a preview, and for 1m bars a chart of one symbol-day."""
    date_col = "bar_date"
    lo, hi = days[0], days[-1] + dt.timedelta(days=1)
    table = qualified("marts", model)
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


def column_schemas(con: Any, context: AssetExecutionContext) -> dict[AssetKey, TableSchema]:
    """Each built model's columns with the types the warehouse holds, and the manifest's descriptions.

    Why from the warehouse: the manifest names and documents every column but types none (the SQL
    decides them), so the UI's Columns table had an empty Type column. One catalog query per build
    (milliseconds) instead of dagster-dbt's `fetch_column_metadata()`, which needs a dbt adapter
    (seconds a run) and a query per model.
    """
    wanted: dict[tuple[str, ...], AssetKey] = {}
    for key in context.selected_asset_keys:  # `lake.marts.ohlcv_1m`: dagster-dbt's name for the relation
        table = str(context.assets_def.metadata_by_key.get(key, {}).get("dagster/table_name", ""))
        if table.count(".") == 2:
            wanted[tuple(table.split("."))] = key
    if not wanted:
        return {}
    rows = con.execute(
        """SELECT table_catalog, table_schema, table_name, list(column_name ORDER BY ordinal_position),
                  list(data_type ORDER BY ordinal_position)
           FROM information_schema.columns GROUP BY ALL"""
    ).fetchall()
    out: dict[AssetKey, TableSchema] = {}
    for catalog, schema, table, names, types in rows:
        key = wanted.get((catalog, schema, table))
        if key is None:
            continue
        declared = context.assets_def.metadata_by_key[key].get("dagster/column_schema")
        docs = {c.name: c for c in declared.columns} if isinstance(declared, TableSchema) else {}
        out[key] = TableSchema(columns=[
            TableColumn(name=n, type=t, description=docs[n].description if n in docs else None)
            for n, t in zip(names, types, strict=True)
        ])
    return out


def _with_mart_metadata(
    context: AssetExecutionContext, events: Iterable[Any], warehouse: WarehouseResource,
    days: list[dt.date] | None,
) -> Iterator[Any]:
    """Every model's lake snapshot and typed columns; the bars' and daily stats' counts, preview and
    chart for the run's days (`days`; None for the whole-table rollups)."""
    # Read after dbt has finished, so the metadata describe the snapshot the run left behind.
    buffered = list(events)
    with warehouse.connect(read_only=True) as con:
        snapshot = current_snapshot(con)
        schemas = column_schemas(con, context)
        latest = LatestMaterializations(context.instance)
        for event in buffered:
            if isinstance(event, Output):
                key = context.asset_key_for_output(event.output_name)
                model = key.path[-1]
                extra: dict[str, Any] = {"lake_snapshot": snapshot}
                if key in schemas:
                    extra["dagster/column_schema"] = schemas[key]
                if days and (model.startswith("ohlcv_") or model == "daily_stats"):
                    extra.update(_mart_metadata(con, model, days))
                event = event.with_metadata({**event.metadata, **extra})
            elif days and isinstance(event, AssetCheckResult) and event.asset_key and event.check_name:
                key = AssetCheckKey(event.asset_key, event.check_name)
                if key in context.selected_asset_check_keys:
                    # A dbt test ran once over the run's window: its result stands for each day of it,
                    # recorded against each day (why: orchestration/lib/daily.py `evaluations_by_day`).
                    window = MetadataValue.text(f"{days[0]}..{days[-1]}")
                    result = event.with_metadata({**event.metadata, "dbt_test_window": window})
                    yield from evaluations_by_day(context.assets_def, key, {str(d): result for d in days}, latest)
                    continue
            yield event


def _build(
    context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource, env: dict[str, str]
) -> tuple[DbtCliInvocation, list[Any]]:
    """`dbt build`; a build that lost its commit to another writer (a lake conflict) asks Dagster to retry.

    The one retry layer is Dagster's step retry (`RetryRequested`): it shows in the run's timeline,
    waits without holding a pool slot, and is the only loop around this build. It is asked for only
    on a lost commit: a failed dbt test or a bad model fails the step at once. Each model replaces its
    window in one transaction, so a rerun of the same window is exact; nothing is yielded before the
    decision, so only the last attempt's events reach Dagster.
    """
    what = f"dbt build of {context.op_def.name}"
    if env.get(WINDOW_ENV["min_date"]):  # the window's end is exclusive; people read days inclusively
        last = dt.date.fromisoformat(env[WINDOW_ENV["max_date"]]) - dt.timedelta(days=1)
        what += f" for {env[WINDOW_ENV['min_date']]}..{last}"
    with build_lock(warehouse.lake_config()):  # to the build's end: its events are read to the last
        invocation = dbt.cli(["build"], env={**warehouse.dbt_env(), **env}, context=context, raise_on_error=False)
        events = dbt.events(invocation, context.log, what)
    if not invocation.is_successful() and _lost_to_concurrent_writer(invocation):
        attempt = context.retry_number + 1
        if attempt <= CONCURRENT_WRITER_RETRIES:
            delay = min(30.0, 2.0 * 2**attempt) * (0.5 + random.random())
            context.log.info(f"dbt build lost a commit to a concurrent writer (attempt {attempt}); "
                             f"rerun in {delay:.1f}s")
            raise RetryRequested(max_retries=CONCURRENT_WRITER_RETRIES, seconds_to_wait=delay)
    return invocation, events


# What dbt reports when another writer committed first: a DuckLake conflict, the SQLite catalog's
# lock, or (two first builds at once) the other run having created the mart or view already.
_CONCURRENT_WRITER = ("Transaction conflict", "database is locked", "Failed to commit DuckLake", "already exists")


def _lost_to_concurrent_writer(invocation: DbtCliInvocation) -> bool:
    run_results = invocation.target_path / "run_results.json" if invocation.target_path else None
    if run_results is not None and run_results.exists():
        results = invocation.get_artifact("run_results.json").get("results", [])
        messages = [str(r.get("message") or "") for r in results if r.get("status") == "error"]
    else:
        # dbt stopped before running a node (another writer held the lake's catalog while it attached):
        # no run_results.json, only the errors it logged.
        error = invocation.get_error()
        messages = [str(error)] if error is not None else []
    return bool(messages) and all(any(p in m for p in _CONCURRENT_WRITER) for m in messages)


def _finish(invocation: DbtCliInvocation) -> None:
    """After the events are out (failed tests show as failed checks), fail the step like dagster-dbt does."""
    error = invocation.get_error()
    if error is not None:
        raise error


@dbt_assets(
    manifest=prepare_manifest(),
    select=DAILY_SELECT,
    exclude=DAILY_EXCLUDE,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="dbt_daily_marts",
    pool=WAREHOUSE_POOL,
)
@redacted
def dbt_daily_marts(context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource) -> Iterator[Any]:
    window = context.partition_time_window
    invocation, events = _build(context, dbt, warehouse, window_env(window))
    yield from _with_mart_metadata(context, events, warehouse, days_in_window(window))
    dbt.save_parse_state(invocation)
    _finish(invocation)


@dbt_assets(
    manifest=prepare_manifest(),
    exclude=DAILY_SELECT,
    dagster_dbt_translator=translator,
    name="dbt_rollups",
    pool=WAREHOUSE_POOL,
)
@redacted
def dbt_rollups(context: AssetExecutionContext, dbt: DbtResource, warehouse: WarehouseResource) -> Iterator[Any]:
    invocation, events = _build(context, dbt, warehouse, window_env(None))
    yield from _with_mart_metadata(context, events, warehouse, None)
    dbt.save_parse_state(invocation)
    _finish(invocation)
