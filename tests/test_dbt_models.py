"""End-to-end tests of the dbt project (dbt_project/) on a small hand-made warehouse (an embedded DuckLake).

The raw schema is created exactly as docs/contracts.md describes it, loaded with a few trades and
book snapshots whose bars are worked out by hand, and `dbt build` (models + schema tests) runs
against it in a subprocess. A second build re-runs one day through the `min_date`/`max_date`
window after raw rows changed, and must replace that day without touching the other one.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median

import duckdb
import pytest

from ingest.hot.reconcile import warm_window
from ingest.hot.tier import BAR_COLUMNS
from ingest.landing import snapshots_file_name, trades_file_name
from ingest.warehouse import ensure_raw_schema
from tests import lakes
from tests.dbt_state import seeded_target

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

DAY1 = date(2024, 1, 7)  # a Sunday: the two days fall in different ISO weeks, the same month
DAY2 = date(2024, 1, 8)
DAY3 = date(2024, 1, 9)

EXCHANGE = "binance-futures"
BTC = (EXCHANGE, "BTCUSDT")
ETH = (EXCHANGE, "ETHUSDT")
PEPE = (EXCHANGE, "PEPEUSDT")  # prices and amounts with up to 12 decimals: the contract's scale

INCREMENTAL_MARTS = ["ohlcv_1m", "ohlcv_5m", "ohlcv_15m", "ohlcv_1h", "ohlcv_1d", "daily_stats"]
ALL_MARTS = [*INCREMENTAL_MARTS, "rollup_weekly", "rollup_monthly", "market_daily_summary"]



@dataclass(frozen=True)
class Trade:
    exchange: str
    symbol: str
    ts: datetime
    trade_id: str
    side: str
    price: Decimal
    amount: Decimal

    @property
    def order_key(self) -> tuple:
        return (self.ts, int(self.trade_id) if self.trade_id.isdigit() else 0, self.trade_id)


def _trade(venue: tuple[str, str], ts: str, trade_id: str, side: str, price: str, amount: str) -> Trade:
    return Trade(*venue, datetime.fromisoformat(ts), trade_id, side, Decimal(price), Decimal(amount))


TRADES = [
    # BTC day 1. 00:00 bar: a trade exactly at midnight, and ids 100 and 99 in the same
    # microsecond (inserted 100 first): numeric order puts 99 first, so close = 42020 (id 100).
    _trade(BTC, "2024-01-07 00:00:00", "97", "buy", "42000.5", "0.1"),
    _trade(BTC, "2024-01-07 00:00:30.250000", "98", "sell", "42010", "0.2"),
    _trade(BTC, "2024-01-07 00:00:59.999999", "100", "buy", "42020", "0.05"),
    _trade(BTC, "2024-01-07 00:00:59.999999", "99", "sell", "41990", "0.3"),
    # exactly on the minute boundary: belongs to 00:01, not 00:00; side unknown
    _trade(BTC, "2024-01-07 00:01:00", "101", "unknown", "42030", "0.4"),
    # 00:02 has no trade
    _trade(BTC, "2024-01-07 00:03:10", "102", "buy", "42040", "1.0"),
    _trade(BTC, "2024-01-07 00:07:00.500000", "103", "sell", "42000", "0.5"),
    _trade(BTC, "2024-01-07 13:30:00", "104", "buy", "42100", "0.25"),
    # BTC day 2
    _trade(BTC, "2024-01-08 00:00:05", "105", "buy", "42200", "0.3"),
    _trade(BTC, "2024-01-08 00:00:40", "106", "sell", "42150", "0.2"),
    _trade(BTC, "2024-01-08 10:00:00", "107", "buy", "42300", "0.1"),
    _trade(BTC, "2024-01-08 23:59:59.999999", "108", "sell", "42250", "0.4"),
    # ETH day 1: non-numeric ids (trade_seq NULL), 'b-2' and 'a-1' in the same microsecond:
    # the text id breaks the tie, so 'a-1' comes first and the 08:00 close is 2251 ('b-2').
    _trade(ETH, "2024-01-07 08:00:00", "f3c1", "buy", "2250.25", "2"),
    _trade(ETH, "2024-01-07 08:00:00.123456", "b-2", "sell", "2251", "1"),
    _trade(ETH, "2024-01-07 08:00:00.123456", "a-1", "buy", "2249.5", "3"),
    _trade(ETH, "2024-01-07 08:05:00", "c", "unknown", "2260", "1.5"),
    # ETH day 2: a single trade
    _trade(ETH, "2024-01-08 09:00:00", "d", "sell", "2240", "1"),
    # PEPE: 12 decimals (a reference at DECIMAL(38, 8) would get these bars wrong), notionals of 20
    _trade(PEPE, "2024-01-07 00:00:10", "1", "buy", "0.000000987654", "2000.12345678"),
    _trade(PEPE, "2024-01-07 00:00:20", "2", "sell", "0.000000987", "2000"),
    _trade(PEPE, "2024-01-07 00:04:00", "3", "unknown", "0.000001000001", "123456.7"),
    _trade(PEPE, "2024-01-07 00:04:30", "4", "buy", "0.000001", "0.123456789012"),
    _trade(PEPE, "2024-01-08 00:00:00", "5", "sell", "0.000000999999", "5000.5"),
]

# (venue, ts, bid, bid_amount, ask, ask_amount)
SNAPSHOTS = [
    (BTC, "2024-01-07 00:00:01", 42000.0, 1.0, 42001.0, 3.0),  # normal
    (BTC, "2024-01-07 00:05:00", 42002.0, 2.0, 42001.0, 2.0),  # crossed
    (BTC, "2024-01-07 12:00:00", 42001.0, 3.0, 42001.0, 1.0),  # locked
    (ETH, "2024-01-07 08:00:00", 2250.0, 10.0, 2250.5, 5.0),
    # no snapshot on day 2: daily_stats must keep the days (left join)
]


def _load_raw(home: Path) -> None:
    with lakes.connect(home) as con:
        ensure_raw_schema(con)
        con.execute("begin transaction")  # one lake snapshot for the whole hand-made day
        rows = []
        for t in TRADES:
            rows.append((
                t.ts.date(), t.exchange, t.symbol, t.ts, t.ts + timedelta(milliseconds=5), t.trade_id,
                int(t.trade_id) if t.trade_id.isdigit() else None, t.side, t.price, t.amount,
                trades_file_name(t.exchange, t.ts.date()),
            ))
        con.executemany("insert into raw.trades values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        rows = []
        for (exchange, symbol), ts, bid, bid_amount, ask, ask_amount in SNAPSHOTS:
            when = datetime.fromisoformat(ts)
            bids = [bid - i for i in range(5)]
            asks = [ask + i for i in range(5)]
            rows.append((
                when.date(), exchange, symbol, when, when, 5, bid, bid_amount, ask, ask_amount,
                bids, [bid_amount] * 5, asks, [ask_amount] * 5,
                snapshots_file_name(exchange, when.date(), 5),
            ))
        con.executemany(
            "insert into raw.book_snapshots values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        con.execute(
            "insert into raw.quarantine values ('trades', ?, 'x.csv.gz', 9, 'non_positive_price',"
            " 'price <= 0', 'bad,line', now()::timestamp)",
            [DAY1],
        )
        con.execute("commit")


def _dbt(command: str, home: Path, work: Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, **lakes.lake_at(home).env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    cmd = [
        str(DBT), command, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
        "--target-path", str(seeded_target(work / "target")), "--log-path", str(work / "logs"), *args,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _dbt_build(home: Path, work: Path, *args: str, env: dict[str, str] | None = None) -> None:
    proc = _dbt("build", home, work, *args, env=env)
    assert proc.returncode == 0, f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr}"
    assert "WARN=0" in proc.stdout, proc.stdout[-6000:]


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {m: con.execute(f"select * from marts.{m} order by all").fetchall() for m in ALL_MARTS}


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder whose lake (`<home>/lake/`) holds the hand-made raw days and the built marts."""
    work = tmp_path_factory.mktemp("dbt_build")
    _load_raw(work)
    _dbt_build(work, work)
    return work


