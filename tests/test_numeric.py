"""The numeric contract (docs/contracts.md, "Numeric contract") end to end, on real DuckDB, dbt and chdb.

Instruments at the edges of the range (simulator's `wide_range_symbols`: 12-decimal meme-coin
prices with 1e11-unit trades, BTC in rupiah near 1e9, integer contracts, 12-decimal amounts) are
loaded, built into marts by dbt, loaded into the hot tier and read back through the history API;
every bar field must equal an independent computation in Python's `decimal`, and every loaded
value must equal its source text. Values at and just beyond each bound load or are quarantined
with the specified rule, by the warm loader and by the live feed alike.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import subprocess
import sys
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest.feed.canonical import normalise
from ingest.history import HistoricalData
from ingest.hot import HotTarget, day_bars, insert_trades, open_hot_tier
from ingest.hot.reconcile import warm_bars
from ingest.hot.tier import BAR_COLUMNS, HotSettings, to_hot_rows
from ingest.landing import trades_file_name
from ingest.loader import load_book_snapshots, load_trades
from ingest.simulator import simulate_day, wide_range_symbols
from tests import lakes
from tests.conftest import TRADES_HEADER, write_gz
from tests.dbt_state import seeded_target

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
DAY = dt.date(2024, 3, 4)
EXCHANGE = "simdex"
EXACT_FIELDS = ["open", "high", "low", "close", "volume", "quote_volume", "trade_count", "buy_volume", "sell_volume"]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def _reference_bars(rows: list[dict[str, str]], minutes: int) -> dict[tuple[str, dt.datetime], dict]:
    """Bars in plain Python: Decimal arithmetic is exact here (the context's precision is never hit:
    every value is built from exact text and only added and multiplied with enough digits)."""
    groups: dict[tuple[str, dt.datetime], list] = defaultdict(list)
    width = minutes * 60_000_000
    for r in rows:
        ts = int(r["timestamp"])
        start = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ts - ts % width)
        groups[(r["symbol"], start)].append((ts, int(r["id"]), r["id"], Decimal(r["price"]), Decimal(r["amount"]),
                                             r["side"]))
    out = {}
    import decimal

    with decimal.localcontext(prec=100):
        for key, trades in groups.items():
            trades.sort(key=lambda t: (t[0], t[1], t[2]))
            out[key] = {
                "open": trades[0][3], "close": trades[-1][3],
                "high": max(t[3] for t in trades), "low": min(t[3] for t in trades),
                "volume": sum((t[4] for t in trades), Decimal(0)),
                "quote_volume": sum((t[3] * t[4] for t in trades), Decimal(0)),
                "trade_count": len(trades),
                "buy_volume": sum((t[4] for t in trades if t[5] == "buy"), Decimal(0)),
                "sell_volume": sum((t[4] for t in trades if t[5] == "sell"), Decimal(0)),
            }
    return out


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("numeric")
    landing = work / "landing"
    sim = simulate_day(DAY, landing, symbols=wide_range_symbols(), exchange=EXCHANGE, trades_per_day=20_000,
                       snapshot_interval_ms=600_000)
    with lakes.connect(work) as con:
        report = load_trades(con, landing, DAY)
        load_book_snapshots(con, landing, DAY)
    env = {**os.environ, **lakes.lake_at(work).env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [str(DBT), "build", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target-path", str(seeded_target(work / "target")), "--log-path", str(work / "logs")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return {"home": work, "rows": _csv_rows(sim.trades_path), "report": report, "sim": sim, "work": work}


def test_simulated_instruments_span_the_range(wide: dict) -> None:
    rows = wide["rows"]
    assert wide["report"].rows_loaded == len(rows) == 20_000 and wide["report"].rows_quarantined == 0
    by_symbol: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_symbol[r["symbol"]].append(r)
    meme = by_symbol["MEMEUSDT"]
    assert max(Decimal(r["amount"]) for r in meme) >= Decimal("1e11")
    assert all(len(r["price"].split(".")[1]) == 12 and Decimal(r["price"]) < Decimal("0.00001") for r in meme)
    assert min(Decimal(r["price"]) for r in by_symbol["BTCIDR"]) > Decimal("1e9")
    assert all("." not in r["amount"] for r in by_symbol["BTCUSD-PERP"])
    assert all(len(r["amount"].split(".")[1]) == 12 for r in by_symbol["WETHUSDC"])


def test_every_loaded_value_equals_its_source_text(wide: dict) -> None:
    with lakes.connect(wide["home"], read_only=True) as con:
        loaded = {(s, i): (p, a) for s, i, p, a in
                  con.execute("SELECT symbol, trade_id, price, amount FROM raw.trades").fetchall()}
    assert len(loaded) == len(wide["rows"])
    for r in wide["rows"]:
        assert loaded[(r["symbol"], r["id"])] == (Decimal(r["price"]), Decimal(r["amount"])), r


def _mart(con: duckdb.DuckDBPyConnection, table: str) -> dict[tuple[str, dt.datetime], dict]:
    cur = con.execute(f"SELECT symbol, bucket_start, {', '.join(EXACT_FIELDS)}, vwap FROM marts.{table}")
    return {(r[0], r[1]): dict(zip([*EXACT_FIELDS, "vwap"], r[2:], strict=True)) for r in cur.fetchall()}


def _assert_equal(got: dict, ref: dict) -> None:
    assert got.keys() == ref.keys()
    for key, bar in ref.items():
        mine = {f: got[key][f] for f in EXACT_FIELDS}
        assert mine == bar, (key, {f: (mine[f], bar[f]) for f in EXACT_FIELDS if mine[f] != bar[f]})
        vwap = got[key]["vwap"]
        if isinstance(vwap, Decimal):  # an exact answer (ingest/numbers.py): half-even at 24 decimals
            with localcontext(prec=80, rounding=ROUND_HALF_EVEN):
                assert vwap == (bar["quote_volume"] / bar["volume"]).quantize(Decimal("1e-24")), key
        else:  # the marts' DOUBLE
            assert vwap == pytest.approx(float(bar["quote_volume"] / bar["volume"]), rel=1e-14)


@pytest.mark.parametrize(("table", "minutes"), [("ohlcv_1m", 1), ("ohlcv_15m", 15), ("ohlcv_1h", 60),
                                                 ("ohlcv_1d", 1440)])
def test_marts_equal_exact_decimal_bars(wide: dict, table: str, minutes: int) -> None:
    with lakes.connect(wide["home"], read_only=True) as con:
        _assert_equal(_mart(con, table), _reference_bars(wide["rows"], minutes))


def test_daily_and_monthly_sums_are_exact(wide: dict) -> None:
    ref = _reference_bars(wide["rows"], 1440)
    with lakes.connect(wide["home"], read_only=True) as con:
        monthly = {s: (v, q) for s, v, q in con.execute(
            "SELECT symbol, volume, quote_volume FROM marts.rollup_monthly").fetchall()}
        types = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ohlcv_1m'").fetchall())
    assert monthly == {s: (b["volume"], b["quote_volume"]) for (s, _), b in ref.items()}
    assert (types["open"], types["volume"], types["quote_volume"]) == (
        "DECIMAL(22,12)", "DECIMAL(38,12)", "DECIMAL(38,20)")


def test_history_api_returns_the_exact_bars(wide: dict) -> None:
    ref = _reference_bars(wide["rows"], 1)
    api = HistoricalData(lakes.lake_at(wide["home"]))
    got = {}
    for symbol in {s for s, _ in ref}:
        table = api.get_ohlcv(symbol, "1m", DAY, DAY + dt.timedelta(days=1), EXCHANGE)
        for row in table.to_pylist():
            got[(row["symbol"], row["bucket_start"].replace(tzinfo=None))] = row
    _assert_equal(got, ref)


def test_hot_tier_live_bars_equal_exact_bars_and_warm(wide: dict, tmp_path: Path) -> None:
    raw = pa.table({c: pa.array([r[c] for r in wide["rows"]], pa.string()) for c in TRADES_HEADER.split(",")})
    canonical, rejected = normalise(raw)
    assert not rejected
    with open_hot_tier(HotTarget(path=str(tmp_path / "chdb")), HotSettings(ttl_basis="ingest")) as client:
        insert_trades(client, to_hot_rows(canonical.drop_columns(["src_row", "rejected"])), "numeric-1")
        hot = day_bars(client, DAY)
    with lakes.connect(wide["home"], read_only=True) as con:
        warm = warm_bars(con, DAY)
    diffs = [(c, h, w) for hb, wb in zip(hot, warm, strict=True)
             for c, h, w in zip(BAR_COLUMNS, hb, wb, strict=True) if h != w]
    assert len(hot) == len(warm) and not diffs, diffs[:5]
    ref = _reference_bars(wide["rows"], 1)
    got = {(b[BAR_COLUMNS.index("symbol")], b[BAR_COLUMNS.index("bucket_start")]):
           dict(zip(BAR_COLUMNS, b, strict=True)) for b in hot}
    _assert_equal(got, ref)


# --------------------------------------------------------------------------------------------
# bounds: (price, amount, expected rule or None when the trade loads)
BOUNDS = [
    ("0.000000000001", "1", None),  # smallest price
    ("9999999999.999999999999", "1", None),  # largest price
    ("0.0000000000001", "1", "precision_loss"),  # 13 decimals
    ("0.0000000000010", "1", None),  # 13 written, 12 significant
    ("10000000000", "1", "out_of_range"),  # price 1e10
    ("0.01", "999999999999999.999999999999", None),  # amount < 1e15 with 12 decimals
    ("0.000001", "9999999999999999.999999999999", None),  # largest amount
    ("0.000001", "10000000000000000", "out_of_range"),  # amount 1e16
    ("1", "1.0000000000001", "precision_loss"),
    ("1", "1.50000000000000000", None),
    ("0.00000123", "150000000000", None),  # the whale trade
    ("0.000001235", "1", None),  # the 9-decimal price, not rounded
    ("9999999999", "10000", None),  # notional just below 1e14
    ("9999999999", "10000.0001", "out_of_range"),  # notional above 1e14
    ("0.000000000005", "0.000000002", None),  # notional 1e-20: exactly 20 decimals
    ("0.123456789", "1.000000001", None),  # both beyond 8 decimals, notional exact at 18
    ("0.123456789123", "1.000000001001", "precision_loss"),  # notional with 24 decimals
    ("0.000000000001", "0.000000000001", "precision_loss"),  # notional 1e-24
    ("1e5", "1", "unparseable_value"),
    ("abc", "1", "unparseable_value"),
    ("NaN", "1", "non_finite_value"),
    ("-0.000000000001", "1", "non_positive_price"),
]
T0 = 1709510400000000  # 2024-03-04 00:00:00 UTC


def test_bounds_load_or_are_quarantined_with_the_original_text(tmp_path: Path) -> None:
    lines = [TRADES_HEADER] + [f"simex,BTCUSDT,{T0 + i},{T0 + i},{i},buy,{p},{a}" for i, (p, a, _) in enumerate(BOUNDS)]
    root = tmp_path / "landing"
    write_gz(root / trades_file_name("simex", DAY), lines)
    with lakes.connect(tmp_path) as con:
        load_trades(con, root, DAY)
        loaded = {int(i): (p, a) for i, p, a in
                  con.execute("SELECT trade_id, price, amount FROM raw.trades").fetchall()}
        quarantined = {line - 2: (rule, raw_line) for line, rule, raw_line in con.execute(
            "SELECT source_line, rule, raw_line FROM raw.quarantine").fetchall()}
    for i, (p, a, rule) in enumerate(BOUNDS):
        if rule is None:
            assert loaded[i] == (Decimal(p), Decimal(a)) and i not in quarantined, (p, a)
        else:
            assert i not in loaded and quarantined[i][0] == rule, (p, a, quarantined.get(i))
            if rule in ("precision_loss", "unparseable_value") and p != "0.000000000001":
                assert (p if rule != "precision_loss" or "." in p and len(p) > 14 else a) in quarantined[i][1]
    # The live feed applies the same contract.
    raw = pa.table({c: pa.array([line.split(",")[k] for line in lines[1:]], pa.string())
                    for k, c in enumerate(TRADES_HEADER.split(","))})
    canonical, rejected = normalise(raw)
    expected: dict[str, int] = defaultdict(int)
    for _, _, rule in BOUNDS:
        if rule:
            expected[rule] += 1
    assert dict(rejected) == dict(expected)
    kept = [r for r in canonical.to_pylist() if not r["rejected"]]
    assert [(r["price"], r["amount"]) for r in kept] == [(Decimal(p), Decimal(a)) for p, a, rule in BOUNDS if not rule]
