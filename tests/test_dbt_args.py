"""dbt argument builders: pure functions, no dbt run needed."""

from __future__ import annotations

import datetime as dt
import functools

from dagster import TimeWindow

from ingest.settings import DBT_PROJECT_DIR
from orchestration.lib.dbt import WINDOW_ENV, window_env, window_vars
from orchestration.lib.partitions import daily_partitions, days_in_window


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_single_day_window_vars():
    window = TimeWindow(utc(2024, 1, 2), utc(2024, 1, 3))
    assert window_vars(window) == {"min_date": "2024-01-02", "max_date": "2024-01-03"}


def test_multi_day_window_is_one_build():
    window = TimeWindow(utc(2024, 1, 1), utc(2024, 1, 6))
    assert window_env(window) == {"TICKWH_DBT_MIN_DATE": "2024-01-01", "TICKWH_DBT_MAX_DATE": "2024-01-06"}
    assert days_in_window(window) == [dt.date(2024, 1, d) for d in range(1, 6)]


def test_no_window_clears_the_window_env_and_names_match_the_macro():
    assert window_env(None) == {"TICKWH_DBT_MIN_DATE": "", "TICKWH_DBT_MAX_DATE": ""}
    macro = (DBT_PROJECT_DIR / "macros" / "window.sql").read_text()
    assert "env_var('TICKWH_DBT_' ~ name | upper" in macro
    assert {name: f"TICKWH_DBT_{name.upper()}" for name in ("min_date", "max_date")} == WINDOW_ENV


def test_partition_keys_map_to_utc_windows():
    window = daily_partitions.time_window_for_partition_key("2024-02-29")
    assert window_vars(window) == {"min_date": "2024-02-29", "max_date": "2024-03-01"}


def test_dbt_resource_skips_the_version_probe_and_adapter_but_keeps_dagster_dbt_hooks(tmp_path):
    """orchestration/lib/dbt_cli.py overrides two private dagster-dbt hooks; an upgrade that
    renames them must fail here instead of silently bringing back 4-6 s per run."""
    import importlib.metadata

    from dagster_dbt import DbtCliResource
    from packaging import version

    from orchestration.defs.marts.project import dbt_resource
    from orchestration.lib.dbt_cli import DbtResource

    assert isinstance(DbtCliResource.__dict__["_cli_version"], functools.cached_property)
    assert callable(DbtCliResource.__dict__["_initialize_dbt_core_adapter"])
    resource = dbt_resource()
    assert isinstance(resource, DbtResource)
    assert resource._cli_version == version.parse(importlib.metadata.version("dbt-core"))
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    # another executable is still asked: a stand-in dbt that reports its own version
    other_dbt = tmp_path / "dbt"
    other_dbt.write_text("#!/bin/sh\necho 'Core:'\necho '  - installed: 1.99.0'\n")
    other_dbt.chmod(0o755)
    other = DbtResource(project_dir=str(resource.project_dir), dbt_executable=str(other_dbt))
    assert other._cli_version == version.parse("1.99.0")


def test_dagster_dbt_still_lacks_a_per_invocation_env(tmp_path):
    """The adapter sets the dbt process's variables only because `DbtCliResource.cli` takes no `env`.
    When dagster-dbt adds one, this fails: pass `env=` through and drop `_process_env`."""
    import inspect
    import os

    from dagster_dbt import DbtCliResource

    from orchestration.lib.dbt_cli import PRIVATE_HOOKS, DbtResource

    assert "env" not in inspect.signature(DbtCliResource.cli).parameters
    assert all(hook in DbtCliResource.__dict__ for hook in PRIVATE_HOOKS)
    # The variables reach the dbt process and leave this one as they were.
    seen = tmp_path / "seen"
    fake_dbt = tmp_path / "dbt"
    fake_dbt.write_text(f"#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'installed: 1.11.0'; exit 0; fi\n"
                        f"echo \"$TICKWH_DBT_MIN_DATE|$TICKWH_PROBE\" > {seen}\n")
    fake_dbt.chmod(0o755)
    before = dict(os.environ)
    resource = DbtResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=str(fake_dbt))
    invocation = resource.cli(["build"], env={"TICKWH_DBT_MIN_DATE": "2024-01-01", "TICKWH_PROBE": "x"},
                              target_path=tmp_path / "target", raise_on_error=False)
    invocation.process.wait(timeout=60)
    assert seen.read_text().strip() == "2024-01-01|x"
    assert dict(os.environ) == before


def test_a_build_that_stopped_before_any_node_is_retried_only_on_a_concurrent_writers_lock(tmp_path):
    """dbt that could not attach the lake (another writer held its catalog) writes no run_results.json:
    the decision reads dbt's logged errors instead, and retries only when every one is a lost race."""
    from types import SimpleNamespace

    from orchestration.defs.marts.assets import _lost_to_concurrent_writer

    def invocation(error: str | None):
        return SimpleNamespace(target_path=tmp_path, get_error=lambda: None if error is None else Exception(error))

    assert _lost_to_concurrent_writer(invocation("IO Error: Failed to attach: database is locked"))
    assert not _lost_to_concurrent_writer(invocation("Compilation Error in model ohlcv_1m"))
    assert not _lost_to_concurrent_writer(invocation(None))
