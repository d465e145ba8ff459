"""Fault: a ranged daily_pipeline run fails on day k (a truncated vendor file).

Each day's raw reload commits on its own, so the days before k keep their reload while the run's
marts are not rebuilt. The failure says so (which days are ahead of their marts, which were not
attempted), the marts keep their previous state, and a rerun of the range converges to the result
of a clean run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dagster import DagsterInstance

from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.lib.partitions import range_tags
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

START = dt.date(2024, 7, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
SIM = {"trades_per_day": 10_000, "snapshot_interval_ms": 60_000}
MARTS = ["ohlcv_1m", "ohlcv_1h", "ohlcv_1d", "daily_stats"]


def run(home: Path):
    landing = LandingZoneResource(root=str(home / "landing"))
    defs = build_defs({"warehouse": WarehouseResource.at(home), "landing": landing})
    with DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, tags=range_tags(DAYS[0], DAYS[-1]), raise_on_error=False
        )


def state(home: Path) -> tuple[dict, dict]:
    with lakes.connect(home, read_only=True) as con:
        raw = dict(con.execute(
            "SELECT trade_date, (count(*), sum(hash(trade_id, price, amount))) FROM raw.trades GROUP BY ALL"
        ).fetchall())
        marts = {m: con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall() for m in MARTS}
    return raw, marts


def trades_file(home: Path, day: dt.date) -> Path:
    (path,) = (home / "landing").glob(f"*_trades_{day.isoformat()}_*.csv.gz")
    return path


def test_a_failure_on_day_k_is_reported_and_the_rerun_converges(tmp_path: Path) -> None:
    home, clean = tmp_path / "home", tmp_path / "clean"
    simulate_days(START, 3, home / "landing", seed=1, **SIM)
    assert run(home).success
    raw_v1, marts_v1 = state(home)

    # Corrected files arrive for the three days, but day 2's is cut off in transfer.
    simulate_days(START, 3, home / "landing", seed=2, **SIM)
    good = trades_file(home, DAYS[1]).read_bytes()
    trades_file(home, DAYS[1]).write_bytes(good[: len(good) // 2])

    result = run(home)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"
                  and e.step_key == "raw_trades"]
    message = failure.event_specific_data.error.message
    assert f"trades for {DAYS[1]} failed" in message and "truncated" in message.lower()
    assert f"1 day(s) before it were reloaded and committed ({DAYS[0]}..{DAYS[0]})" in message
    assert f"1 day(s) not attempted ({DAYS[2]}..{DAYS[2]})" in message

    raw_mid, marts_mid = state(home)
    assert raw_mid[DAYS[0]] != raw_v1[DAYS[0]]  # day 1 reloaded (and said so)
    assert raw_mid[DAYS[1]] == raw_v1[DAYS[1]] and raw_mid[DAYS[2]] == raw_v1[DAYS[2]]  # untouched
    assert marts_mid == marts_v1  # no mart was rebuilt from a partial range

    trades_file(home, DAYS[1]).write_bytes(good)  # the vendor re-delivers
    assert run(home).success
    simulate_days(START, 3, clean / "landing", seed=2, **SIM)
    assert run(clean).success
    assert state(home) == state(clean)


@pytest.fixture(autouse=True)
def _env(tickwh_env: Path) -> None:
    """A private TICKWH_HOME (the lake paths are explicit; nothing may fall back to var/)."""
