"""Pure dbt glue, kept apart so it can be unit tested: command environments and the asset translator.
The mart names come from the manifest through `ingest.marts` (no module lists them by hand)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, MetadataValue, TimeWindow
from dagster_dbt import DagsterDbtTranslator

from ingest.settings import Settings

# What dbt_project/macros/window.sql reads when no --vars are given.
WINDOW_ENV = {"min_date": "TICKWH_DBT_MIN_DATE", "max_date": "TICKWH_DBT_MAX_DATE"}

# Staging views are rebuilt with the day's marts: the marts read them, and a view costs nothing.
DAILY_SELECT = "config.materialized:incremental staging"
# `staging` also matches the tests defined on the raw sources in models/staging (column_rules_raw_*).
# They are not checks of this multi-asset (raw_* are other assets), so dagster-dbt could only log
# them as observations; excluding the source drops them from the run (eager indirect selection).
# Made checks of raw_* instead, they would run inside this op and let it start past a failed
# blocking GE check of raw_*, which must stop the marts. The raw GE suites hold the same not-null rules.
DAILY_EXCLUDE = "source:raw"


def window_vars(window: TimeWindow | None) -> dict[str, str]:
    """The window of a partition range: `min_date` inclusive, `max_date` exclusive (UTC days)."""
    if window is None:
        return {}
    return {
        "min_date": window.start.astimezone(dt.UTC).date().isoformat(),
        "max_date": window.end.astimezone(dt.UTC).date().isoformat(),
    }


def window_env(window: TimeWindow | None) -> dict[str, str]:
    """The window as environment variables, the way Dagster runs pass it to dbt.

    Why not --vars: dbt re-parses the whole project whenever its vars change (every run), but
    re-parses only the files that read an env var when that env var changes. No window sets
    the variables empty, so a leftover value in the process environment cannot narrow a
    whole-table build.
    """
    values = window_vars(window)
    return {env: values.get(name, "") for name, env in WINDOW_ENV.items()}


class TickTranslator(DagsterDbtTranslator):
    def __init__(self, docs_url: str | None = None) -> None:
        super().__init__()
        self.docs_url = docs_url or Settings.from_env().dbt_docs_url

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
            meta["dbt_docs"] = MetadataValue.url(f"{self.docs_url}#!/model/{dbt_resource_props['unique_id']}")
        return meta
