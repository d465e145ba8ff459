"""The research API (ingest.research) against independent implementations written here in plain Python/pandas.

One warehouse per module: simulated days around both 2024 daylight-saving changes of New York
(loaded by the real loader, 1m bars built by the real dbt model) plus the real Binance futures
trades and book snapshots of ../shared/data/real. Every kind of answer is recomputed here from
the trades and snapshots that `HistoricalData` returns (the existing, separately tested API) and
compared row for row, values exact (DECIMAL as Decimal).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import subprocess
import sys
import zoneinfo
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from ingest.cold import ColdTier, LocalColdStore, archive_days
from ingest.cold.layout import OHLCV_TABLES, RAW_TABLES
from ingest.history import HistoricalData, HistoryError
from ingest.loader import load_book_snapshots, load_trades
from ingest.names import InvalidNameError
from ingest.research import BacktestData, ResearchError, asof_join, get_bars, info_bars, replay
from ingest.simulator import default_symbols, simulate_days
from tests import lakes
from tests.conftest import REAL_DATA, REAL_TRADES
from tests.dbt_state import seeded_target

REPO = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"
NY = "America/New_York"
SPRING = dt.date(2024, 3, 9)  # 2024-03-10: New York skips 02:00-03:00 (a 23-hour day)
AUTUMN = dt.date(2024, 11, 2)  # 2024-11-03: New York repeats 01:00-02:00 (a 25-hour day)
REAL_DAY = dt.date(2020, 2, 22)
REAL_BOOK_DAY = dt.date(2020, 9, 1)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
ORIGIN = dt.datetime(2000, 1, 1)
UTC = dt.UTC


def _build(home: Path) -> Path:
    landing = home / "landing"
    specs = default_symbols(3)
    for first in (SPRING, AUTUMN):
        simulate_days(first, 3, landing, symbols=specs, trades_per_day=6000, snapshot_interval_ms=20_000, seed=11)
    shutil.copy(REAL_TRADES, landing / REAL_TRADES.name)
    for depth in (5, 25):
        shutil.copy(REAL_DATA / f"binance-futures_book_snapshot_{depth}_BTCUSDT.csv",
                    landing / f"binance-futures_book_snapshot_{depth}_{REAL_BOOK_DAY}_BTCUSDT.csv")
    with lakes.connect(home) as con:
        for first in (SPRING, AUTUMN):
            for i in range(3):
                load_trades(con, landing, first + dt.timedelta(days=i))
                load_book_snapshots(con, landing, first + dt.timedelta(days=i))
        assert load_trades(con, landing, REAL_DAY).rows_loaded == 9999
        assert load_book_snapshots(con, landing, REAL_BOOK_DAY).rows_loaded == 20
    env = {**os.environ, **lakes.lake_at(home).env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    project = REPO / "dbt_project"
    proc = subprocess.run([str(DBT), "run", "--select", "+ohlcv_1m", "+daily_stats", "--project-dir", str(project),
                           "--profiles-dir", str(project), "--target-path", str(seeded_target(home / "dbt_target"))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return home


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home folder whose lake holds the research days."""
    return _build(tmp_path_factory.mktemp("research"))


@pytest.fixture(scope="module")
def hist(warehouse: Path) -> HistoricalData:
    return HistoricalData(lakes.lake_at(warehouse))


# ---------------------------------------------------------------------------------------------
# Independent reference implementations


def trades(hist: HistoricalData, symbols: list[str], lo: Any, hi: Any) -> list[dict]:
    """Trades through the existing per-symbol API, in the research order (ts, exchange, symbol, seq, id)."""
    rows = [r for s in symbols for r in hist.get_trades(s, lo, hi).to_pylist()]
    return sorted(rows, key=trade_key)


def trade_key(r: dict) -> tuple:
    return (r["ts"], r["exchange"], r["symbol"], r["trade_seq"] or 0, r["trade_id"])


