"""What a run shares inside its process (issue 26): one attached lake engine, dbt run in process.

Both change what every run does, so each is tested where it could go wrong: a second lake in the
same process, another process's commit, a replaced catalog file, a failed block, a failed dbt.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import materialize

from ingest import lake, lake_pool
from ingest.simulator import simulate_days
from orchestration.defs.marts.assets import dbt_daily_marts
from orchestration.defs.marts.project import DBT_PROJECT_DIR, dbt_resource
from orchestration.defs.raw.assets import raw_trades
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

DAY = dt.date(2024, 5, 2)


def _one_row_table(home: Path) -> lake.LakeConfig:
    config = lakes.lake_at(home)
    with lake.connect(config) as con:
        con.execute("CREATE TABLE main.probe AS SELECT 1 AS x")
    return config


def test_a_process_attaches_a_lake_once_and_each_cursor_is_its_own(tmp_path):
    config = _one_row_table(tmp_path / "a")
    lake_pool.close_all()
    with lake_pool.connection(config) as con:
        con.execute("CREATE TEMP TABLE mine AS SELECT 42 AS y")
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (1,)
    with lake_pool.connection(config) as con:
        # the same engine (one entry), but the first cursor's temporary table went with it
        assert len([k for k in lake_pool._ENGINES if k[0] == config.catalog]) == 1
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchone() == (0,)


def test_a_pooled_engine_sees_another_process_commit(tmp_path):
    config = _one_row_table(tmp_path / "a")
    with lake_pool.connection(config) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (1,)
    code = ("import sys; from ingest import lake; from tests import lakes\n"
            "with lake.connect(lakes.lake_at(sys.argv[1])) as con:\n"
            "    con.execute('INSERT INTO main.probe VALUES (2), (3)')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], check=True, cwd=Path(__file__).parents[1])
    with lake_pool.connection(config) as con:
        assert con.execute("SELECT sum(x) FROM probe").fetchone() == (6,)


def test_a_replaced_catalog_is_attached_afresh(tmp_path):
    home = tmp_path / "a"
    config = _one_row_table(home)
    with lake_pool.connection(config) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (1,)
    shutil.rmtree(home / "lake")
    with lake.connect(config) as con:
        con.execute("CREATE TABLE main.probe AS SELECT * FROM range(5) t(x)")
    with lake_pool.connection(config) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (5,)


def test_a_block_that_raised_retires_its_engine(tmp_path):
    config = _one_row_table(tmp_path / "a")
    with lake_pool.connection(config):
        pass
    key = lake_pool._key(config, False)
    first = lake_pool._ENGINES[key]
    with pytest.raises(RuntimeError), lake_pool.connection(config):
        raise RuntimeError("a step failed")
    assert key not in lake_pool._ENGINES
    with lake_pool.connection(config) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (1,)
    assert lake_pool._ENGINES[key] is not first


def test_dbt_runs_in_process_and_each_run_builds_its_own_lake(tickwh_env, monkeypatch):
    """Two homes, one process: dbt-duckdb's cached environment must not carry lake A into B's build."""
    import dagster_dbt.core.dbt_cli_invocation as invocation_module

    def no_process(*args, **kwargs):
        raise AssertionError(f"dbt started as a process: {args}")

    # dagster-dbt's own module only: dbt itself starts processes of its own (`uname -p`)
    shim = SimpleNamespace(Popen=no_process, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT)
    monkeypatch.setattr(invocation_module, "subprocess", shim)
    counts = {}
    for name, trades, day in (("a", 300, DAY), ("b", 500, DAY + dt.timedelta(days=1))):
        home = tickwh_env / name
        simulate_days(day, 1, home / "landing", trades_per_day=trades, seed=3, snapshot_interval_ms=3_600_000)
        resources = {"warehouse": WarehouseResource.at(home), "dbt": dbt_resource(),
                     "landing": LandingZoneResource(root=str(home / "landing"))}
        assert materialize([raw_trades, dbt_daily_marts], resources=resources, partition_key=day.isoformat()).success
        with lakes.connect(home, read_only=True) as con:
            counts[name] = con.execute("SELECT bar_date, sum(trade_count) FROM marts.ohlcv_1m GROUP BY ALL").fetchall()
    assert counts == {"a": [(DAY, 300)], "b": [(DAY + dt.timedelta(days=1), 500)]}


def test_a_failed_in_process_dbt_names_what_failed(tmp_path):
    resource = dbt_resource()
    invocation = resource.cli(["run-operation", "no_such_macro_here"], target_path=tmp_path / "target",
                              raise_on_error=False)
    events = list(invocation.stream_raw_events())
    assert invocation.process.wait(timeout=120) != 0
    assert not invocation.is_successful()
    assert "no_such_macro_here" in str(invocation.get_error())
    assert events, "dbt's log lines reached dagster-dbt"


def test_the_private_names_the_in_process_dbt_relies_on_still_exist():
    """A dagster-dbt or dbt-duckdb upgrade that renames these fails here, not in a run."""
    from dagster_dbt.core import resource
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    assert resource.DbtCliInvocation.__name__ == "DbtCliInvocation"
    assert hasattr(DuckDBConnectionManager, "_ENV") and hasattr(DuckDBConnectionManager, "_LOCK")
    assert Path(DBT_PROJECT_DIR, "profiles.yml").exists()
