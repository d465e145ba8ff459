"""Issue 22's numbered defects 4, 5, 6, 7 and 10: writes stay in the home, destructive and unbounded
arguments are bounded, a time pin is reproducible, names match whole."""

from __future__ import annotations

import datetime as dt
import resource
import time
from pathlib import Path

import pytest

from ingest import lake
from ingest.cold.config import ColdStoreConfig
from ingest.errors import SettingError
from ingest.history import HistoricalData, HistoryError
from ingest.lake_admin import maintain
from ingest.landing import parse_landing_name
from ingest.loader import load_day
from ingest.names import InvalidNameError, validate_exchange, validate_symbol
from ingest.research import get_bars
from ingest.simulator import default_symbols, simulate_days
from tickwh.cli import main as tickwh

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
SMALL = {"symbols": default_symbols(2), "trades_per_day": 2_000, "snapshot_interval_ms": 600_000}


def load(home: Path, day: dt.date) -> None:
    with lake.connect(lake.LakeConfig.embedded(home)) as con:
        load_day(con, home / "landing", day, "trades")


# -- (4) nothing written outside the home ----------------------------------------------------------

def test_simulate_without_out_writes_under_the_home_not_the_working_directory(
    tickwh_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["simulate", "--start", "2024-01-01", "--trades-per-day", "100", "--symbols", "2",
            "--snapshot-interval-ms", "3600000"]
    assert tickwh(argv) == 0
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in (tickwh_env / "landing").iterdir()) == [
        "simex_book_snapshot_5_2024-01-01_ALL.csv.gz", "simex_derivative_ticker_2024-01-01_ALL.csv.gz",
        "simex_liquidations_2024-01-01_ALL.csv.gz", "simex_quotes_2024-01-01_ALL.csv.gz",
        "simex_trades_2024-01-01_ALL.csv.gz"]
    with pytest.raises(SystemExit) as exit_:
        tickwh([*argv, "--out", str(elsewhere / "landing")])
    assert exit_.value.code == 2 and list(elsewhere.iterdir()) == []


def test_seaweedfs_leaves_no_logs_or_sockets_in_tmp(tmp_path: Path) -> None:
    """Its logs (glog names them weed.<host>.<user>.log.<level>.<time>.<pid>) and its sockets (named
    after its ports) are in its directory or gone once it stopped; other processes share /tmp."""
    from ingest.cold.seaweed import SeaweedServer

    server = SeaweedServer(tmp_path / "seaweed").start()
    try:
        assert server.process is not None
        pid, ports = server.process.pid, set(server.ports.values())
        assert any((tmp_path / "seaweed" / "tmp").glob("weed.*"))  # its logs are in its own directory
    finally:
        server.stop()
    left = [p.name for p in Path("/tmp").iterdir()
            if (p.name.startswith("weed.") and p.name.endswith(f".{pid}"))
            or (p.name.startswith("seaweedfs-") and any(p.name.endswith(f"-{port}.sock") for port in ports))]
    assert left == []


# -- (5) the maintenance window is bounded ---------------------------------------------------------

@pytest.mark.parametrize("days", [-5, 0, 0.5, 1e5])  # over 999999999 days timedelta itself refuses
def test_maintenance_refuses_a_window_that_would_expire_every_pin(tickwh_env: Path, days: float) -> None:
    simulate_days(D1, 1, tickwh_env / "landing", **SMALL)
    load(tickwh_env, D1)
    with lake.connect(lake.LakeConfig.embedded(tickwh_env)) as con:
        before = lake.snapshots(con)
        with pytest.raises(lake.LakeError, match=r"^keep must be from 1 to 3650 days, got .*: a shorter window "
                                                 r"would expire the snapshots pinned backtests read$"):
            maintain(con, keep=dt.timedelta(days=days))
        assert lake.snapshots(con) == before


def test_keep_days_setting_is_bounded() -> None:
    from ingest.settings import Settings

    for value in ("-5", "0", "nan", "inf", "1e12"):
        with pytest.raises(SettingError, match=rf"^TICKWH_LAKE_KEEP_DAYS: '{value}' is out of range: expected a "
                                               r"finite number from 1 to 3650$"):
            Settings.from_env({"TICKWH_LAKE_KEEP_DAYS": value})
    assert Settings.from_env({"TICKWH_LAKE_KEEP_DAYS": "7.5"}).lake_keep_days == 7.5