def local_naive(ts: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return ts.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def label_of(ts: dt.datetime, width: int, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    local = local_naive(ts, tz)
    return ORIGIN + dt.timedelta(seconds=(local - ORIGIN) // dt.timedelta(seconds=width) * width)


def reference_buckets(lo: dt.datetime, hi: dt.datetime, width: int, tz: zoneinfo.ZoneInfo) -> dict:
    """label -> (first instant, end instant), by walking every step of real time (brute force)."""
    step = math.gcd(width, 60)  # every bucket edge and every offset change falls on a step
    out: dict[dt.datetime, list[dt.datetime]] = {}
    t = lo - dt.timedelta(days=2, seconds=width)
    while t < hi + dt.timedelta(days=2, seconds=width):
        span = out.setdefault(label_of(t, width, tz), [t, t])
        span[1] = t + dt.timedelta(seconds=step)
        t += dt.timedelta(seconds=step)
    return {k: tuple(v) for k, v in out.items() if lo <= v[0] < hi}


def exact_vwap(quote: Decimal, volume: Decimal) -> Decimal:
    """The exact answers' VWAP rule (docs/contracts.md): quote / volume, half-even at 24 decimals."""
    with localcontext(prec=80, rounding=ROUND_HALF_EVEN):
        return (quote / volume).quantize(Decimal("1e-24"))


def reference_bars(rows: list[dict], width: int, tz_name: str, lo: dt.datetime, hi: dt.datetime,
                   fill: str | None = None) -> list[dict]:
    tz = zoneinfo.ZoneInfo(tz_name)
    buckets = reference_buckets(lo, hi, width, tz)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        label = label_of(r["ts"], width, tz)
        if label in buckets:
            groups[(r["exchange"], r["symbol"], label)].append(r)
    bars = {}
    for (exchange, symbol, label), g in groups.items():
        g = sorted(g, key=trade_key)
        volume = sum((r["amount"] for r in g), Decimal(0))
        quote = sum((r["price"] * r["amount"] for r in g), Decimal(0))
        bars[(exchange, symbol, label)] = {
            "exchange": exchange, "symbol": symbol, "bucket_start": buckets[label][0],
            "bucket_end": buckets[label][1], "local_start": label,
            "open": g[0]["price"], "high": max(r["price"] for r in g), "low": min(r["price"] for r in g),
            "close": g[-1]["price"], "volume": volume, "quote_volume": quote, "trade_count": len(g),
            "vwap": exact_vwap(quote, volume),
            "buy_volume": sum((r["amount"] for r in g if r["side"] == "buy"), Decimal(0)),
            "sell_volume": sum((r["amount"] for r in g if r["side"] == "sell"), Decimal(0)),
            "first_trade_ts": g[0]["ts"], "last_trade_ts": max(r["ts"] for r in g),
        }
    if fill == "prev":
        labels = sorted(buckets)
        for exchange, symbol in {(k[0], k[1]) for k in bars}:
            traded = sorted(k[2] for k in bars if k[:2] == (exchange, symbol))
            close = None
            for label in labels:
                if not traded[0] <= label <= traded[-1]:
                    continue
                bar = bars.get((exchange, symbol, label))
                if bar is None:
                    bars[(exchange, symbol, label)] = {
                        "exchange": exchange, "symbol": symbol, "bucket_start": buckets[label][0],
                        "bucket_end": buckets[label][1], "local_start": label, "open": close, "high": close,
                        "low": close, "close": close, "volume": Decimal(0), "quote_volume": Decimal(0),
                        "trade_count": 0, "vwap": None, "buy_volume": Decimal(0), "sell_volume": Decimal(0),
                        "first_trade_ts": None, "last_trade_ts": None, "is_filled": True}
                else:
                    bar["is_filled"] = False
                    close = bar["close"]
    return sorted(bars.values(), key=lambda b: (b["bucket_start"], b["exchange"], b["symbol"]))


def _info_bar(items: list[dict], number: int, complete: bool) -> dict:
    volume = sum((r["amount"] for r in items), Decimal(0))
    quote = sum((r["price"] * r["amount"] for r in items), Decimal(0))
    return {
        "exchange": items[0]["exchange"], "symbol": items[0]["symbol"], "bar": number,
        "first_trade_ts": items[0]["ts"], "last_trade_ts": items[-1]["ts"], "open": items[0]["price"],
        "high": max(r["price"] for r in items), "low": min(r["price"] for r in items), "close": items[-1]["price"],
        "volume": volume, "quote_volume": quote, "trade_count": len(items), "vwap": exact_vwap(quote, volume),
        "buy_volume": sum((r["amount"] for r in items if r["side"] == "buy"), Decimal(0)),
        "sell_volume": sum((r["amount"] for r in items if r["side"] == "sell"), Decimal(0)),
        "is_complete": complete}


def reference_info_bars(rows: list[dict], kind: str, threshold: Decimal) -> list[dict]:
    """A plain loop: trade i goes to bar floor(running total before it / threshold); ids renumbered densely."""
    per: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=trade_key):
        per[(r["exchange"], r["symbol"])].append(r)
    bars = []
    for g in per.values():
        total, current, current_id, number = Decimal(0), [], None, 0
        for r in g:
            bar_id = math.floor(total / threshold)
            if current and bar_id != current_id:
                bars.append(_info_bar(current, number, True))
                current, number = [], number + 1
            current_id = bar_id
            current.append(r)
            total += {"tick": Decimal(1), "volume": r["amount"], "dollar": r["price"] * r["amount"]}[kind]
        if current:
            bars.append(_info_bar(current, number, math.floor(total / threshold) > current_id))
    return sorted(bars, key=lambda b: (b["last_trade_ts"], b["exchange"], b["symbol"], b["bar"]))


def assert_rows_equal(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected), (len(actual), len(expected))
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert set(a) >= set(e), set(e) - set(a)
        for key, value in e.items():
            got = a[key]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12), (i, key, got, value)
            else:
                assert got == value, (i, key, got, value, a)


# ---------------------------------------------------------------------------------------------
# 2. Bars of any interval


@pytest.mark.parametrize(("interval", "width", "tz", "first", "fill"), [
    ("4h", 4 * 3600, NY, SPRING, None),  # from 1m bars; the 00:00 bucket of 2024-03-10 is 3 hours long
    ("1h", 3600, NY, AUTUMN, None),  # the 01:00 bucket of 2024-11-03 holds both 01:xx hours
    ("1d", 86_400, NY, AUTUMN, None),
    ("2h", 7200, "UTC", SPRING, "prev"),
    ("30s", 30, "UTC", SPRING, "prev"),  # from trades
    ("90s", 90, NY, AUTUMN, None),  # from trades, in a time zone, across the repeated hour
    ("45m", 2700, "Asia/Kolkata", SPRING, None),  # a half-hour offset zone
])
def test_bars_equal_an_independent_implementation(hist, interval, width, tz, first, fill):
    zone = zoneinfo.ZoneInfo(tz)
    start, end = dt.datetime.combine(first, dt.time()), dt.datetime.combine(first + dt.timedelta(days=3), dt.time())
    lo_utc = start.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    hi_utc = end.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    rows = trades(hist, SYMBOLS, lo_utc - dt.timedelta(days=1), hi_utc + dt.timedelta(days=1))
    expected = reference_bars(rows, width, tz, lo_utc, hi_utc, fill)
    actual = get_bars(hist, SYMBOLS, interval, start, end, tz=tz, fill=fill).to_arrow().to_pylist()
    assert expected and any(b["trade_count"] > 1 for b in expected)
    assert_rows_equal(actual, expected)
    if interval == "30s":  # 6000 trades a day leave many 30 s buckets empty
        assert any(b["is_filled"] for b in actual) and any(not b["is_filled"] for b in actual)


def test_daily_bars_in_new_york_are_23_and_25_hours_on_the_dst_days(hist):
    for first, day, hours in ((SPRING, dt.datetime(2024, 3, 10), 23), (AUTUMN, dt.datetime(2024, 11, 3), 25)):
        bars = get_bars(hist, "BTCUSDT", "1d", first, first + dt.timedelta(days=3), tz=NY).to_arrow()
        by_label = {r["local_start"]: r for r in bars.to_pylist()}
        assert len(by_label) == 3
        bar = by_label[day]
        assert bar["bucket_end"] - bar["bucket_start"] == dt.timedelta(hours=hours)
        assert bar["bucket_start"] == day.replace(tzinfo=zoneinfo.ZoneInfo(NY)).astimezone(UTC).replace(tzinfo=None)
    hourly = get_bars(hist, "BTCUSDT", "1h", "2024-03-10", "2024-03-11", tz=NY).to_arrow()
    labels = [r.hour for r in hourly.column("local_start").to_pylist()]
    assert 2 not in labels and len(labels) == 23  # no 02:00 on the spring day


def test_minute_multiples_are_rolled_up_from_the_1m_mart_and_match_bars_from_trades(hist, warehouse):
    """4h from ohlcv_1m and the same buckets recomputed from trades agree exactly (also on real data)."""
    with lakes.connect(warehouse, read_only=True) as con:
        minutes = con.execute("SELECT count(*) FROM marts.ohlcv_1m WHERE bar_date = ?", [REAL_DAY]).fetchone()[0]
    assert minutes == 126  # 00:00..02:05 of the real file
    start, end = dt.datetime.combine(REAL_DAY, dt.time()), dt.datetime.combine(REAL_DAY, dt.time(3))
    rows = trades(hist, ["BTCUSDT"], start, end)
    assert len(rows) == 9999
    for interval, width in (("5m", 300), ("15m", 900), ("1h", 3600), ("20s", 20), ("1m", 60)):
        expected = reference_bars(rows, width, "UTC", start, end)
        actual = get_bars(hist, "BTCUSDT", interval, start, end, exchange="binance-futures").to_arrow().to_pylist()
        assert_rows_equal(actual, expected)
    both = [get_bars(hist, SYMBOLS, "4h", SPRING, SPRING + dt.timedelta(days=3), tz=NY, fill="prev", source=src)
            .to_arrow() for src in ("1m", "trades")]
    # 18 New York 4h buckets from 03-09 to 03-12 local; the data ends at 03-12 00:00 UTC = 03-11 20:00 New York
    assert both[0].num_rows == 3 * 17 and both[0].equals(both[1])


# ---------------------------------------------------------------------------------------------
# 1. As-of join


def _book_frame(hist: HistoricalData, symbols: list[str], lo: Any, hi: Any) -> pd.DataFrame:
    book = pd.concat([hist.get_book_snapshots(s, lo, hi, as_pandas=True) for s in symbols], ignore_index=True)
    return book.sort_values(["ts", "local_ts", "depth"], kind="stable", na_position="last").reset_index(drop=True)


@pytest.mark.parametrize(("tolerance", "levels"), [("5s", 0), (None, 0), ("30s", 3)])
def test_asof_join_equals_pandas_merge_asof(hist, tolerance, levels):
    lo, hi = dt.datetime(2024, 3, 9, 22), dt.datetime(2024, 3, 11, 3)  # crosses two UTC midnights
    tol = pd.Timedelta(tolerance) if tolerance else None
    left = pd.DataFrame(trades(hist, SYMBOLS, lo, hi))
    book = _book_frame(hist, SYMBOLS, lo - tol if tol is not None else lo, hi)
    right = book[["exchange", "symbol", "ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount",
                  *(["bid_prices", "bid_amounts", "ask_prices", "ask_amounts"] if levels else [])]].rename(
        columns={"local_ts": "book_local_ts"})
    right["book_ts"] = right["ts"]
    expected = pd.merge_asof(left.drop(columns=["trade_date", "source_file"]), right, on="ts",
                             by=["exchange", "symbol"], tolerance=tol, direction="backward")
    actual = asof_join(hist, SYMBOLS, lo, hi, tolerance=tolerance, levels=levels).to_pandas()
    assert len(actual) == len(expected) == len(left)
    matched = actual["book_ts"].notna()
    assert matched.sum() > 0
    if tolerance == "5s":
        assert (~matched).sum() > 0  # 20 s snapshots: some trades are beyond 5 s and get nulls
    for col in ["exchange", "symbol", "ts", "trade_id", "price", "amount", "book_ts", "book_local_ts", "bid_price",
                "bid_amount", "ask_price", "ask_amount"]:
        assert plain(actual[col]) == plain(expected[col]), col
    if levels:
        for col in ["bid_prices", "bid_amounts", "ask_prices", "ask_amounts"]:
            assert plain(actual[col]) == [v if v is None else v[:levels] for v in plain(expected[col])], col
    assert (actual.loc[matched, "ts"] >= actual.loc[matched, "book_ts"]).all()
    if tol is not None:
        assert ((actual.loc[matched, "ts"] - actual.loc[matched, "book_ts"]) <= tol).all()


def plain(column: pd.Series) -> list:
    """Python values with every kind of missing (None, NaN, NaT) as None."""
    out = []
    for v in column.tolist():
        if isinstance(v, list | tuple | np.ndarray):
            out.append(list(v))
        else:
            out.append(None if v is None or pd.isna(v) else v)
    return out


def test_asof_join_on_real_data_with_tied_snapshots(hist):
    """The real book has depth-5 and depth-25 snapshots at the same timestamp: the deepest (last) wins."""
    book = _book_frame(hist, ["BTCUSDT"], REAL_BOOK_DAY, REAL_BOOK_DAY + dt.timedelta(days=1))
    assert book["ts"].duplicated().sum() == 4
    # real trades are from another day: all nulls, and still one row per trade
    real = asof_join(hist, "BTCUSDT", REAL_DAY, REAL_DAY + dt.timedelta(days=1), tolerance="1d").to_arrow()
    assert real.num_rows == 9999 and real.column("book_ts").null_count == 9999


# ---------------------------------------------------------------------------------------------
# 3. Information-driven bars


@pytest.mark.parametrize(("kind", "threshold"), [("tick", 500), ("volume", "75.5"), ("dollar", "2500000.25")])
def test_info_bars_equal_an_independent_implementation(hist, kind, threshold):
    lo, hi = dt.datetime.combine(SPRING, dt.time()), dt.datetime.combine(SPRING + dt.timedelta(days=3), dt.time())
    rows = trades(hist, SYMBOLS, lo, hi)
    expected = reference_info_bars(rows, kind, Decimal(threshold))
    actual = info_bars(hist, SYMBOLS, kind, threshold, lo, hi).to_arrow().to_pylist()
    assert_rows_equal(actual, expected)
    assert sum(b["trade_count"] for b in actual) == len(rows)
    assert any(b["first_trade_ts"].date() != b["last_trade_ts"].date() for b in actual)  # a bar spans midnight
    if kind == "tick":
        assert {b["trade_count"] for b in actual if b["is_complete"]} == {500}
    assert actual == info_bars(hist, SYMBOLS, kind, threshold, lo, hi).to_arrow().to_pylist()  # reruns


def test_info_bars_on_real_trades(hist):
    lo, hi = REAL_DAY, REAL_DAY + dt.timedelta(days=1)
    rows = trades(hist, ["BTCUSDT"], lo, hi)
    for kind, threshold in (("tick", 1000), ("volume", "100"), ("dollar", "1000000")):
        expected = reference_info_bars(rows, kind, Decimal(threshold))
        assert_rows_equal(info_bars(hist, "BTCUSDT", kind, threshold, lo, hi).to_arrow().to_pylist(), expected)


# ---------------------------------------------------------------------------------------------
# 5. Replay


def test_replay_is_time_ordered_and_loses_no_event(hist):
    lo, hi = dt.datetime(2024, 11, 2, 12), dt.datetime(2024, 11, 4, 6)
    events = list(replay(hist, SYMBOLS, lo, hi, batch_rows=1000).events())
    trade_rows = trades(hist, SYMBOLS, lo, hi)
    book = _book_frame(hist, SYMBOLS, lo, hi)
    assert len(events) == len(trade_rows) + len(book)
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))

    def key(e: Any) -> tuple:
        if e.kind == "book":
            return (e.ts, e.exchange, e.symbol, 0, 0, "", e.local_ts, e.depth)
        return (e.ts, e.exchange, e.symbol, 1, e.trade_seq or 0, e.trade_id)

    keys = [key(e) for e in events]
    assert keys == sorted(keys)  # the documented tie-break, strictly: no two events share a key
    assert len(set(keys)) == len(keys)
    assert [e.trade_id for e in events if e.kind == "trade"] == [r["trade_id"] for r in trade_rows]
    assert sorted((e.symbol, e.ts, e.local_ts) for e in events if e.kind == "book") == sorted(
        zip(book["symbol"], book["ts"].dt.to_pydatetime(), book["local_ts"].dt.to_pydatetime(), strict=True))
    again = replay(hist, SYMBOLS, lo, hi).to_arrow()
    assert again.to_pylist() == [e._asdict() for e in events]