@pytest.fixture()
def con(built_home: Path):
    with lakes.connect(built_home, read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def rebuilt(built_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Copy of the built warehouse where a day-1 and a day-2 trade changed in raw, then only the
    day-2 window was rebuilt. Returns (marts before, marts after, path)."""
    work = tmp_path_factory.mktemp("dbt_rebuild")
    lakes.copy_home_lake(built_home, work)
    with lakes.connect(work) as connection:
        before = _snapshot(connection)
        # day 2: the last BTC trade of the day moves; day 1: a change outside the window
        connection.execute("update raw.trades set price = 42500, amount = 0.6 where trade_id = '108'")
        connection.execute("update raw.trades set price = 41000 where trade_id = '104'")
    # the window the way Dagster runs pass it (orchestration/lib/dbt.py), not --vars
    _dbt_build(work, work, env={"TICKWH_DBT_MIN_DATE": str(DAY2), "TICKWH_DBT_MAX_DATE": str(DAY3)})
    with lakes.connect(work, read_only=True) as connection:
        after = _snapshot(connection)
        daily = _query(connection, "select * from marts.daily_stats order by all")
        monthly = _query(connection, "select * from marts.rollup_monthly order by all")
    return before, after, daily, monthly


# --------------------------------------------------------------------------------------------
# reference implementation: bars computed directly from TRADES in Python


def _reference_bars(minutes: int, trades: list[Trade] = TRADES) -> dict[tuple, dict]:
    width = timedelta(minutes=minutes)
    groups: dict[tuple, list[Trade]] = defaultdict(list)
    for t in trades:
        midnight = datetime.combine(t.ts.date(), time())
        start = midnight + ((t.ts - midnight) // width) * width
        groups[(t.exchange, t.symbol, start)].append(t)
    bars = {}
    for (exchange, symbol, start), group in groups.items():
        group.sort(key=lambda t: t.order_key)
        volume = sum(t.amount for t in group)
        quote_volume = sum(t.price * t.amount for t in group)
        bars[(exchange, symbol, start)] = {
            "exchange": exchange,
            "symbol": symbol,
            "bar_date": start.date(),
            "bucket_start": start,
            "bucket_end": start + width,
            "open": group[0].price,
            "high": max(t.price for t in group),
            "low": min(t.price for t in group),
            "close": group[-1].price,
            "volume": volume,
            "quote_volume": quote_volume,
            "trade_count": len(group),
            "vwap": float(quote_volume / volume),
            "buy_volume": sum((t.amount for t in group if t.side == "buy"), Decimal(0)),
            "sell_volume": sum((t.amount for t in group if t.side == "sell"), Decimal(0)),
            "first_trade_ts": group[0].ts,
            "last_trade_ts": group[-1].ts,
        }
    return bars


def _bars(con: duckdb.DuckDBPyConnection, model: str) -> dict[tuple, dict]:
    rows = _query(con, f"select * from marts.{model}")
    return {(r["exchange"], r["symbol"], r["bucket_start"]): r for r in rows}


# --------------------------------------------------------------------------------------------
# first build


def test_staging_views(con):
    trades = _query(con, "select * from staging.stg_trades order by exchange, symbol, ts, trade_id")
    assert len(trades) == len(TRADES)
    by_id = {r["trade_id"]: r for r in trades}
    assert by_id["99"]["order_seq"] == 99 and by_id["a-1"]["order_seq"] == 0
    assert by_id["97"]["is_buy"] is True and by_id["98"]["is_buy"] is False
    assert by_id["101"]["is_buy"] is None
    assert by_id["97"]["quote_amount"] == Decimal("4200.05")
    assert by_id["97"]["bar_date"] == DAY1

    snaps = _query(con, "select * from staging.stg_book_snapshots where symbol = 'BTCUSDT' order by ts")
    flags = [(s["is_crossed"], s["is_locked"]) for s in snaps]
    assert flags == [(False, False), (True, False), (False, True)]
    assert snaps[0]["mid_price"] == 42000.5 and snaps[0]["spread"] == 1.0
    assert snaps[0]["spread_bps"] == pytest.approx(1 / 42000.5 * 1e4, rel=1e-12)
    assert snaps[0]["top_imbalance"] == pytest.approx(-0.5)
    assert snaps[1]["spread"] == -1.0 and snaps[2]["spread"] == 0.0


def test_ohlcv_1m_hand_checked_bars(con):
    bars = _bars(con, "ohlcv_1m")
    first = bars[(*BTC, datetime(2024, 1, 7, 0, 0))]
    # ids 99 and 100 share a microsecond: numeric order 99 < 100, so close is id 100's price
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        Decimal("42000.5"), Decimal("42020"), Decimal("41990"), Decimal("42020"),
    )
    assert first["volume"] == Decimal("0.65")
    assert first["quote_volume"] == Decimal("27300.05")
    assert first["trade_count"] == 4
    assert first["vwap"] == pytest.approx(27300.05 / 0.65, rel=1e-15)
    assert (first["buy_volume"], first["sell_volume"]) == (Decimal("0.15"), Decimal("0.5"))
    assert first["bucket_end"] == datetime(2024, 1, 7, 0, 1)
    assert first["first_trade_ts"] == datetime(2024, 1, 7, 0, 0)
    assert first["last_trade_ts"] == datetime(2024, 1, 7, 0, 0, 59, 999999)

    # the trade at exactly 00:01:00 opens the 00:01 bar; its side is unknown: in volume only
    boundary = bars[(*BTC, datetime(2024, 1, 7, 0, 1))]
    assert boundary["open"] == boundary["close"] == Decimal("42030")
    assert boundary["trade_count"] == 1 and boundary["volume"] == Decimal("0.4")
    assert boundary["buy_volume"] == 0 and boundary["sell_volume"] == 0

    # no bar for the empty minute
    assert (*BTC, datetime(2024, 1, 7, 0, 2)) not in bars

    # text ids break the ETH tie: 'a-1' before 'b-2', so the close is 'b-2' at 2251
    eth = bars[(*ETH, datetime(2024, 1, 7, 8, 0))]
    assert (eth["open"], eth["high"], eth["low"], eth["close"]) == (
        Decimal("2250.25"), Decimal("2251"), Decimal("2249.5"), Decimal("2251"),
    )
    assert eth["volume"] == Decimal("6") and eth["trade_count"] == 3
    assert eth["vwap"] == pytest.approx((4500.5 + 2251 + 6748.5) / 6, rel=1e-15)
    assert (eth["buy_volume"], eth["sell_volume"]) == (Decimal("5"), Decimal("1"))

    assert len(bars) == len(_reference_bars(1))


def test_ohlcv_5m_hand_checked_bar(con):
    bars = _bars(con, "ohlcv_5m")
    bar = bars[(*BTC, datetime(2024, 1, 7, 0, 0))]
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (
        Decimal("42000.5"), Decimal("42040"), Decimal("41990"), Decimal("42040"),
    )
    assert bar["volume"] == Decimal("2.05") and bar["trade_count"] == 6
    assert (bar["buy_volume"], bar["sell_volume"]) == (Decimal("1.15"), Decimal("0.5"))
    assert bar["bucket_end"] == datetime(2024, 1, 7, 0, 5)


@pytest.mark.parametrize(
    ("model", "minutes"),
    [("ohlcv_1m", 1), ("ohlcv_5m", 5), ("ohlcv_15m", 15), ("ohlcv_1h", 60), ("ohlcv_1d", 1440)],
)
def test_bars_equal_reference_from_trades(con, model, minutes):
    """Rolled-up bars equal bars computed directly from the trades, column by column."""
    actual = _bars(con, model)
    expected = _reference_bars(minutes)
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        got = actual[key]
        assert set(got) == set(want), key
        for column, value in want.items():
            if column == "vwap":
                assert got[column] == pytest.approx(value, rel=1e-12), (key, column)
            else:
                assert got[column] == value, (key, column)


@pytest.mark.parametrize(("model", "interval"), [("ohlcv_5m", "5 minutes"), ("ohlcv_1h", "1 hour"),
                                                 ("ohlcv_1d", "1 day")])
def test_bars_equal_direct_group_by(con, model, interval):
    """Same check in SQL, exact to the last bit (vwap included): a GROUP BY over raw.trades."""
    direct = f"""
        select
            exchange, symbol, trade_date as bar_date,
            time_bucket(interval '{interval}', ts, timestamp '2000-01-01') as bucket_start,
            time_bucket(interval '{interval}', ts, timestamp '2000-01-01') + interval '{interval}'
                as bucket_end,
            arg_min(price, (ts, coalesce(trade_seq, 0), trade_id)) as open,
            max(price) as high, min(price) as low,
            arg_max(price, (ts, coalesce(trade_seq, 0), trade_id)) as close,
            sum(amount) as volume,
            sum(cast(price * amount as decimal(38, 20))) as quote_volume,
            count(*) as trade_count,
            sum(cast(price * amount as decimal(38, 20))) / sum(amount) as vwap,
            coalesce(sum(amount) filter (where side = 'buy'), 0) as buy_volume,
            coalesce(sum(amount) filter (where side = 'sell'), 0) as sell_volume,
            min(ts) as first_trade_ts, max(ts) as last_trade_ts
        from raw.trades
        group by all
    """
    mart = f"select * from marts.{model}"
    assert con.execute(f"select count(*) from ({mart})").fetchone()[0] > 0
    assert con.execute(f"select * from ({mart}) except all select * from ({direct})").fetchall() == []
    assert con.execute(f"select * from ({direct}) except all select * from ({mart})").fetchall() == []


def test_hot_reconciliation_computes_the_same_1m_bars_as_dbt(con):
    """ingest/hot/reconcile.py recomputes ohlcv_1m from raw.trades (it runs before dbt): its bars must be
    dbt's, exactly (tie-breaks, the minute boundary, unknown sides and vwap included)."""
    days = [DAY1, DAY2]
    warm = warm_window(con, days)
    for day in days:
        dbt_bars = con.execute(
            f"SELECT {', '.join(BAR_COLUMNS)} FROM marts.ohlcv_1m WHERE bar_date = ? ORDER BY ALL", [day]
        ).fetchall()
        assert len(dbt_bars) >= 3
        assert warm[day].bars == [tuple(r) for r in dbt_bars]


def _minute_closes(venue: tuple[str, str], day: date) -> list[float]:
    bars = _reference_bars(1)
    return [float(b["close"]) for k, b in sorted(bars.items()) if k[:2] == venue and k[2].date() == day]


def _realized_vol(closes: list[float]) -> float | None:
    if len(closes) < 2:
        return None
    return math.sqrt(sum(math.log(b / a) ** 2 for a, b in zip(closes, closes[1:], strict=False)))


def test_daily_stats(con):
    rows = _query(con, "select * from marts.daily_stats")
    rows = {(r["exchange"], r["symbol"], r["bar_date"]): r for r in rows}
    assert len(rows) == 6  # BTC, ETH and PEPE on both days

    btc1 = rows[(*BTC, DAY1)]
    assert (btc1["open"], btc1["high"], btc1["low"], btc1["close"]) == (
        Decimal("42000.5"), Decimal("42100"), Decimal("41990"), Decimal("42100"),
    )
    assert btc1["volume"] == Decimal("2.8") and btc1["trade_count"] == 8
    assert (btc1["buy_volume"], btc1["sell_volume"]) == (Decimal("1.4"), Decimal("1.0"))
    assert btc1["buy_sell_imbalance"] == pytest.approx(0.4 / 2.4, rel=1e-12)
    assert btc1["return_oc"] == pytest.approx(42100 / 42000.5 - 1, rel=1e-12)
    assert btc1["prev_close"] is None and btc1["return_cc"] is None
    # largest gap: 00:07:00.5 -> 13:30:00
    assert btc1["max_trade_gap_seconds"] == pytest.approx(48179.5, abs=1e-9)
    closes = _minute_closes(BTC, DAY1)
    assert btc1["minutes_with_trades"] == len(closes) == 5
    assert btc1["realized_vol"] == pytest.approx(_realized_vol(closes), rel=1e-12)
    assert btc1["realized_vol_annualized"] == pytest.approx(_realized_vol(closes) * math.sqrt(365), rel=1e-12)
    # snapshots: normal, crossed, locked
    bps = [1 / 42000.5 * 1e4, -1 / 42001.5 * 1e4, 0.0]
    assert btc1["snapshot_count"] == 3
    assert btc1["mean_spread_bps"] == pytest.approx(sum(bps) / 3, abs=1e-12)
    assert btc1["median_spread_bps"] == pytest.approx(median(bps), abs=1e-12)
    assert btc1["mean_top_imbalance"] == pytest.approx((-0.5 + 0.0 + 0.5) / 3, abs=1e-12)
    assert btc1["crossed_or_locked_share"] == pytest.approx(2 / 3, rel=1e-12)

    btc2 = rows[(*BTC, DAY2)]
    assert btc2["prev_close"] == Decimal("42100")
    assert btc2["return_cc"] == pytest.approx(42250 / 42100 - 1, rel=1e-12)
    assert btc2["return_oc"] == pytest.approx(42250 / 42200 - 1, rel=1e-12)
    assert btc2["max_trade_gap_seconds"] == pytest.approx(50399.999999, abs=1e-9)
    # no snapshots that day: the row is kept, snapshot statistics are NULL
    assert btc2["snapshot_count"] == 0
    assert btc2["mean_spread_bps"] is None and btc2["crossed_or_locked_share"] is None

    eth1 = rows[(*ETH, DAY1)]
    assert eth1["realized_vol"] == pytest.approx(abs(math.log(2260 / 2251)), rel=1e-12)
    assert eth1["buy_sell_imbalance"] == pytest.approx((5 - 1) / 6, rel=1e-12)
    assert eth1["snapshot_count"] == 1 and eth1["crossed_or_locked_share"] == 0
    assert eth1["mean_top_imbalance"] == pytest.approx(5 / 15, rel=1e-12)

    eth2 = rows[(*ETH, DAY2)]  # a single trade: no return inside the day, no gap
    assert eth2["realized_vol"] is None and eth2["max_trade_gap_seconds"] is None
    assert eth2["return_oc"] == 0
    assert eth2["return_cc"] == pytest.approx(2240 / 2260 - 1, rel=1e-12)


def test_rollups(con):
    weekly = _query(con, "select * from marts.rollup_weekly where symbol = 'BTCUSDT' order by period_start")
    # Sunday 2024-01-07 and Monday 2024-01-08 are in different ISO weeks
    assert [(w["period_start"], w["period_end"]) for w in weekly] == [
        (date(2024, 1, 1), date(2024, 1, 8)), (date(2024, 1, 8), date(2024, 1, 15)),
    ]
    assert (weekly[0]["open"], weekly[0]["close"]) == (Decimal("42000.5"), Decimal("42100"))
    assert (weekly[1]["open"], weekly[1]["close"]) == (Decimal("42200"), Decimal("42250"))

    monthly = {r["symbol"]: r for r in _query(con, "select * from marts.rollup_monthly")}
    btc = monthly["BTCUSDT"]
    assert (btc["period_start"], btc["period_end"]) == (date(2024, 1, 1), date(2024, 2, 1))
    assert (btc["open"], btc["high"], btc["low"], btc["close"]) == (
        Decimal("42000.5"), Decimal("42300"), Decimal("41990"), Decimal("42250"),
    )
    btc_trades = [t for t in TRADES if (t.exchange, t.symbol) == BTC]
    assert btc["volume"] == sum(t.amount for t in btc_trades) == Decimal("3.8")
    assert btc["quote_volume"] == sum(t.price * t.amount for t in btc_trades)
    assert btc["trade_count"] == 12 and btc["days_with_trades"] == 2
    assert btc["period_return"] == pytest.approx(42250 / 42000.5 - 1, rel=1e-12)
    vols = [_realized_vol(_minute_closes(BTC, d)) for d in (DAY1, DAY2)]
    assert btc["mean_realized_vol"] == pytest.approx(sum(vols) / 2, rel=1e-12)
    # ETH has a realized vol on day 1 only: the mean skips the NULL
    assert monthly["ETHUSDT"]["mean_realized_vol"] == pytest.approx(abs(math.log(2260 / 2251)), rel=1e-12)

    summary = _query(con, "select * from marts.market_daily_summary")
    summary = {(r["bar_date"], r["exchange"]): r for r in summary}
    assert set(summary) == {(DAY1, EXCHANGE), (DAY2, EXCHANGE)}
    assert sum(r["total_trades"] for r in summary.values()) == len(TRADES)
    day1 = summary[(DAY1, EXCHANGE)]
    notional = {
        v: sum(t.price * t.amount for t in TRADES if (t.exchange, t.symbol) == v and t.ts.date() == DAY1)
        for v in (BTC, ETH, PEPE)
    }
    assert day1["symbols_traded"] == 3 and day1["total_trades"] == 16
    assert day1["total_notional"] == notional[BTC] + notional[ETH] + notional[PEPE]  # exact, 20 decimals
    assert (day1["advancers"], day1["decliners"], day1["unchanged"]) == (3, 0, 0)
    assert day1["top_symbol"] == "BTCUSDT" and day1["top_symbol_notional"] == notional[BTC]
    # the middle of BTC's, ETH's and PEPE's (0.000001 / 0.000000987654 - 1) returns: ETH's
    assert day1["median_return_oc"] == pytest.approx(2260 / 2250.25 - 1)
    # equal-weighted over the symbols that have snapshots
    bps_btc = (1 / 42000.5 - 1 / 42001.5) * 1e4 / 3
    bps_eth = 0.5 / 2250.25 * 1e4
    assert day1["mean_spread_bps"] == pytest.approx((bps_btc + bps_eth) / 2, rel=1e-12)
    day2 = summary[(DAY2, EXCHANGE)]
    assert (day2["symbols_traded"], day2["total_trades"]) == (3, 6)
    assert (day2["advancers"], day2["decliners"], day2["unchanged"]) == (1, 0, 2)
    assert day2["mean_spread_bps"] is None


def test_every_mart_column_is_documented_and_tested(built_home, con):
    manifest = json.loads((built_home / "target" / "manifest.json").read_text())
    tested = defaultdict(set)
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("column_name"):
            tested[node["attached_node"]].add(node["column_name"])
        if node["resource_type"] == "test" and node["test_metadata"]["name"] == "column_rules":
            kwargs = node["test_metadata"]["kwargs"]
            tested[node["attached_node"]].update(kwargs.get("not_null", []), kwargs.get("non_negative", []))
    for model in ALL_MARTS:
        node = manifest["nodes"][f"model.tickwarehouse.{model}"]
        assert node["description"].strip(), model
        actual = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'lake' and table_schema = 'marts'"
            " and table_name = ? order by ordinal_position", [model]).fetchall()]
        assert list(node["columns"]) == actual, f"{model}: documented columns differ from the table"
        for column, spec in node["columns"].items():
            assert spec["description"].strip(), f"{model}.{column} has no description"
        assert set(actual) <= tested[node["unique_id"]], f"{model}: untested {set(actual) - tested[node['unique_id']]}"


