"""Pure builders of dbt command lines and environments, kept apart so they can be unit tested."""

from __future__ import annotations

import datetime as dt

from dagster import TimeWindow

# What dbt_project/macros/window.sql reads when no --vars are given.
WINDOW_ENV = {"min_date": "TICKWH_DBT_MIN_DATE", "max_date": "TICKWH_DBT_MAX_DATE"}


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