def test_replay_real_book_ties_keep_both_snapshots(hist):
    events = list(replay(hist, "BTCUSDT", REAL_BOOK_DAY, REAL_BOOK_DAY + dt.timedelta(days=1), levels=True).events())
    assert len(events) == 20 and [e.depth for e in events[:2]] == [5, 25]
    table = replay(hist, "BTCUSDT", REAL_BOOK_DAY, REAL_BOOK_DAY + dt.timedelta(days=1), levels=True).to_arrow()
    assert [len(v) for v in table.column("bid_prices").to_pylist()[:2]] == [5, 25]


# ---------------------------------------------------------------------------------------------
# 4. Many symbols, chunks, output types; warm and cold as one


def test_chunks_are_bounded_and_outputs_agree(hist):
    lo, hi = SPRING, SPRING + dt.timedelta(days=3)
    batches = list(replay(hist, SYMBOLS, lo, hi, batch_rows=4096).batches())
    assert len(batches) > 3 and max(b.num_rows for b in batches) <= 4096
    whole = replay(hist, SYMBOLS, lo, hi).to_arrow()
    assert pa.Table.from_batches(batches).equals(whole)
    per_day = list(hist.iter_batches("trades", SYMBOLS, lo, hi, batch_rows=1000))
    assert max(b.num_rows for b in per_day) <= 1000
    assert sum(b.num_rows for b in per_day) == len(trades(hist, SYMBOLS, lo, hi))
    api = BacktestData(hist)
    polars_bars = api.get_bars(SYMBOLS, "1h", lo, hi).to_polars()
    pandas_bars = api.get_bars(SYMBOLS, "1h", lo, hi).to_pandas()
    assert isinstance(polars_bars, pl.DataFrame) and polars_bars.height == len(pandas_bars) == 3 * 72
    assert set(polars_bars["symbol"].unique().to_list()) == set(SYMBOLS)
    result = api.info_bars(SYMBOLS, "tick", 100, lo, hi)
    result.to_arrow()
    with pytest.raises(ResearchError, match="already read"):
        result.to_arrow()