def test_tests_read_the_run_window_and_column_rules_name_the_column(built_home, tmp_path):
    """A NULL volume and a negative trade count planted on day 1: a day-2 window's tests do not
    read day 1 (macros/test_window.sql), a bare `dbt test` reads all days and fails, and the
    failing rows name the rule and column with the number of offending rows."""
    lakes.copy_home_lake(built_home, tmp_path)
    with lakes.connect(tmp_path) as connection:
        n = connection.execute(
            "update marts.ohlcv_1m set volume = null, trade_count = -1 where bar_date = ? and symbol = 'BTCUSDT'",
            [DAY1],
        ).fetchone()[0]
    assert n > 0
    select = ["--select", "ohlcv_1m,test_name:column_rules", "--store-failures"]
    window = _dbt("test", tmp_path, tmp_path, *select, "--vars", f"{{min_date: '{DAY2}', max_date: '{DAY3}'}}")
    assert window.returncode == 0 and "PASS=1" in window.stdout, window.stdout[-3000:]
    everything = _dbt("test", tmp_path, tmp_path, *select)
    # fail_calc sums the offending rows over the broken (rule, column) pairs
    assert everything.returncode == 1 and f"Got {2 * n} result" in everything.stdout, everything.stdout[-3000:]
    with lakes.connect(tmp_path, read_only=True) as connection:
        table = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = 'lake' and table_name = 'column_rules_ohlcv_1m'").fetchone()[0]
        failures = connection.execute(f"select rule, column_name, failing_rows from {table} order by all").fetchall()
    assert failures == [("non_negative", "trade_count", n), ("not_null", "volume", n)]


