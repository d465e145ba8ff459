"""Pure builders of dbt command lines, kept apart so they can be unit tested."""

from __future__ import annotations

import datetime as dt
import json

from dagster import TimeWindow


def window_vars(window: TimeWindow | None) -> dict[str, str]:
    """dbt vars for a partition window: `min_date` inclusive, `max_date` exclusive (UTC days)."""
    if window is None:
        return {}
    return {
        "min_date": window.start.astimezone(dt.UTC).date().isoformat(),
        "max_date": window.end.astimezone(dt.UTC).date().isoformat(),
    }


def dbt_build_args(window: TimeWindow | None) -> list[str]:
    args = ["build"]
    dbt_vars = window_vars(window)
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    return args