def test_warm_and_cold_answer_the_same(warehouse, tmp_path):
    lakes.copy_home_lake(warehouse, tmp_path)
    tier = ColdTier(LocalColdStore(tmp_path / "cold"), "warehouse")
    moved = [SPRING + dt.timedelta(days=1), SPRING + dt.timedelta(days=2)]
    with lakes.connect(tmp_path) as con:
        archive_days(con, tier, moved, [*RAW_TABLES, OHLCV_TABLES["1m"]])
        for day in moved:
            con.execute("DELETE FROM raw.trades WHERE trade_date = ?", [day])
            con.execute("DELETE FROM raw.book_snapshots WHERE snapshot_date = ?", [day])
            con.execute("DELETE FROM marts.ohlcv_1m WHERE bar_date = ?", [day])
    warm, mixed = HistoricalData(lakes.lake_at(warehouse)), HistoricalData(lakes.lake_at(tmp_path), tier)
    lo, hi = SPRING, SPRING + dt.timedelta(days=3)
    calls = [
        lambda h: asof_join(h, SYMBOLS, lo, hi, tolerance="10s", levels=2),
        lambda h: get_bars(h, SYMBOLS, "4h", lo, hi, tz=NY, fill="prev"),
        lambda h: get_bars(h, SYMBOLS, "30s", lo, hi),
        lambda h: info_bars(h, SYMBOLS, "dollar", 1_000_000, lo, hi),
        lambda h: replay(h, SYMBOLS, lo, hi),
    ]
    for call in calls:
        a, b = call(warm).to_arrow(), call(mixed).to_arrow()
        assert a.num_rows > 0 and a.equals(b)
    list(mixed.iter_batches("trades", SYMBOLS, lo, hi))
    assert mixed.last_plan is not None and mixed.last_plan.cold_days == moved


