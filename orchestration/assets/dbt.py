"""dbt models as Dagster assets: day-partitioned marts in one group, whole-table rollups in another."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at runtime.
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.dbt_args import dbt_build_args
from orchestration.partitions import daily_partitions
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `prepare_if_dev` re-parses under `dagster dev`; elsewhere parse once if no manifest exists yet,
# so a fresh clone loads without a manual `dbt parse`.
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    dbt_project.preparer.prepare(dbt_project)

# Staging views are rebuilt with the day's marts: the marts read them, and a view costs nothing.
DAILY_SELECT = "config.materialized:incremental staging"


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



translator = TickTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=DAILY_SELECT,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="dbt_daily_marts",
    pool=WAREHOUSE_POOL,
)
def dbt_daily_marts(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    warehouse.export_for_dbt()
    yield from dbt.cli(dbt_build_args(context.partition_time_window), context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    exclude=DAILY_SELECT,
    dagster_dbt_translator=translator,
    name="dbt_rollups",
    pool=WAREHOUSE_POOL,
)
def dbt_rollups(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
    warehouse.export_for_dbt()
    yield from dbt.cli(dbt_build_args(None), context=context).stream()
