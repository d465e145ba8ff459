"""The daily pipeline end to end through Dagster: raw load, dbt marts, reruns and ranged backfills."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from ingest.simulator import simulate_days, wide_range_symbols
from orchestration.definitions import build_defs
from orchestration.defs.marts.assets import dbt_daily_marts, dbt_rollups
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.raw.assets import raw_book_snapshots, raw_trades
from orchestration.lib.partitions import range_tags
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

START = dt.date(2024, 3, 1)
MARTS = ["ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d", "daily_stats"]
BAR_COLUMNS = (
    "exchange, symbol, bucket_start, open, high, low, close, volume, quote_volume, trade_count, "
    "vwap, buy_volume, sell_volume, first_trade_ts, last_trade_ts"
)


def resources_for(home: Path) -> dict:
    return {
        "warehouse": WarehouseResource.at(home),
        "landing": LandingZoneResource(root=str(home / "landing")),
        "dbt": dbt_resource(),
    }



def mart_contents(home: Path) -> dict[str, list[tuple]]:
    with lakes.connect(home, read_only=True) as con:
        return {m: con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall() for m in MARTS}


@pytest.fixture
def sim_home(tickwh_env: Path) -> Path:
    simulate_days(START, 5, tickwh_env / "landing", trades_per_day=20_000, seed=11, snapshot_interval_ms=60_000)
    return tickwh_env


def test_same_partition_twice_gives_identical_marts(sim_home):
    res = resources_for(sim_home)
    assets = [raw_trades, raw_book_snapshots, dbt_daily_marts]
    key = (START + dt.timedelta(days=1)).isoformat()
    assert materialize(assets, resources=res, partition_key=key).success
    first = mart_contents(sim_home)
    assert materialize(assets, resources=res, partition_key=key).success
    second = mart_contents(sim_home)
    assert {m: len(rows) for m, rows in first.items()} == {m: len(rows) for m, rows in second.items()}
    assert first == second
    assert len(first["ohlcv_1m"]) > 1000
    with lakes.connect(sim_home, read_only=True) as con:
        days = con.execute("SELECT DISTINCT bar_date FROM marts.ohlcv_1m").fetchall()
    assert days == [(START + dt.timedelta(days=1),)]


def test_backfill_of_five_days_is_one_run(sim_home):
    defs = build_defs(resources_for(sim_home))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("daily_pipeline")
    last = START + dt.timedelta(days=4)
    result = job.execute_in_process(instance=instance, tags=range_tags(START, last))
    assert result.success
    assert len(instance.get_runs()) == 1
    expected = {(START + dt.timedelta(days=i)).isoformat() for i in range(5)}
    for key in ("raw_trades", "raw_book_snapshots", "ohlcv_1m", "ohlcv_1d", "daily_stats"):
        assert instance.get_materialized_partitions(AssetKey(key)) == expected, key
    with lakes.connect(sim_home, read_only=True) as con:
        per_day = con.execute("SELECT bar_date, count(*) FROM marts.daily_stats GROUP BY 1 ORDER BY 1").fetchall()
        n_symbols = con.execute("SELECT count(DISTINCT symbol) FROM raw.trades").fetchone()[0]
    assert per_day == [(START + dt.timedelta(days=i), n_symbols) for i in range(5)]
    # The rollups rebuild from the marts in their own (unpartitioned) job.
    assert defs.resolve_job_def("rollups").execute_in_process(instance=instance).success


def test_rolled_up_bars_equal_bars_from_trades(sim_home):
    # and the instruments at the numeric contract's edges: 12-decimal prices and amounts, 20-decimal notionals
    simulate_days(START, 1, sim_home / "landing", symbols=wide_range_symbols(), exchange="simdex",
                  trades_per_day=4000, seed=5, snapshot_interval_ms=60_000)
    res = resources_for(sim_home)
    assert materialize([raw_trades, raw_book_snapshots, dbt_daily_marts], resources=res,
                       partition_key=START.isoformat()).success
    with lakes.connect(sim_home, read_only=True) as con:
        fine = con.execute("SELECT count(*) FROM raw.trades WHERE CAST(price AS DECIMAL(38, 8)) <> price "
                           "OR CAST(amount AS DECIMAL(38, 8)) <> amount").fetchone()[0]
        assert fine > 100  # a reference at scale 8 would disagree with these
        for mart, interval in [("ohlcv_5m", "5 minutes"), ("ohlcv_15m", "15 minutes"), ("ohlcv_1h", "1 hour"),
                               ("ohlcv_1d", "1 day")]:
            direct = con.execute(
                f"""SELECT exchange, symbol, time_bucket(INTERVAL '{interval}', ts) AS bucket_start,
                       arg_min(price, (ts, coalesce(trade_seq, 0), trade_id)) AS open, max(price), min(price),
                       arg_max(price, (ts, coalesce(trade_seq, 0), trade_id)) AS close, sum(amount),
                       sum(CAST(price * amount AS DECIMAL(38, 20))), count(*),
                       sum(CAST(price * amount AS DECIMAL(38, 20))) / sum(amount),
                       coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0),
                       coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0), min(ts), max(ts)
                FROM raw.trades GROUP BY ALL ORDER BY ALL"""
            ).fetchall()
            rolled = con.execute(f"SELECT {BAR_COLUMNS} FROM marts.{mart} ORDER BY ALL").fetchall()
            assert len(direct) > 0
            assert rolled == direct, mart


def python_minute_bars(path: Path) -> dict[tuple[str, int], dict]:
    """A second, independent implementation: plain Python and Decimal over the CSV rows."""
    groups: dict[tuple[str, int], list] = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            ts = int(row["timestamp"])
            groups[(row["symbol"], ts // 60_000_000)].append(
                (ts, int(row["id"]), Decimal(row["price"]), Decimal(row["amount"]), row["side"])
            )
    bars = {}
    for key, trades in groups.items():
        trades.sort(key=lambda t: (t[0], t[1]))
        volume = sum(t[3] for t in trades)
        quote = sum(t[2] * t[3] for t in trades)
        bars[key] = {
            "open": trades[0][2],
            "high": max(t[2] for t in trades),
            "low": min(t[2] for t in trades),
            "close": trades[-1][2],
            "volume": volume,
            "quote_volume": quote,
            "trade_count": len(trades),
            "vwap": float(quote / volume),
            "buy_volume": sum((t[3] for t in trades if t[4] == "buy"), Decimal(0)),
            "sell_volume": sum((t[3] for t in trades if t[4] == "sell"), Decimal(0)),
        }
    return bars


def test_bars_from_real_trades_equal_independent_computation(tickwh_env, real_trades_file):
    landing = tickwh_env / "landing"
    landing.mkdir()
    shutil.copy(real_trades_file, landing / real_trades_file.name)
    res = resources_for(tickwh_env)
    assert materialize([raw_trades, dbt_daily_marts], resources=res, partition_key="2020-02-22",
                       selection=[raw_trades, dbt_daily_marts]).success
    expected = python_minute_bars(real_trades_file)
    last_complete = dt.datetime(2020, 2, 22, 2, 5)  # the file is cut inside 02:05 (see its README)
    with lakes.connect(tickwh_env, read_only=True) as con:
        cur = con.execute(
            """SELECT symbol, bucket_start, open, high, low, close, volume, quote_volume, trade_count, vwap,
                      buy_volume, sell_volume
            FROM marts.ohlcv_1m WHERE bucket_start < ? ORDER BY bucket_start""",
            [last_complete],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 125  # 00:00..02:04, every minute traded
    for row in rows:
        minute = int(row["bucket_start"].replace(tzinfo=dt.UTC).timestamp()) // 60
        want = expected[(row["symbol"], minute)]
        for field in ("open", "high", "low", "close", "volume", "quote_volume", "trade_count",
                      "buy_volume", "sell_volume"):
            assert row[field] == want[field], (row["bucket_start"], field)
        assert row["vwap"] == pytest.approx(want["vwap"], rel=1e-15), row["bucket_start"]


def test_rollups_build_after_partitions(sim_home):
    res = resources_for(sim_home)
    assert materialize([raw_trades, raw_book_snapshots, dbt_daily_marts], resources=res,
                       partition_key=START.isoformat()).success
    assert materialize([dbt_rollups], resources=res).success
    with lakes.connect(sim_home, read_only=True) as con:
        summary = con.execute(
            "SELECT count(*), sum(total_trades) FROM marts.market_daily_summary"
        ).fetchone()
        trades = con.execute("SELECT count(*) FROM raw.trades").fetchone()[0]
        weekly = con.execute("SELECT sum(trade_count) FROM marts.rollup_weekly").fetchone()[0]
    assert summary[1] == trades
    assert weekly == trades