# ---------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(("call", "message"), [
    (lambda h: get_bars(h, "BTCUSDT", "7x", SPRING, AUTUMN), "unknown interval '7x'"),
    (lambda h: get_bars(h, "BTCUSDT", "0m", SPRING, AUTUMN), "unknown interval '0m'"),
    (lambda h: get_bars(h, "BTCUSDT", "7m", SPRING, AUTUMN), "does not divide a day"),
    (lambda h: get_bars(h, "BTCUSDT", "36h", SPRING, AUTUMN), "not a whole number of days"),
    (lambda h: get_bars(h, "BTCUSDT", "1h", SPRING, AUTUMN, tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (lambda h: get_bars(h, "BTCUSDT", "1h", SPRING, AUTUMN, fill="next"), "unknown fill 'next'"),
    (lambda h: get_bars(h, "BTCUSDT", "1h", AUTUMN, SPRING), "is before start"),
    (lambda h: get_bars(h, "BTCUSDT", "30s", SPRING, AUTUMN, source="1m"), "needs source='trades'"),
    (lambda h: info_bars(h, "BTCUSDT", "tick", 0, SPRING, AUTUMN), "'0' is out of range: expected a number > 0"),
    (lambda h: info_bars(h, "BTCUSDT", "volume", "-1", SPRING, AUTUMN), "'-1' is out of range: expected a number > 0"),
    (lambda h: info_bars(h, "BTCUSDT", "volume", "1e400", SPRING, AUTUMN), "at most 1,000,000,000,000,000,000"),
    (lambda h: info_bars(h, "BTCUSDT", "dollar", "nan", SPRING, AUTUMN), "'nan' is out of range"),
    (lambda h: get_bars(h, "BTCUSDT", "9999999d", SPRING, AUTUMN), "longer than 3660d"),
    (lambda h: info_bars(h, "BTCUSDT", "tick", "2.5", SPRING, AUTUMN), "whole trades"),
    (lambda h: info_bars(h, "BTCUSDT", "volume", "1e-13", SPRING, AUTUMN), "more than 12 decimal places"),
    (lambda h: info_bars(h, "BTCUSDT", "renko", 5, SPRING, AUTUMN), "unknown bar kind 'renko'"),
    (lambda h: asof_join(h, "BTCUSDT", AUTUMN, SPRING), "is before start"),
    (lambda h: asof_join(h, "BTCUSDT", SPRING, AUTUMN, tolerance="soon"), "invalid tolerance: 'soon' is not a number"),
    (lambda h: asof_join(h, "BTCUSDT", SPRING, AUTUMN, tolerance="99999999999d"), "'99999999999d' is out of range"),
    (lambda h: asof_join(h, "BTCUSDT", "0001-01-01T00:00+14:00", AUTUMN), "out of range once its UTC offset"),
    (lambda h: asof_join(h, "BTCUSDT", SPRING, AUTUMN, levels=-1), "levels must be"),
    (lambda h: replay(h, "BTCUSDT", SPRING, SPRING), "empty range"),
    (lambda h: replay(h, [], SPRING, AUTUMN), "at least one symbol"),
    (lambda h: replay(h, "BTCUSDT", SPRING, AUTUMN, trades=False, book=False), "needs trades, book or both"),
])
def test_bad_arguments_give_a_clear_error(hist, call, message):
    with pytest.raises(ResearchError, match=message.replace("(", r"\(")):
        call(hist)