# -- (6) a time pin is reproducible ----------------------------------------------------------------

def test_a_time_pin_reads_the_same_rows_after_another_load_and_a_future_one_is_refused(
    tickwh_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tickwh_env / "landing"
    simulate_days(D1, 2, landing, **SMALL)
    load(tickwh_env, D1)
    time.sleep(1.1)  # the pin is a time after the first load's snapshot, before the second's
    pin = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    time.sleep(1.1)
    argv = ["history", "trades", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-03", "--csv", "--no-cold",
            "--as-of", pin.isoformat()]

    def run() -> tuple[str, str]:
        capsys.readouterr()  # the simulator's and loader's log lines are not this command's output
        assert tickwh(argv) == 0
        got = capsys.readouterr()
        return got.out, got.err

    with lake.connect(lake.LakeConfig.embedded(tickwh_env), read_only=True) as con:
        first_snapshot = lake.current_snapshot(con)
    out1, err1 = run()
    assert err1.splitlines()[0] == (f"as of {pin:%Y-%m-%dT%H:%M:%S}Z: snapshot {first_snapshot} "
                                    f"(pin it: --as-of {first_snapshot})")
    load(tickwh_env, D2)
    out2, err2 = run()
    assert out2 == out1 and err2.splitlines()[0] == err1.splitlines()[0]
    rows = out1.splitlines()[1:]
    assert len(rows) > 100 and all(r.startswith("2024-01-01,") for r in rows)  # 2 January is not in the pin

    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    capsys.readouterr()
    code = tickwh([*argv[:-1], future.replace(tzinfo=None).isoformat(timespec="seconds")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: as_of {future:%Y-%m-%dT%H:%M:%S}Z is in the future: not a pin (the "
                                        "next load would change what it reads); the newest snapshot is ")
    with pytest.raises(HistoryError, match="is in the future: not a pin"):
        HistoricalData(lake.LakeConfig.embedded(tickwh_env), as_of=future)


# -- (7) work sized by the data, not the range -----------------------------------------------------

def test_one_second_bars_over_200_years_cost_what_the_data_costs(tickwh_env: Path) -> None:
    simulate_days(D1, 2, tickwh_env / "landing", **SMALL)
    load(tickwh_env, D1)
    load(tickwh_env, D2)
    hist = HistoricalData(lake.LakeConfig.embedded(tickwh_env))
    expected = get_bars(hist, "BTCUSDT", "1s", D1, D3).to_arrow()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    wide = get_bars(hist, "BTCUSDT", "1s", "1900-01-01", "2099-12-31").to_arrow()
    seconds = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert wide.equals(expected) and expected.num_rows > 1_000
    assert seconds < 20 and grown_mb < 500, (seconds, grown_mb)  # the range's grid: 6.3e9 buckets, ~47 GiB
    filled = get_bars(hist, "BTCUSDT", "1s", "1900-01-01", "2099-12-31", fill="prev").to_arrow()
    assert filled.num_rows == get_bars(hist, "BTCUSDT", "1s", D1, D3, fill="prev").to_arrow().num_rows
    assert get_bars(hist, "BTCUSDT", "1s", "2150-01-01", "2199-12-31").to_arrow().num_rows == 0


# -- (10) a trailing newline is not the end of a name ----------------------------------------------

def test_names_and_file_names_with_a_trailing_newline_are_refused() -> None:
    with pytest.raises(InvalidNameError, match=r"^invalid symbol 'BTCUSDT\\n'"):
        validate_symbol("BTCUSDT\n")
    with pytest.raises(InvalidNameError, match=r"^invalid exchange 'binance\\n'"):
        validate_exchange("binance\n")
    assert parse_landing_name(Path("simex_trades_2024-01-01_BTCUSDT.csv.gz\n")) is None
    assert parse_landing_name(Path("simex_trades_2024-01-01_BTCUSDT.csv.gz")) is not None
    with pytest.raises(SettingError, match=r"^TICKWH_COLD_BUCKET: 'tickwh-cold\\n' is not an S3 bucket name"):
        ColdStoreConfig(endpoint_url="http://127.0.0.1:1", bucket="tickwh-cold\n")
    with pytest.raises(lake.LakeError, match=r"^invalid S3 region"):
        lake.LakeConfig(catalog="sqlite:/x/catalog.sqlite", data_path="/x/", s3_region="us-east-1\n")
