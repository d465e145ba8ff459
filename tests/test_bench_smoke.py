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
