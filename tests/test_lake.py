"""The warm warehouse on DuckLake, with real processes: readers during loads, concurrent writers,
point-in-time reads, kill -9 inside a load, maintenance and migration.

Every writer here is a separate Python process (`tests/lake_worker.py`); the reader is this one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dagster import materialize

from ingest import lake
from ingest.history import HistoricalData
from ingest.lake_admin import fingerprints, maintain, migrate, stored_file_count
from ingest.loader import load_day
from ingest.simulator import simulate_day, simulate_days
from ingest.warehouse import FENCES
from orchestration.defs.maintenance.assets import lake_maintenance
from orchestration.lib.resources import WarehouseResource
from tests import lakes

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2024, 5, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
SYMBOL = "BTCUSDT"
MARTS = ["ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d", "daily_stats"]
SIM = {"trades_per_day": 20_000, "snapshot_interval_ms": 60_000}


def worker_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWH_LAKE_")}
    return {**env, "TICKWH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), **extra}


def start_worker(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    # The worker's log goes to a file: a pipe nobody reads while the test polls (the readers' loop)
    # fills at 64 KiB and blocks the worker in its next log line.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed with the test process; read in finish()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.lake_worker", args[0], str(home), *args[1:]],
        cwd=REPO, env=env or worker_env(home), stdout=subprocess.PIPE, stderr=log, text=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    proc.log.seek(0)  # type: ignore[attr-defined]
    err = proc.log.read()  # type: ignore[attr-defined]
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err[-4000:]}"
    return json.loads(out.strip().splitlines()[-1])


def run_pipeline(home: Path, first: dt.date, last: dt.date) -> None:
    finish(start_worker(home, "pipeline", first.isoformat(), last.isoformat()))


def marts(home: Path) -> dict[str, list[tuple]]:
    with lakes.connect(home, read_only=True) as con:
        return {m: con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall() for m in MARTS}


def raw_counts(home: Path) -> dict[tuple[str, dt.date], int]:
    with lakes.connect(home, read_only=True) as con:
        rows = con.execute(
            "SELECT 'trades', trade_date, count(*) FROM raw.trades GROUP BY ALL UNION ALL "
            "SELECT 'book', snapshot_date, count(*) FROM raw.book_snapshots GROUP BY ALL"
        ).fetchall()
    return {(k, d): n for k, d, n in rows}


def read_day(api: HistoricalData, day: dt.date) -> tuple[pa.Table, pa.Table]:
    """One research read of a day: its 1m bars, and one hour of its trades."""
    bars = api.get_ohlcv(SYMBOL, "1m", day, day + dt.timedelta(days=1))
    hour = dt.datetime.combine(day, dt.time(12))
    trades = api.get_trades(SYMBOL, hour, hour + dt.timedelta(hours=1))
    return bars, trades


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated days through daily_pipeline (one ranged run, its own process)."""
    home = tmp_path_factory.mktemp("lake_built")
    (home / "dagster_home").mkdir()
    simulate_days(START, len(DAYS), home / "landing", seed=5, **SIM)
    run_pipeline(home, DAYS[0], DAYS[-1])
    return home