def test_bad_names_are_refused_before_sql(hist):
    with pytest.raises(InvalidNameError):
        get_bars(hist, "BTC' OR 1=1 --", "1h", SPRING, AUTUMN)
    with pytest.raises(InvalidNameError):
        replay(hist, "BTCUSDT", SPRING, AUTUMN, exchange="Bad Exchange")
    with pytest.raises(HistoryError, match="unknown dataset"):
        next(hist.iter_batches("orders", ["BTCUSDT"], SPRING, AUTUMN))


def test_cli_subcommands(warehouse):
    base = [sys.executable, "-m", "ingest.research"]
    common = ["--no-cold"]
    env = {**os.environ, **lakes.lake_at(warehouse).env()}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args, *common], capture_output=True, text=True, cwd=REPO, timeout=300, env=env)

    out = run("bars", "BTCUSDT", "ETHUSDT", "--interval", "1d", "--tz", NY, "--start", "2024-03-09",
              "--end", "2024-03-12", "--csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("exchange,symbol,bucket_start,bucket_end,local_start,open")
    assert len(lines) == 1 + 6
    for args in (["asof", "BTCUSDT", "--tolerance", "2s", "--levels", "2"], ["infobars", "SOLUSDT", "--kind",
                 "volume", "--threshold", "10"], ["replay", "BTCUSDT", "ETHUSDT"]):
        out = run(*args, "--start", "2024-03-09T23:00", "--end", "2024-03-10T01:00", "--csv")
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.strip().splitlines()) > 10, args
    out = run("bars", "BTCUSDT", "--interval", "7x", "--start", "2024-03-09", "--end", "2024-03-10")
    assert out.returncode == 2 and "unknown interval '7x'" in out.stderr