# --------------------------------------------------------------------------------------------
# window re-run


def test_window_rebuild_replaces_only_the_window(rebuilt):
    before, after, daily, monthly = rebuilt
    for model in INCREMENTAL_MARTS:
        assert len(after[model]) == len(before[model]), f"{model}: rows duplicated or lost"
        # bar_date is the third column of every incremental mart
        day1_before = [r for r in before[model] if r[2] == DAY1]
        day1_after = [r for r in after[model] if r[2] == DAY1]
        assert day1_before and day1_after == day1_before, f"{model}: day 1 changed"
        assert [r for r in after[model] if r[2] == DAY2] != [r for r in before[model] if r[2] == DAY2]

    stats = {(r["exchange"], r["symbol"], r["bar_date"]): r for r in daily}
    btc2 = stats[(*BTC, DAY2)]
    assert btc2["close"] == Decimal("42500") and btc2["volume"] == Decimal("1.2")
    # the window starts on day 2, yet return_cc still finds day 1's close (untouched: 42100)
    assert btc2["return_cc"] == pytest.approx(42500 / 42100 - 1, rel=1e-12)
    assert stats[(*BTC, DAY1)]["close"] == Decimal("42100")
    # tables rebuild in full from the marts
    btc_month = next(r for r in monthly if r["symbol"] == "BTCUSDT")
    assert btc_month["close"] == Decimal("42500") and btc_month["volume"] == Decimal("4.0")