@pytest.fixture
def home(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built lake and its landing files."""
    import shutil

    lakes.copy_home_lake(built, tmp_path)
    shutil.copytree(built / "landing", tmp_path / "landing")
    (tmp_path / "dagster_home").mkdir()
    return tmp_path


def test_readers_during_a_ranged_run_never_fail_and_see_each_day_before_or_after(home: Path) -> None:
    # A corrected day 2 makes "before" and "after" differ, so a half-replaced day would show.
    simulate_day(DAYS[1], home / "landing", seed=99, **SIM)
    api = HistoricalData(lakes.lake_at(home))
    before = {d: read_day(api, d) for d in DAYS}
    writer = start_worker(home, "pipeline", DAYS[0].isoformat(), DAYS[-1].isoformat())
    during: list[tuple[dt.date, tuple[pa.Table, pa.Table]]] = []
    failures: list[str] = []
    while writer.poll() is None:
        for day in DAYS:
            try:
                during.append((day, read_day(api, day)))
            except Exception as exc:  # every failure counts, whatever its type
                failures.append(f"{day}: {exc}")
        time.sleep(0.1)
    finish(writer)
    after = {d: read_day(api, d) for d in DAYS}

    assert failures == []
    assert len(during) >= 15, f"only {len(during)} reads overlapped the run"
    assert not before[DAYS[1]][0].equals(after[DAYS[1]][0])  # the correction changed day 2's bars
    # Each call reads one snapshot: a day's bars (and its trades) are the old or the new ones, never a
    # mix or a gap. Raw commits before dbt, so bars and trades of one moment may differ; pin to join them.
    for day, (bars, trades) in during:
        assert bars.equals(before[day][0]) or bars.equals(after[day][0]), f"{day}: bars between two states"
        assert trades.equals(before[day][1]) or trades.equals(after[day][1]), f"{day}: trades between two states"
    assert raw_counts(home)[("trades", DAYS[1])] == 20_000


def test_two_processes_load_different_days_at_once_like_a_sequential_run(tmp_path: Path) -> None:
    # Days 1 and 3: daily_stats of a day reads the previous day's close, so adjacent days run at once
    # would depend on which commits first (as they would run one after the other in either order).
    first, other = DAYS[0], DAYS[2]
    seq, par = tmp_path / "seq", tmp_path / "par"
    for h in (seq, par):
        for day in (first, other):
            simulate_day(day, h / "landing", seed=5, **SIM)
        (h / "dagster_home").mkdir(parents=True)
    # The sequential reference skips Dagster and the checks (raw loads and `dbt run` of each day's window):
    # the same writes, in a third of the time.
    finish(start_worker(seq, "reference", first.isoformat(), other.isoformat()))

    a = start_worker(par, "pipeline", first.isoformat(), first.isoformat())
    b = start_worker(par, "pipeline", other.isoformat(), other.isoformat())
    finish(a), finish(b)

    assert raw_counts(par) == raw_counts(seq)
    assert marts(par) == marts(seq)


def test_two_processes_reload_the_same_day_at_once_end_as_one_reload(home: Path) -> None:
    expected_raw, expected_marts = raw_counts(home), marts(home)
    procs = [start_worker(home, "pipeline", DAYS[1].isoformat(), DAYS[1].isoformat()) for _ in range(2)]
    for p in procs:
        finish(p)
    assert raw_counts(home) == expected_raw  # 20,000 trades for the day, not 40,000
    assert marts(home) == expected_marts


def test_two_first_loads_of_a_new_day_at_once_do_not_double_it(home: Path) -> None:
    new_day = DAYS[-1] + dt.timedelta(days=1)
    simulate_day(new_day, home / "landing", seed=5, **SIM)
    procs = [start_worker(home, "load", new_day.isoformat(), "trades") for _ in range(2)]
    assert [finish(p)["rows_loaded"] for p in procs] == [20_000, 20_000]
    assert raw_counts(home)[("trades", new_day)] == 20_000


def test_as_of_reads_what_the_warehouse_held_before_a_correction(home: Path) -> None:
    cfg = lakes.lake_at(home)
    api = HistoricalData(cfg)
    old_snapshot = api.snapshot()
    old_bars, old_trades = read_day(api, DAYS[1])
    old_time = dt.datetime.now(dt.UTC)
    time.sleep(0.05)

    simulate_day(DAYS[1], home / "landing", seed=99, **SIM)  # the vendor's corrected file
    run_pipeline(home, DAYS[1], DAYS[1])

    new_bars, new_trades = read_day(api, DAYS[1])
    assert not new_bars.equals(old_bars) and not new_trades.equals(old_trades)
    pinned = HistoricalData(cfg, as_of=old_snapshot)
    assert read_day(pinned, DAYS[1]) == (old_bars, old_trades)
    at_time = HistoricalData(cfg, as_of=old_time)
    assert at_time.snapshot() == old_snapshot
    assert read_day(at_time, DAYS[1])[0].equals(old_bars)
    # pin() freezes the current state: a later correction does not reach it.
    frozen = api.pin()
    assert frozen.snapshot() == api.snapshot() > old_snapshot

    def cli(*extra: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "ingest.history", "ohlcv", SYMBOL, "--start", DAYS[1].isoformat(),
             "--end", DAYS[2].isoformat(), "--no-cold", "--csv", *extra],
            cwd=REPO, env=worker_env(home), capture_output=True, text=True, check=True,
        )
        return out.stdout

    import io

    from ingest.numbers import write_csv

    def csv_of(table: pa.Table) -> str:  # the CLI's text (ingest/numbers.py) of the API's answer
        sink = io.StringIO()
        write_csv(table.to_batches(), table.schema, sink)
        return sink.getvalue()

    assert cli("--as-of", str(old_snapshot)) == csv_of(old_bars)
    assert cli() == csv_of(new_bars)


def test_as_of_rejects_bad_values(home: Path) -> None:
    from ingest.history import HistoryError

    with pytest.raises(HistoryError, match="invalid as_of"):
        HistoricalData(lakes.lake_at(home), as_of="yesterday")
    with pytest.raises(HistoryError, match="No snapshot found|snapshot"):
        HistoricalData(lakes.lake_at(home), as_of=10**9).get_ohlcv(SYMBOL, "1m", DAYS[0], DAYS[1])


def _parquet_files(root: Path) -> set[Path]:
    return set(root.rglob("*.parquet"))


def _trades_files(con) -> int:
    """Data and delete files of raw.trades the catalog tracks, for any snapshot kept."""
    meta = f"__ducklake_metadata_{lake.ALIAS}"
    return con.execute(
        f"SELECT (SELECT count(*) FROM {meta}.ducklake_data_file f WHERE f.table_id = t.table_id)"
        f" + (SELECT count(*) FROM {meta}.ducklake_delete_file f WHERE f.table_id = t.table_id)"
        f" FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)"
        " WHERE s.schema_name = 'raw' AND t.table_name = 'trades' AND t.end_snapshot IS NULL").fetchone()[0]


def test_kill_9_inside_a_load_leaves_the_previous_day_and_a_rerun_is_exact(home: Path) -> None:
    cfg = lakes.lake_at(home)
    with lake.connect(cfg, read_only=True) as con:
        snapshot_before = lake.current_snapshot(con)
        before = con.execute(
            "SELECT count(*), sum(hash(trade_id, price, amount, ts)) FROM raw.trades WHERE trade_date = ?", [DAYS[1]]
        ).fetchone()
    # A corrected day big enough that the insert takes a while: the kill lands while files are written.
    simulate_day(DAYS[1], home / "landing", seed=99, trades_per_day=1_500_000, snapshot_interval_ms=60_000)
    data_dir = Path(cfg.data_path)
    files_before = _parquet_files(data_dir / "raw" / "trades")
    proc = start_worker(home, "load", DAYS[1].isoformat(), "trades")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if _parquet_files(data_dir / "raw" / "trades") - files_before:  # the INSERT is writing: inside the txn
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the load finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with lake.connect(cfg, read_only=True) as con:
        assert lake.current_snapshot(con) == snapshot_before  # no partial snapshot
        after_kill = con.execute(
            "SELECT count(*), sum(hash(trade_id, price, amount, ts)) FROM raw.trades WHERE trade_date = ?", [DAYS[1]]
        ).fetchone()
    assert after_kill == before

    finish(start_worker(home, "load", DAYS[1].isoformat(), "trades"))
    with lake.connect(cfg, read_only=True) as con:
        n, ids = con.execute(
            "SELECT count(*), count(DISTINCT trade_id) FROM raw.trades WHERE trade_date = ?", [DAYS[1]]
        ).fetchone()
        assert con.execute("SELECT count(*) FROM raw.quarantine WHERE partition_date = ?", [DAYS[1]]).fetchone() == (0,)
    assert n == ids == 1_500_000


def test_maintenance_merges_files_expires_snapshots_and_changes_no_answer(home: Path) -> None:
    cfg = lakes.lake_at(home)
    for _ in range(3):  # reloads leave replaced files and snapshots behind
        with lake.connect(cfg) as con:
            load_day(con, home / "landing", DAYS[0], "trades")
    with lake.connect(cfg, read_only=True) as con:
        prints_before = fingerprints(con)
        files_before = stored_file_count(con)
        trades_files_before = _trades_files(con)
        snapshots_before = len(lake.snapshots(con))
    on_disk_before = len(_parquet_files(Path(cfg.data_path) / "raw" / "trades"))

    # A window under a day is refused: it would expire the snapshot a backtest pinned minutes ago.
    refused = materialize([lake_maintenance], resources={"warehouse": WarehouseResource.at(home)},
                          run_config={"ops": {"lake_maintenance": {"config": {"keep_days": 0}}}}, raise_on_error=False)
    assert not refused.success
    failure = refused.failure_data_for_node("lake_maintenance")
    assert failure is not None and "keep_days" in str(failure.error) and "greater than or equal to 1" in str(
        failure.error)
    result = materialize([lake_maintenance], resources={"warehouse": WarehouseResource.at(home)},
                         run_config={"ops": {"lake_maintenance": {"config": {"keep_days": 1}}}})
    assert result.success
    meta = result.asset_materializations_for_node("lake_maintenance")[0].metadata
    with lake.connect(cfg, read_only=True) as con:
        assert fingerprints(con) == prints_before
        assert len(lake.snapshots(con)) >= snapshots_before  # every pin of the last day still reads
    assert meta["files_before"].value == files_before

    # Two days later the same one-day window expires the old snapshots and deletes what nobody reads.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with lake.connect(cfg) as con:
        maintain(con, keep=dt.timedelta(days=1), now=later)
    with lake.connect(cfg, read_only=True) as con:
        assert fingerprints(con) == prints_before
        assert len(lake.snapshots(con)) < snapshots_before
        trades_files_after = _trades_files(con)
    # The replaced trades files are gone, from the catalog and from disk. (The total may not fall: flushing
    # inlined rows, such as the fences' counters, writes small files of its own.)
    assert trades_files_after < trades_files_before
    assert len(_parquet_files(Path(cfg.data_path) / "raw" / "trades")) < on_disk_before


def test_migration_copies_a_single_file_warehouse_exactly(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "old" / "warehouse.duckdb"
    source.parent.mkdir()
    with lake.connect(lakes.lake_at(home), read_only=True) as con:
        expected = {t: fp for t, fp in fingerprints(con).items() if t not in FENCES}
        con.execute(f"ATTACH {lake.sql_literal(str(source))} AS old")
        for table in expected:
            schema = table.split(".")[0]
            con.execute(f"CREATE SCHEMA IF NOT EXISTS old.{schema}")
            con.execute(f"CREATE TABLE old.{table} AS SELECT * FROM lake.{table}")
        con.execute("DETACH old")

    target = lake.LakeConfig.embedded(tmp_path / "new")
    report = migrate(source, target)
    assert report.tables == expected
    with lake.connect(target, read_only=True) as con:
        assert {t: fp for t, fp in fingerprints(con).items() if t in expected} == expected
    with pytest.raises(lake.LakeError, match="already hold rows"):
        migrate(source, target)
    out = subprocess.run(
        [sys.executable, "-m", "ingest.lake_admin", "migrate", "--from", str(source), "--replace"],
        cwd=REPO, env={**worker_env(tmp_path), **target.env()}, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "row counts and checksums match" in out.stdout


def test_lake_settings_refuse_credentials_and_injection(tmp_path: Path) -> None:
    with pytest.raises(lake.LakeError, match="PGPASSWORD"):
        lake.LakeConfig(catalog="postgres:dbname=x password=secret", data_path=str(tmp_path))
    with pytest.raises(lake.LakeError, match=r"^postgres catalog: 'dbname' is not an accepted setting$"):
        lake.LakeConfig(catalog="postgres:dbname=x' host=y", data_path=str(tmp_path))
    with pytest.raises(lake.LakeError, match=r"^catalog must start with sqlite: or postgres:, got 'mysql'$"):
        lake.LakeConfig(catalog="mysql:x", data_path=str(tmp_path))
    with pytest.raises(lake.LakeError, match=r"^invalid S3 data path 's3://Bad_Bucket/x' \(expected s3://"):
        lake.LakeConfig(catalog="sqlite:/tmp/x.sqlite", data_path="s3://Bad_Bucket/x")
    with pytest.raises(lake.LakeError, match=r"^invalid S3 endpoint .* \(expected http\(s\)://host:port\)$"):
        lake.LakeConfig(catalog="sqlite:/tmp/x.sqlite", data_path="s3://b-ok/x", s3_endpoint="http://h:1/x'; --")
    # A trailing newline is not a valid end of a name (patterns match the whole text, not up to `$`).
    with pytest.raises(lake.LakeError, match=r"^invalid S3 region"):
        lake.LakeConfig(catalog="sqlite:/tmp/x.sqlite", data_path=str(tmp_path), s3_region="us-east-1\n")
    # A quote in a path is data, not SQL: the lake opens where it says.
    odd = lake.LakeConfig.embedded(tmp_path / "it's here")
    with lake.connect(odd) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    with pytest.raises(duckdb.Error, match="read-only|read only"), lake.connect(odd, read_only=True) as con:
        con.execute("CREATE TABLE u AS SELECT 1 AS x")


def test_dbt_builds_of_an_embedded_lake_take_turns(tmp_path: Path) -> None:
    import threading

    from ingest import lake

    cfg = lake.LakeConfig.embedded(tmp_path)
    entered = threading.Event()

    def second() -> None:
        with lake.build_lock(cfg):
            entered.set()

    with lake.build_lock(cfg):
        other = threading.Thread(target=second)
        other.start()
        assert not entered.wait(0.5)  # the other build waits while this one holds the lake
    assert entered.wait(10)
    other.join()
    shared = lake.LakeConfig(catalog="postgres:dbname=tickwh_lake", data_path=f"{tmp_path}/data/")
    with lake.build_lock(shared), lake.build_lock(shared):  # a shared catalog: no lock, retries instead
        pass