def test_information_bar_measures_are_exact_at_the_numeric_contracts_limits():
    """Volume and dollar bars count amounts in 1e-12 and notionals in 1e-20 units (the numeric contract's
    scales): a trade of 0.000000000001 units or a notional with 20 decimals moves its bar exactly."""
    import duckdb

    from ingest.research.info_bars import _MEASURES

    # Inside the contract: price < 1e10, amount < 1e16, notional < 1e14 with at most 20 decimals.
    cases = [("0.000000000001", "1"), ("99999.123456789012", "999.12345678"), ("9999999999.5", "9999.25"),
             ("0.00000001", "9999999999999999.999999999999"), ("1.5", "0.000000000123")]
    con = duckdb.connect()
    for price, amount in cases:
        got = con.execute(
            f"SELECT {_MEASURES['volume'][0]}, {_MEASURES['dollar'][0]} FROM (SELECT "
            "CAST(? AS DECIMAL(22, 12)) AS price, CAST(? AS DECIMAL(28, 12)) AS amount)", [price, amount]
        ).fetchone()
        with localcontext(prec=80):
            want = (int(Decimal(amount) * 10**12), int(Decimal(price) * Decimal(amount) * 10**20))
        assert got == want, (price, amount)


# ---------------------------------------------------------------------------------------------
# 7. One numeric policy: arithmetic across the columns of every answer, in pandas and polars


def _first(values: Any) -> Any:
    return None if values is None else list(values)[0]


_ARITHMETIC: dict[str, list[tuple[str, Any]]] = {
    # answer -> [(name, expression of a column getter c)]: the same expression runs on pandas Series,
    # polars expressions and (the reference) Python values of one row
    "trades": [("notional", lambda c: c("price") * c("amount"))],
    "book": [("mid - bid", lambda c: (c("bid_price") + c("ask_price")) / 2 - c("bid_price")),
             ("spread x size", lambda c: (c("ask_price") - c("bid_price")) * c("bid_amount"))],
    "ohlcv": [("vwap - close", lambda c: c("vwap") - c("close")), ("range", lambda c: c("high") - c("low")),
              ("sides", lambda c: c("buy_volume") + c("sell_volume") - c("volume"))],
    "daily_stats": [("close - prev", lambda c: c("close") - c("prev_close")),
                    ("vwap - open", lambda c: c("vwap") - c("open"))],
    "asof": [("price - mid", lambda c: c("price") - (c("bid_price") + c("ask_price")) / 2),
             ("size at bid", lambda c: c("amount") - c("bid_amount"))],
    "bars": [("vwap - open", lambda c: c("vwap") - c("open")),
             ("sides", lambda c: c("buy_volume") + c("sell_volume") - c("volume"))],
    "infobars": [("vwap - close", lambda c: c("vwap") - c("close"))],
    "replay": [("book mid", lambda c: (c("bid_price") + c("ask_price")) / 2),
               ("notional", lambda c: c("price") * c("amount"))],
}