def test_adjacent_windows_built_later_day_first_equal_one_build(built_home, tmp_path):
    """Two ranges at once (docs/lake.md): day 2's window is built before day 1's 1d bar exists, so its
    prev_close is unknown; day 1's window, built after, refreshes it. The end state is the one-build state."""
    lakes.copy_home_lake(built_home, tmp_path)
    with lakes.connect(tmp_path) as connection:
        one_build = _snapshot(connection)
        connection.execute("delete from marts.ohlcv_1d where bar_date = ?", [DAY1])
    # Only the two models involved: every other mart keeps its one-build rows, and the comparison below covers them.
    _dbt_build(tmp_path, tmp_path, "--select", "daily_stats",
               env={"TICKWH_DBT_MIN_DATE": str(DAY2), "TICKWH_DBT_MAX_DATE": str(DAY3)})
    with lakes.connect(tmp_path, read_only=True) as connection:
        day2 = _query(connection, "select * from marts.daily_stats where bar_date = ?", [DAY2])
        fence = connection.execute("select builds from raw.build_fence where model = 'daily_stats'").fetchone()
    assert len(day2) == 3 and {(r["prev_close"], r["return_cc"]) for r in day2} == {(None, None)}
    assert fence == (1,)  # the window's build updated the fence row in its own transaction
    _dbt_build(tmp_path, tmp_path, "--select", "ohlcv_1d", "daily_stats",
               env={"TICKWH_DBT_MIN_DATE": str(DAY1), "TICKWH_DBT_MAX_DATE": str(DAY2)})
    with lakes.connect(tmp_path, read_only=True) as connection:
        assert _snapshot(connection) == one_build
        btc2 = _query(connection, "select prev_close from marts.daily_stats where symbol = ? and bar_date = ?",
                      [BTC[1], DAY2])
    assert btc2 == [{"prev_close": Decimal("42100")}]


def test_build_on_empty_raw_schema(tmp_path):
    with lakes.connect(tmp_path) as connection:
        ensure_raw_schema(connection)
    _dbt_build(tmp_path, tmp_path)
    with lakes.connect(tmp_path, read_only=True) as connection:
        for model in ALL_MARTS:
            assert connection.execute(f"select count(*) from marts.{model}").fetchone()[0] == 0
