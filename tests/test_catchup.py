"""Catch-up: gap finding, which days have data, the daily schedule's skip, and the sensor over a real
instance with a real failed run (the daemon-driven test is tests/test_catchup_daemon.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from ingest.availability import describe_days, landed_days
from ingest.books import BookExpectation
from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.catchup.sensors import (
    CATCHUP_TAG,
    catchup_missed_days,
    missing_ranges,
    plan_catchup,
    utc_today,
)
from orchestration.defs.marts.schedules import daily_schedule
from orchestration.defs.vendors.resources import VendorSourceResource
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests.ui_servers import BIN

D = dt.date


def test_no_gaps():
    keys = [f"2024-01-0{i}" for i in range(1, 6)]
    assert missing_ranges(keys, D(2024, 1, 1), D(2024, 1, 5)) == []


def test_gaps_are_grouped_into_contiguous_ranges():
    keys = ["2024-01-01", "2024-01-04", "2024-01-08"]
    assert missing_ranges(keys, D(2024, 1, 1), D(2024, 1, 9)) == [
        (D(2024, 1, 2), D(2024, 1, 3)),
        (D(2024, 1, 5), D(2024, 1, 7)),
        (D(2024, 1, 9), D(2024, 1, 9)),
    ]


def test_everything_missing_is_one_range():
    assert missing_ranges([], D(2024, 2, 27), D(2024, 3, 2)) == [(D(2024, 2, 27), D(2024, 3, 2))]



# --- which days have data (real files in a real landing folder) -----------------------------------

REPO = Path(__file__).resolve().parents[1]
SMALL_DAY = {"trades_per_day": 3_000, "snapshot_interval_ms": 20_000, "seed": 5}


def test_a_day_needs_trades_and_the_book_files_its_exchanges_are_expected_to_have(tmp_path: Path) -> None:
    simulate_days(D(2024, 1, 1), 2, tmp_path, **SMALL_DAY)
    next(tmp_path.glob("*_book_snapshot_*_2024-01-02_*")).unlink()  # 2 Jan: trades only
    (tmp_path / "notes_2024-01-05.txt").write_text("not a landing file")
    # simex delivered books on 1 Jan, so (auto) its 2 Jan without books would fail: not requested.
    assert landed_days(tmp_path, BookExpectation.parse("auto")) == {D(2024, 1, 1)}
    assert landed_days(tmp_path, BookExpectation.parse("none")) == {D(2024, 1, 1), D(2024, 1, 2)}
    for book in tmp_path.glob("*_book_snapshot_*"):
        book.unlink()
    # A trades-only source (no book file ever): every trades day loads.
    assert landed_days(tmp_path, BookExpectation.parse("auto")) == {D(2024, 1, 1), D(2024, 1, 2)}
    assert landed_days(tmp_path, BookExpectation.parse("all")) == set()
    assert landed_days(tmp_path / "absent") == set()


def test_plan_splits_gaps_by_where_the_data_is() -> None:
    gaps = [(D(2024, 1, 2), D(2024, 1, 6)), (D(2024, 1, 9), D(2024, 1, 9))]
    plan = plan_catchup(gaps, landed={D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 5)}, listed={D(2024, 1, 6)})
    assert plan.load == [(D(2024, 1, 2), D(2024, 1, 3)), (D(2024, 1, 5), D(2024, 1, 5))]
    assert plan.stage == [(D(2024, 1, 6), D(2024, 1, 6))]
    assert plan.no_data == [D(2024, 1, 4), D(2024, 1, 9)]
    assert describe_days(plan.no_data) == "2 days (2024-01-04..2024-01-09)"


def test_schedule_skips_a_day_without_landing_files(tmp_path: Path) -> None:
    simulate_days(D(2024, 3, 5), 1, tmp_path, **SMALL_DAY)
    landing = LandingZoneResource(root=str(tmp_path))
    for tick, expected in ((dt.datetime(2024, 3, 6, 1, 30, tzinfo=dt.UTC), "2024-03-05"),
                           (dt.datetime(2024, 3, 7, 1, 30, tzinfo=dt.UTC), None)):
        with build_schedule_context(scheduled_execution_time=tick, resources={"landing": landing},
                                    repository_def=build_defs().get_repository_def()) as context:
            result = daily_schedule.evaluate_tick(context)
        if expected:
            assert [r.partition_key for r in result.run_requests or []] == [expected]
        else:
            assert result.run_requests == []
            assert result.skip_message == (
                f"no landing files for 2024-03-06 under {tmp_path} (need trades, and the book files of the "
                "exchanges expected to have books: TICKWH_BOOK_EXCHANGES=auto)"
            )


# --- the sensor over a real instance, with a real failed run --------------------------------------


@pytest.fixture
def instance(tickwh_env: Path) -> DagsterInstance:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config.pop("run_retries", None)  # the retry daemon does not run here; the sensor's own re-request is tested
    with instance_for_test(overrides=config, temp_dir=str(tickwh_env / "dagster_home")) as inst:
        yield inst


def evaluate(instance: DagsterInstance, home: Path, cursor: str | None = None) -> SensorResult:
    resources = {"landing": LandingZoneResource(root=str(home / "landing")), "vendor_source": VendorSourceResource()}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = catchup_missed_days(context)
    return result


def test_failed_gap_is_requested_again_and_days_without_data_are_skipped(
    tickwh_env: Path, instance: DagsterInstance
) -> None:
    first, broken = D(2024, 3, 5), D(2024, 3, 7)
    landing = tickwh_env / "landing"
    simulate_days(first, 1, landing, **SMALL_DAY)
    simulate_days(broken, 1, landing, **SMALL_DAY)
    # 7 March is on disk but its trades file is cut short: the load fails for real.
    trades = next(landing.glob("*_trades_2024-03-07_*"))
    with gzip.open(trades, "wt") as fh:
        fh.write("exchange,symbol\n")
    defs = build_defs({"warehouse": WarehouseResource.at(tickwh_env),
                       "landing": LandingZoneResource(root=str(landing))})
    job = defs.resolve_job_def("daily_pipeline")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    assert job.execute_in_process(instance=instance, partition_key=str(first), run_config=quiet).success

    last_missing = utc_today() - dt.timedelta(days=2)  # UTC, whatever the machine's zone
    missing = [D(2024, 3, 6)] + [broken + dt.timedelta(days=i) for i in range(1, (last_missing - broken).days + 1)]
    no_data = f"no data for {describe_days(missing)}"
    result = evaluate(instance, tickwh_env)
    assert [(r.run_key, r.tags[CATCHUP_TAG], r.job_name) for r in result.run_requests] == [
        ("catchup-daily_pipeline-2024-03-07-2024-03-07-0", "2024-03-07..2024-03-07", "daily_pipeline")
    ]
    reported = json.loads(result.cursor)["no_data"]
    assert reported.startswith(no_data + ": no landing files (trades, and books where expected) under ")
    assert f"..{last_missing})" in no_data

    # The requested run fails (a real load of the broken file) ...
    request = result.run_requests[0]
    failed = job.execute_in_process(instance=instance, tags=request.tags, run_config=quiet, raise_on_error=False)
    assert not failed.success
    assert instance.get_run_by_id(failed.run_id).status == DagsterRunStatus.FAILURE

    # ... and the next tick asks again, under a fresh run key.
    again = evaluate(instance, tickwh_env, cursor=result.cursor)
    assert [r.run_key for r in again.run_requests] == ["catchup-daily_pipeline-2024-03-07-2024-03-07-1"]

    # Repaired, the gap loads; then only days without data remain, and the skip says which.
    simulate_days(broken, 1, landing, **SMALL_DAY)
    ok = job.execute_in_process(instance=instance, tags=again.run_requests[0].tags, run_config=quiet)
    assert ok.success
    done = evaluate(instance, tickwh_env, cursor=again.cursor)
    assert done.run_requests == []
    assert done.skip_reason.skip_message.startswith(no_data + ": no landing files")


def test_vendor_days_are_read_from_a_real_vendor_folder(tmp_path: Path) -> None:
    from ingest.vendors.source import VendorSource, vendor_trade_days

    tardis = tmp_path / "tardis"
    tardis.mkdir()
    for name in ("binance-futures_trades_2024-02-01_BTCUSDT.csv.gz", "binance-futures_trades_2024-02-03_ETHUSDT.csv",
                 "binance-futures_quotes_2024-02-05_BTCUSDT.csv.gz", "binance_trades_2024-02-07_BTCUSDT.csv.gz"):
        (tardis / name).write_bytes(b"")
    source = VendorSource(vendor="tardis", market="usdm", path=str(tardis))
    assert vendor_trade_days(source, tmp_path / "landing") == {D(2024, 2, 1), D(2024, 2, 3)}

    folder = tmp_path / "binance" / "data" / "futures" / "um" / "daily" / "trades" / "BTCUSDT"
    folder.mkdir(parents=True)
    for name in ("BTCUSDT-trades-2024-02-10.zip", "BTCUSDT-trades-2024-02-10.zip.CHECKSUM",
                 "BTCUSDT-aggTrades-2024-02-11.zip"):
        (folder / name).write_bytes(b"")
    source = VendorSource(vendor="binance", market="usdm", path=str(tmp_path / "binance"), symbols=("BTCUSDT",))
    assert vendor_trade_days(source, tmp_path / "landing") == {D(2024, 2, 10)}


def test_tickwh_catchup_on_a_fresh_home_loads_the_landing_days_quietly(tmp_path: Path) -> None:
    """`tickwh catchup` as a user types it, on a home where nothing was loaded yet: it finds the landed
    days itself (no --from), runs them as one run, and prints no Dagster DEBUG event lines (-v does)."""
    home = tmp_path / "var"
    first = D(2024, 1, 1)
    simulate_days(first, 2, home / "landing", trades_per_day=2_000, snapshot_interval_ms=60_000, seed=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "DAGSTER_HOME"))}
    env.update({"TICKWH_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"})
    done = subprocess.run([str(BIN / "tickwh"), "catchup"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "nothing loaded yet" not in out
    assert f"running daily_pipeline for {first}..{first + dt.timedelta(days=1)} as one run" in done.stdout, out
    assert "success" in done.stdout
    yesterday = utc_today() - dt.timedelta(days=1)
    no_data = [first + dt.timedelta(days=i) for i in range(2, (yesterday - first).days + 1)]
    assert f"skipped: no landing files for {describe_days(no_data)}" in done.stdout
    assert not [line for line in done.stderr.splitlines() if " DEBUG " in line], done.stderr[-3000:]
    assert "dbt build of dbt_daily_marts for 2024-01-01..2024-01-02: " in done.stderr
    with DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        assert instance.get_materialized_partitions(AssetKey("raw_trades")) == {"2024-01-01", "2024-01-02"}


def test_a_refused_landing_file_name_is_reported_once_and_every_other_day_found(
    tickwh_env: Path, instance: DagsterInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 22 (9): one file with a refused name must not hide the other days, in the sensor or the CLI."""
    from dagster import AssetMaterialization

    from ingest.availability import scan_landing
    from tickwh.cli import main as tickwh

    landing = tickwh_env / "landing"
    simulate_days(D(2024, 3, 5), 3, landing, **SMALL_DAY)
    bad = landing / "simex_trades_2024-03-09_A..B.csv.gz"
    bad.write_bytes((landing / "simex_trades_2024-03-07_ALL.csv.gz").read_bytes())
    why = ("refused 1 landing file name: 'simex_trades_2024-03-09_A..B.csv.gz': refused landing file name: "
           "invalid symbol 'A..B': contains '..' (a parent-directory reference); expected letters, digits, '_', "
           "'-' and single '.' (at most 48); map vendor symbols with '/' or ':' through canonical_symbol")
    scan = scan_landing(landing, BookExpectation.parse("auto"))
    assert scan.days == {D(2024, 3, 5), D(2024, 3, 6), D(2024, 3, 7)}
    assert scan.describe_refused() == why

    instance.report_runless_asset_event(AssetMaterialization(asset_key="raw_trades", partition="2024-03-05"))
    result = evaluate(instance, tickwh_env)
    assert [r.tags[CATCHUP_TAG] for r in result.run_requests] == ["2024-03-06..2024-03-07"]
    assert json.loads(result.cursor)["refused"] == why  # logged once: the next tick compares the cursor

    capsys.readouterr()
    assert tickwh(["catchup", "--dry-run", "--from", "2024-03-05", "--to", "2024-03-09"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"warning: {why}"
    assert out.count(f"warning: {why}") == 1
    assert "would run daily_pipeline for 2024-03-06..2024-03-07 as one run" in out  # 03-05 is loaded
