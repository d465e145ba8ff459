"""Smoke test of the benchmark machinery: the OHLCV comparison on a tiny day, values only (no timings)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.common import Workload, bench_home, run_worker, scratch
from bench.ohlcv_bench import ENGINES, ohlcv_params


@pytest.fixture
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TICKWH_BENCH_HOME", str(tmp_path / "bench"))
    return tmp_path / "bench"


def test_four_engines_compute_the_same_minute_bars(bench_env: Path) -> None:
    w = Workload(3_000, symbols=3, snapshot_interval_ms=600_000, start=dt.date(2024, 2, 29))
    with scratch("ohlcv-") as work:
        params = ohlcv_params(w, reps=1, work=work, log=lambda _msg: None)
        res = run_worker("ohlcv", params, bench_home() / "logs", timeout=600).data
    assert bench_home() == bench_env
    assert set(res["times"]) == set(ENGINES)
    assert res["bars"] > 100  # 3 symbols, ~1000 trades each: many minutes have trades
    for engine in ENGINES[1:]:
        check = res["checks"][engine]
        assert check == {"bars": res["bars"], "missing": 0, "extra": 0, "differing": 0, "examples": []}, engine
        assert res["sample"][engine] == res["sample"]["duckdb"], engine


def test_the_launch_bench_splits_a_run_log_into_its_phases() -> None:
    """bench/launch_bench.py reads the phases of a launched run from the lines Dagster prints."""
    from bench.launch_bench import _phases

    run = "daily_pipeline - 0b8a5c7e-0000-4000-8000-000000000000 - 4242"
    log = "\n".join([
        f"2026-12-06 10:00:09 +0000 - dagster - DEBUG - {run} - RUN_START - Started execution of run.",
        f"2026-12-06 10:00:10 +0000 - dagster - DEBUG - {run} - raw_trades - STEP_START - Started.",
        f"2026-12-06 10:00:12 +0000 - dagster - DEBUG - {run} - dbt_daily_marts - STEP_START - Started.",
        "2026-12-06 10:00:13 +0000 - dagster - INFO - daily_pipeline - 0b8a5c7e - dbt_daily_marts - dbt build: 87 pass",
        f"2026-12-06 10:00:18 +0000 - dagster - DEBUG - {run} - dbt_daily_marts - STEP_SUCCESS - Finished.",
        f"2026-12-06 10:00:20 +0000 - dagster - DEBUG - {run} - RUN_SUCCESS - Finished execution of run.",
    ])
    started = dt.datetime(2026, 12, 6, 10, 0, 2)
    assert _phases(log, started, 19.5) == {"start-up": 7.0, "raw loads + suites": 3.0, "dbt_daily_marts": 6.0,
                                           "mart checks": 2.0, "exit": 1.5}
    assert _phases("no run here", started, 19.5) == {}


def test_the_partition_floor_loads_every_dataset_as_the_loader_does(tmp_path: Path) -> None:
    """The floor does the pipeline's work: the derivatives datasets land with the loader's exact values."""
    import duckdb

    from bench.pipeline_bench import floor_load_sql
    from ingest import lake
    from ingest.datasets import DATASETS
    from ingest.loader import load_day
    from ingest.simulator import simulate_day
    from ingest.warehouse import ensure_raw_schema

    day = dt.date(2024, 3, 1)
    simulate_day(day, tmp_path / "landing", trades_per_day=400, snapshot_interval_ms=600_000, seed=3)
    floor = duckdb.connect(str(tmp_path / "floor.duckdb"))
    ensure_raw_schema(floor)
    for sql in floor_load_sql(tmp_path / "landing", day):
        floor.execute(sql)
    with lake.connect(lake.LakeConfig.embedded(tmp_path / "home")) as con:
        for ds in DATASETS:
            load_day(con, tmp_path / "landing", day, ds.name)
        for ds in DATASETS:
            rows = con.execute(f"SELECT * FROM {ds.table} ORDER BY ALL").fetchall()
            assert rows, ds.name  # the simulated day has every dataset
            got = floor.execute(f"SELECT * FROM {ds.table} ORDER BY ALL").fetchall()
            if ds.name in ("trades", "book_snapshots"):  # the floor's own narrower parse, widened on insert
                assert len(got) == len(rows), ds.name
            else:
                assert got == rows, ds.name