def _answers(hist: HistoricalData, numeric: str) -> dict[str, pa.Table]:
    lo, hi = dt.datetime(2024, 3, 9, 23), dt.datetime(2024, 3, 10, 1)
    days = dict(start=SPRING, end=SPRING + dt.timedelta(days=3))
    return {
        "trades": hist.get_trades("BTCUSDT", lo, hi, numeric=numeric),
        "book": hist.get_book_snapshots("BTCUSDT", lo, hi, numeric=numeric),
        "ohlcv": hist.get_ohlcv("BTCUSDT", "1m", lo, hi, numeric=numeric),
        "daily_stats": hist.get_daily_stats("BTCUSDT", **days, numeric=numeric),
        "asof": asof_join(hist, SYMBOLS, lo, hi, tolerance="30s", levels=2, numeric=numeric).to_arrow(),
        "bars": get_bars(hist, SYMBOLS, "1h", lo, hi, tz=NY, numeric=numeric).to_arrow(),
        "infobars": info_bars(hist, SYMBOLS, "volume", "20", lo, hi, numeric=numeric).to_arrow(),
        "replay": replay(hist, SYMBOLS, lo, hi, levels=True, numeric=numeric).to_arrow(),
    }


QUANTITIES = {"price", "amount", "open", "high", "low", "close", "prev_close", "volume", "quote_volume", "vwap",
              "buy_volume", "sell_volume", "bid_price", "ask_price", "bid_amount", "ask_amount", "bid_prices",
              "ask_prices", "bid_amounts", "ask_amounts"}


@pytest.mark.parametrize("numeric", ["exact", "float"])
def test_every_answer_gives_every_quantity_one_type_and_arithmetic_works(hist, numeric):
    """asof_join once gave Decimal prices and float64 bids: `price - (bid + ask) / 2` raised TypeError."""
    scalar = Decimal if numeric == "exact" else float
    for name, table in _answers(hist, numeric).items():
        assert table.num_rows > 0, name
        for field in table.schema:
            if field.name in QUANTITIES:
                t = field.type.value_type if pa.types.is_list(field.type) else field.type
                assert (pa.types.is_decimal(t) if numeric == "exact" else pa.types.is_float64(t)), (name, field)
        rows = table.to_pylist()
        frame, pframe = table.to_pandas(), pl.from_arrow(table)
        for label, expr in _ARITHMETIC[name]:
            want = []
            for row in rows:
                try:
                    want.append(expr(row.__getitem__))
                except TypeError:  # a None in the row (a trade without a book, a book row of the replay)
                    want.append(None)
            assert any(w is not None for w in want), (name, label)
            assert all(w is None or isinstance(w, scalar) for w in want), (name, label)
            in_pandas = plain(expr(frame.__getitem__))
            in_polars = pframe.select(expr(pl.col).alias("x"))["x"].to_list()
            for i, w in enumerate(want):
                if w is None:
                    assert in_pandas[i] is None and in_polars[i] is None, (name, label, i)
                elif numeric == "exact":
                    assert in_pandas[i] == w, (name, label, i)  # Decimal arithmetic: exact
                    assert isinstance(in_polars[i], Decimal), (name, label, i)
                    assert abs(in_polars[i] - w) <= abs(w) * Decimal("1e-12") + Decimal("1e-20"), (name, label, i)
                else:
                    assert in_pandas[i] == in_polars[i] == pytest.approx(w, rel=1e-12, abs=1e-12), (name, label, i)
    levels = _answers(hist, numeric)["asof"].to_pylist()
    matched = [r for r in levels if r["bid_prices"] is not None]
    assert matched and all(isinstance(_first(r["bid_prices"]), scalar) for r in matched)
    assert all(_first(r["bid_prices"]) == r["bid_price"] for r in matched)


def test_an_exact_vwap_asked_alone_is_the_same_decimal(hist):
    """The exact VWAP is quote_volume / volume (ingest/numbers.py): asked without them, they are read and dropped."""
    lo, hi = dt.datetime(2024, 3, 9, 23), dt.datetime(2024, 3, 10, 1)
    full = hist.get_ohlcv("BTCUSDT", "1m", lo, hi)
    alone = hist.get_ohlcv("BTCUSDT", "1m", lo, hi, columns=["bucket_start", "vwap"])
    assert alone.column_names == ["bucket_start", "vwap"] and pa.types.is_decimal(alone.schema.field("vwap").type)
    assert alone.column("vwap").equals(full.column("vwap")) and alone.num_rows > 10
    streamed = pa.Table.from_batches(list(hist.iter_batches("ohlcv_1m", ["BTCUSDT"], lo, hi, columns=["vwap"])))
    assert streamed.column_names == ["vwap"] and streamed.column("vwap").to_pylist() == full.column("vwap").to_pylist()
