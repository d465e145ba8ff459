"""The research API over the derivatives datasets: as-of joins on quotes and on the derivative ticker, and
funding payments, against independent implementations here (pandas merge_asof; a plain Decimal loop).

One warehouse per module, loaded by the real loader from files in the vendors' layout (Tardis headers,
microsecond timestamps, empty fields): two exchanges, two UTC days, trades, quotes and ticker rows
that carry only some fields, ties at one timestamp, 20-decimal funding rates, and on the second day a
funding schedule that changes from 8 hours to 4.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
from decimal import Decimal, localcontext
from pathlib import Path

import pandas as pd
import pytest

from ingest.history import HistoricalData
from ingest.landing import landing_file_name
from ingest.loader import load_day
from ingest.research import ResearchError, asof_join, funding_payments
from tests import lakes
from tests.conftest import write_gz

REPO = Path(__file__).resolve().parents[1]
DAY1, DAY2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
EPOCH = dt.datetime(1970, 1, 1)
TRADES = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTES = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
TICKER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
          "open_interest,last_price,index_price,mark_price")
EXCHANGES = ["binance-futures", "bybit"]
TICKER_ORDER = ["ts", "local_ts", "funding_ts", "funding_rate", "predicted_funding_rate", "open_interest",
                "last_price", "index_price", "mark_price"]
VALUES = ["mark_price", "index_price", "last_price", "open_interest", "predicted_funding_rate"]


def us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second))


def next_funding(t: dt.datetime) -> dt.datetime:
    """8h schedule (00, 08, 16) until 2024-01-02 10:00, then 4h (12, 16, 20, 00...)."""
    step = 8 if t < at(DAY2, 10) else 4
    hour = (t.hour // step + 1) * step
    return dt.datetime.combine(t.date(), dt.time()) + dt.timedelta(hours=hour)


def _files(rng: random.Random, exchange: str, day: dt.date) -> dict[str, list[str]]:
    """One exchange's trades, quotes and ticker rows of one day, in the vendors' layout."""
    trades, quotes, ticker = [TRADES], [QUOTES], [TICKER]
    start = at(day, 0)
    price = Decimal("42000")
    t = start + dt.timedelta(seconds=rng.randint(0, 30))
    n = 0
    while t < start + dt.timedelta(days=1):
        price += Decimal(rng.randint(-20, 20)) / 10
        kind = rng.random()
        ts = us(t)
        if kind < 0.4:
            n += 1
            amount = Decimal(rng.randint(1, 5000)) / 1000
            side = rng.choice(["buy", "sell"])
            trades.append(f"{exchange},BTCUSDT,{ts},{ts + 300},{day:%j}{n},{side},{price},{amount}")
        elif kind < 0.7:
            bid = price - Decimal(rng.randint(0, 5)) / 10
            ask = bid + Decimal(rng.randint(0, 3)) / 10
            quotes.append(f"{exchange},BTCUSDT,{ts},{ts + 200},{rng.randint(1, 900) / 100},{ask},{bid},"
                          f"{rng.randint(1, 900) / 100}")
        else:
            ticker.append(_ticker_row(rng, exchange, t, price))
        t += dt.timedelta(seconds=rng.randint(1, 40), microseconds=rng.choice([0, 0, 1000, 250_000]))
    # hand-made edges at 06:00:00: a trade, two quotes and two ticker rows sharing its timestamp
    edge = us(at(day, 6))
    trades.append(f"{exchange},BTCUSDT,{edge},{edge + 9},edge{day:%j},buy,{price},1")
    quotes.append(f"{exchange},BTCUSDT,{edge},{edge + 5},1,{price + 1},{price},2")
    quotes.append(f"{exchange},BTCUSDT,{edge},{edge + 5},3,{price + 1},{price},1")  # same (ts, local_ts)
    quotes.append(f"{exchange},BTCUSDT,{edge},{edge + 4},5,{price + 2},{price},1")  # received earlier
    ticker.append(f"{exchange},BTCUSDT,{edge},{edge + 5},,,,100.5,,,{price + Decimal('0.25')}")
    ticker.append(f"{exchange},BTCUSDT,{edge},{edge + 5},,,,99.5,,,")  # same (ts, local_ts), OI only
    if day == DAY1:  # the day's last quotes, tied at 23:59:59.999999 and carried into the next day
        last = us(at(day, 0) + dt.timedelta(days=1)) - 1
        quotes.append(f"{exchange},BTCUSDT,{last},{last + 7},4,{price + 1},{price},6")  # received later: wins
        quotes.append(f"{exchange},BTCUSDT,{last},{last + 3},9,{price + 1},{price},8")
    else:  # a trade at midnight, before the day's first quote: the day before's last is in force
        midnight = us(at(day, 0))
        trades.append(f"{exchange},BTCUSDT,{midnight},{midnight + 9},midnight{day:%j},sell,{price},1")
    return {"trades": trades, "quotes": quotes, "derivative_ticker": ticker}


def _ticker_row(rng: random.Random, exchange: str, t: dt.datetime, price: Decimal) -> str:
    """A ticker row with some fields, as the exchanges send them: funding, mark/index, open interest..."""
    ts = us(t)
    mark = price + Decimal(rng.randint(-50, 50)) / 100
    funding = us(next_funding(t))
    if rng.random() < 0.5:  # a 20-decimal prorated rate, or an 8-decimal one; sometimes negative
        rate = Decimal(rng.randint(-10**16, 10**16)).scaleb(-20)
    else:
        rate = Decimal(rng.randint(-30000, 30000)).scaleb(-8)
    shape = rng.random()
    if shape < 0.3:
        fields = [funding, rate, Decimal(rng.randint(-9999, 9999)).scaleb(-8), Decimal(rng.randint(1, 10**6)) / 1000,
                  price, mark - Decimal("0.5"), mark]
    elif shape < 0.55:
        fields = ["", "", "", "", "", mark - Decimal("0.5"), mark]  # mark and index only
    elif shape < 0.75:
        fields = [funding, rate, "", "", "", "", ""]  # funding only
    elif shape < 0.9:
        fields = ["", "", "", Decimal(rng.randint(1, 10**6)) / 1000, "", "", ""]  # open interest only
    else:
        fields = [funding, "", "", "", price, "", ""]  # a funding time without a rate, and the last price
    texts = (format(f, "f") if isinstance(f, Decimal) else str(f) for f in fields)  # never 1E-19
    return f"{exchange},BTCUSDT,{ts},{ts + 700}," + ",".join(texts)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("derivatives")
    landing = home / "landing"
    rng = random.Random(23)
    for exchange in EXCHANGES:
        for day in (DAY1, DAY2):
            for data_type, lines in _files(rng, exchange, day).items():
                write_gz(landing / landing_file_name(exchange, data_type, day, "BTCUSDT"), lines)
    with lakes.connect(home) as con:
        for day in (DAY1, DAY2):
            for data_type in ("trades", "quotes", "derivative_ticker"):
                report = load_day(con, landing, day, data_type)
                assert report.rows_loaded > 1000 and not report.quarantine_by_rule, (data_type, report)
    return home


@pytest.fixture(scope="module")
def hist(home: Path) -> HistoricalData:
    return HistoricalData(lakes.lake_at(home))


# ---------------------------------------------------------------------------------------------
# References


def plain(column: pd.Series) -> list:
    return [None if v is None or pd.isna(v) else v for v in column.tolist()]


def left_trades(hist: HistoricalData, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
    rows = sorted(hist.get_trades("BTCUSDT", lo, hi).to_pylist(),
                  key=lambda r: (r["ts"], r["exchange"], r["symbol"], r["trade_seq"] or 0, r["trade_id"]))
    return pd.DataFrame(rows).drop(columns=["trade_date", "source_file"])


def total_order(rows: list[dict], columns: list[str]) -> list[dict]:
    """Rows sorted by `columns`, nulls last in each: the last of equal timestamps wins a merge_asof."""
    return sorted(rows, key=lambda r: tuple((r[c] is None, r[c] if r[c] is not None else 0) for c in columns))


def right_rows(hist: HistoricalData, get: str, lo: dt.datetime, hi: dt.datetime, tol: pd.Timedelta | None,
               columns: list[str]) -> pd.DataFrame:
    first = lo - tol.to_pytimedelta() if tol is not None else lo
    rows = getattr(hist, get)("BTCUSDT", first, hi).to_pylist()
    return pd.DataFrame(total_order(rows, columns))


RANGES = [(at(DAY1, 20), at(DAY2, 4), None), (at(DAY1, 20), at(DAY2, 4), "40s"), (at(DAY1, 5), at(DAY2, 23), "2m")]


@pytest.mark.parametrize(("lo", "hi", "tolerance"), RANGES)
def test_asof_join_on_quotes_equals_pandas_merge_asof(hist, lo, hi, tolerance):
    tol = pd.Timedelta(tolerance) if tolerance else None
    left = left_trades(hist, lo, hi)
    quotes = right_rows(hist, "get_quotes", lo, hi, tol,
                        ["ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount"])
    right = quotes[["exchange", "symbol", "ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount"]]
    right = right.rename(columns={"local_ts": "quote_local_ts"}).assign(quote_ts=right["ts"])
    expected = pd.merge_asof(left, right, on="ts", by=["exchange", "symbol"], tolerance=tol, direction="backward")
    actual = asof_join(hist, "BTCUSDT", lo, hi, tolerance=tolerance, right="quotes").to_pandas()
    assert list(actual.columns) == [*left.columns, "quote_ts", "quote_local_ts", "bid_price", "bid_amount",
                                    "ask_price", "ask_amount"]
    assert len(actual) == len(expected) == len(left) > 1000
    assert set(actual["exchange"]) == set(EXCHANGES)
    for col in actual.columns:
        assert plain(actual[col]) == plain(expected[col]), col
    matched = actual["quote_ts"].notna()
    assert matched.sum() > 0 and (tolerance is None or (~matched).sum() > 0)
    # the 06:00 edge: the quote at the trade's own time, the last of three in (local_ts, bid_price, bid_amount...)
    edge = actual[actual["trade_id"].str.startswith("edge")]
    assert len(edge) == (4 if hi.hour >= 6 else 0)  # 06:00 of both days on both exchanges, when in range
    assert (edge["ask_amount"] == 1).all() and (edge["bid_amount"] == 2).all()
    assert (edge["quote_ts"] == edge["ts"]).all()
    # midnight of DAY2: the tie at DAY1's last microsecond, settled and carried across the day boundary
    night = actual[actual["trade_id"].str.startswith("midnight")]
    assert len(night) == 2 and (night["quote_ts"] == at(DAY2, 0) - dt.timedelta(microseconds=1)).all()
    assert (night["ask_amount"] == 4).all() and (night["bid_amount"] == 6).all()


def ticker_reference(hist: HistoricalData, lo: dt.datetime, hi: dt.datetime, tolerance: str | None) -> pd.DataFrame:
    """Each column its own merge_asof over the rows where it is not null; funding_ts with funding_rate."""
    tol = pd.Timedelta(tolerance) if tolerance else None
    left = left_trades(hist, lo, hi)
    rows = right_rows(hist, "get_derivative_ticker", lo, hi, tol, TICKER_ORDER)
    out = left.copy()
    keys = ["exchange", "symbol", "ts"]

    def one(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
        right = frame[[*keys, *columns]].rename(columns=columns).assign(_at=frame["ts"])
        return pd.merge_asof(left[keys], right.rename(columns={"_at": "_at"}), on="ts", by=keys[:2],
                             tolerance=tol, direction="backward")

    every = one(rows, {"local_ts": "ticker_local_ts"})
    out["ticker_ts"], out["ticker_local_ts"] = every["_at"], every["ticker_local_ts"]
    for col in VALUES:
        out[col] = one(rows[rows[col].notna()], {col: col})[col]
    funding = one(rows[rows["funding_rate"].notna()], {"funding_rate": "funding_rate", "funding_ts": "funding_ts"})
    out["funding_rate"], out["funding_ts"] = funding["funding_rate"], funding["funding_ts"]
    return out


@pytest.mark.parametrize(("lo", "hi", "tolerance"), RANGES)
def test_asof_join_on_the_ticker_equals_merge_asof_per_column(hist, lo, hi, tolerance):
    expected = ticker_reference(hist, lo, hi, tolerance)
    actual = asof_join(hist, ["BTCUSDT"], lo, hi, tolerance=tolerance, right="ticker").to_pandas()
    assert list(actual.columns)[9:] == ["ticker_ts", "ticker_local_ts", "mark_price", "index_price", "last_price",
                                        "open_interest", "funding_rate", "funding_ts", "predicted_funding_rate"]
    assert len(actual) == len(expected) > 1000
    for col in actual.columns:
        assert plain(actual[col]) == plain(expected[col]), col
    # the columns really come from different rows: a trade's mark and open interest are often of two rows
    assert (actual["mark_price"].notna() & actual["open_interest"].notna()).sum() > 100
    assert (actual["funding_rate"].map(lambda r: r is not None and r.as_tuple().exponent == -24)).any()
    # the 06:00 edge: two rows tied on (ts, local_ts); open interest 100.5 sorts after 99.5 and wins
    edge = actual[actual["trade_id"].str.startswith("edge")]
    assert len(edge) == (4 if hi.hour >= 6 else 0)
    assert (edge["open_interest"] == Decimal("100.5")).all() and (edge["ticker_ts"] == edge["ts"]).all()
    assert (edge["mark_price"] - edge["price"] == Decimal("0.25")).all()
    floats = asof_join(hist, "BTCUSDT", lo, hi, tolerance=tolerance, right="ticker", numeric="float").to_pandas()
    assert floats["funding_rate"].dtype == "float64"
    assert plain(floats["funding_rate"]) == [None if v is None else float(v) for v in plain(actual["funding_rate"])]


def test_the_default_right_is_the_book_and_levels_are_the_books_only(hist):
    with pytest.raises(ResearchError, match="unknown right 'orders': expected one of book, quotes, ticker"):
        asof_join(hist, "BTCUSDT", DAY1, DAY2, right="orders")
    with pytest.raises(ResearchError, match="levels are the book's: right='quotes' has none"):
        asof_join(hist, "BTCUSDT", DAY1, DAY2, right="quotes", levels=2)


# ---------------------------------------------------------------------------------------------
# Funding


def reference_funding(hist: HistoricalData, exchange: str, lo: dt.datetime, hi: dt.datetime,
                      changes: list[tuple[dt.datetime, Decimal]], tol: dt.timedelta) -> list[dict]:
    """The definition, as a plain loop over the ticker rows (Decimal arithmetic)."""
    rows = total_order(hist.get_derivative_ticker("BTCUSDT", lo - tol, hi, exchange).to_pylist(), TICKER_ORDER)
    times = sorted({r["funding_ts"] for r in rows if r["funding_ts"] is not None and lo <= r["funding_ts"] < hi})
    out, total = [], Decimal(0)
    for f in times:
        seen = [r for r in rows if r["funding_ts"] == f and r["funding_rate"] is not None and f - tol <= r["ts"] <= f]
        if not seen:
            continue
        rate = seen[-1]
        marks = [r for r in rows if r["mark_price"] is not None and f - tol <= r["ts"] <= f]
        mark = marks[-1] if marks else None
        held = Decimal(0)
        for when, amount in changes:
            if when <= f:
                held = amount
        with localcontext(prec=200):
            payment = None if mark is None else -held * mark["mark_price"] * rate["funding_rate"]
            total = None if payment is None or total is None else total + payment
        out.append({"exchange": exchange, "symbol": "BTCUSDT", "funding_ts": f, "funding_rate": rate["funding_rate"],
                    "rate_ts": rate["ts"], "mark_price": mark and mark["mark_price"], "mark_ts": mark and mark["ts"],
                    "position": held, "payment": payment, "cumulative_payment": total})
    return out


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize(("position", "tolerance"), [(Decimal("0.5"), "8h"), ("-2", "90s"), (3, "8h")])
def test_funding_payments_equal_the_definition(hist, exchange, position, tolerance):
    lo, hi = at(DAY1, 0), at(DAY2, 0) + dt.timedelta(days=1)
    tol = pd.Timedelta(tolerance).to_pytimedelta()
    expected = reference_funding(hist, exchange, lo, hi, [(lo, Decimal(str(position)))], tol)
    actual = funding_payments(hist, "BTCUSDT", lo, hi, position, exchange=exchange, tolerance=tolerance)
    got = actual.to_arrow().to_pylist()
    assert got == expected
    times = [r["funding_ts"] for r in got]
    if tolerance == "8h":  # 8h on the first day (no rows before it: no 00:00), then 4h from 12:00 on the second
        assert [t.hour for t in times] == [8, 16, 0, 8, 12, 16, 20]
    if tolerance == "90s":  # fewer events: those whose rate was last seen more than 90 s before are not known
        assert 0 < len(got) < 7
    else:
        assert all(r["payment"] is not None for r in got)
    long = Decimal(str(position)) > 0
    assert all((r["payment"] < 0) == (long and r["funding_rate"] > 0 or not long and r["funding_rate"] < 0)
               for r in got if r["payment"])


def test_funding_with_position_changes_and_in_floats(hist):
    lo, hi = at(DAY1, 6), at(DAY2, 21)
    changes = [(at(DAY1, 6), Decimal("1.25")), (at(DAY1, 16), Decimal("-0.5")), (at(DAY2, 9), Decimal(0)),
               (at(DAY2, 12, 0, 1), Decimal("7"))]
    expected = reference_funding(hist, "bybit", lo, hi, changes, dt.timedelta(hours=8))
    got = funding_payments(hist, "BTCUSDT", lo, hi, [(t.isoformat(), str(q)) for t, q in changes],
                           exchange="bybit").to_arrow().to_pylist()
    assert got == expected
    # opened exactly at 16:00: pays the 16:00 funding; opened one second after 12:00: not the 12:00 one
    assert [(r["funding_ts"].hour, r["position"]) for r in got] == [
        (8, Decimal("1.25")), (16, Decimal("-0.5")), (0, Decimal("-0.5")), (8, Decimal("-0.5")), (12, 0), (16, 7),
        (20, 7)]
    floats = funding_payments(hist, "BTCUSDT", lo, hi, [(t, q) for t, q in changes], exchange="bybit",
                              numeric="float").to_pandas()
    assert floats["cumulative_payment"].tolist() == [float(r["cumulative_payment"]) for r in expected]
    assert floats["funding_rate"].dtype == "float64"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"position": "1"}, "BTCUSDT has funding events on 2 exchanges (binance-futures, bybit): give exchange="),
    ({"position": "1e3", "exchange": "bybit"}, "invalid position '1e3'"),
    ({"position": "0.0000000000001", "exchange": "bybit"}, "out of range"),
    ({"position": True, "exchange": "bybit"}, "invalid position True"),
    ({"position": [("2024-01-02", 1), ("2024-01-01", 2)], "exchange": "bybit"}, "increasing time order"),
    ({"position": "1", "exchange": "bybit", "tolerance": None}, "needs a tolerance"),
])
def test_funding_bad_arguments(hist, kwargs, message):
    with pytest.raises(ResearchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        funding_payments(hist, "BTCUSDT", DAY1, DAY2, **kwargs)


# ---------------------------------------------------------------------------------------------
# Command line


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **lakes.lake_at(home).env()}
    return subprocess.run([sys.executable, "-m", "ingest.research", *args, "--no-cold"], capture_output=True,
                          text=True, cwd=REPO, timeout=300, env=env)


def test_cli_funding_and_asof_print_shortest_decimals(home, hist):
    out = run_cli(home, "funding", "BTCUSDT", "--exchange", "bybit", "--start", "2024-01-02T07:00",
                  "--end", "2024-01-02T13:00", "--position", "-0.5", "--csv")
    assert out.returncode == 0, out.stderr
    expected = reference_funding(hist, "bybit", at(DAY2, 7), at(DAY2, 13), [(at(DAY2, 7), Decimal("-0.5"))],
                                 dt.timedelta(hours=8))
    lines = out.stdout.splitlines()
    assert lines[0] == ("exchange,symbol,funding_ts,funding_rate,rate_ts,mark_price,mark_ts,position,payment,"
                        "cumulative_payment")
    assert len(lines) == 1 + len(expected) == 3
    for line, row in zip(lines[1:], expected, strict=True):
        fields = line.split(",")
        assert fields[3] == format(row["funding_rate"].normalize(), "f")
        assert Decimal(fields[8]) == row["payment"] and not fields[8].endswith("0")
        assert fields[7] == "-0.5"
    assert out.stderr.strip().endswith("2 rows")
    out = run_cli(home, "asof", "BTCUSDT", "--right", "ticker", "--exchange", "bybit", "--tolerance", "1m",
                  "--start", "2024-01-02T05:59", "--end", "2024-01-02T06:00:01", "--csv")
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.endswith("ticker_ts,ticker_local_ts,mark_price,index_price,last_price,open_interest,funding_rate,"
                           "funding_ts,predicted_funding_rate")
    assert rows[-1].split(",")[4].startswith("edge") and rows[-1].split(",")[14] == "100.5"  # the edge trade


@pytest.mark.parametrize(("args", "message"), [
    (["asof", "BTCUSDT", "--right", "orders", "--start", "2024-01-01", "--end", "2024-01-02"],
     "argument --right: invalid choice: 'orders'"),
    (["asof", "BTCUSDT", "--right", "ticker", "--levels", "2", "--start", "2024-01-01", "--end", "2024-01-02"],
     "levels are the book's: right='ticker' has none"),
    (["funding", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--position", "abc"],
     "argument --position: invalid position 'abc'"),
    (["funding", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02"],
     "the following arguments are required: --position"),
    (["funding", "BTCUSDT", "ETHUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--position", "1"],
     "unrecognized arguments: ETHUSDT"),
    (["funding", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--position", "1"],
     "BTCUSDT has funding events on 2 exchanges"),
])
def test_cli_bad_arguments_are_one_line_and_exit_2(home, args, message):
    out = run_cli(home, *args)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert out.stdout == ""


def test_cli_negative_position_parses(home):
    out = run_cli(home, "funding", "BTCUSDT", "--exchange", "bybit", "--start", "2024-01-01T08:00", "--end",
                  "2024-01-01T08:00:01", "--position", "-3")
    assert out.returncode == 0, out.stderr
    assert "-3" in out.stdout and out.stderr.strip().endswith("1 rows")



# ---------------------------------------------------------------------------------------------
# The example of docs/history.md, exactly

T0 = 1704153600000000  # 2024-01-02 00:00 UTC, microseconds
H = 3600 * 1_000_000
DOC_TICKER = [
    TICKER,
    f"binance-futures,BTCUSDT,{T0 + 8 * H - 1_000_000},{T0 + 8 * H - 999_000},{T0 + 8 * H},0.00010000,0.00009,"
    "81234.567,42000.1,41990.5,42001.25",
    f"binance-futures,BTCUSDT,{T0 + 8 * H + 500_000},{T0 + 8 * H + 501_000},{T0 + 16 * H},"
    "0.00004405208333333333,,,,,42010",
    f"binance-futures,BTCUSDT,{T0 + 9 * H},{T0 + 9 * H + 1000},,,,81300,,,",
    f"binance-futures,BTCUSDT,{T0 + 12 * H - 2_000_000},{T0 + 12 * H - 1_999_000},,,,,,42090,42100.5",
    f"binance-futures,BTCUSDT,{T0 + 12 * H - 1_000_000},{T0 + 12 * H - 999_000},{T0 + 12 * H},-0.000025,,,,,",
    f"binance-futures,BTCUSDT,{T0 + 16 * H - 1_000_000},{T0 + 16 * H - 999_000},{T0 + 16 * H},0.0001,,,,,42200",
]
DOC_QUOTES = [
    QUOTES,
    f"binance-futures,BTCUSDT,{T0 + 8 * H},{T0 + 8 * H + 900},1.5,42000.1,42000,2.25",
    f"binance-futures,BTCUSDT,{T0 + 12 * H},{T0 + 12 * H + 900},0.25,42100.2,42100.1,3",
]
DOC_TRADES = [
    TRADES,
    f"binance-futures,BTCUSDT,{T0 + 8 * H + 200_000},{T0 + 8 * H + 400_000},501,buy,42000.1,0.5",
    f"binance-futures,BTCUSDT,{T0 + 12 * H + 1_000_000},{T0 + 12 * H + 1_200_000},502,sell,42100.1,0.002",
]
DOC_FUNDING = [  # --csv: every number its shortest exact decimal
    "exchange,symbol,funding_ts,funding_rate,rate_ts,mark_price,mark_ts,position,payment,cumulative_payment",
    "binance-futures,BTCUSDT,2024-01-02 08:00:00.000000,0.0001,2024-01-02 07:59:59.000000,42001.25,"
    "2024-01-02 07:59:59.000000,0.5,-2.1000625,-2.1000625",
    "binance-futures,BTCUSDT,2024-01-02 12:00:00.000000,-0.000025,2024-01-02 11:59:59.000000,42100.5,"
    "2024-01-02 11:59:58.000000,0.5,0.52625625,-1.57380625",
    "binance-futures,BTCUSDT,2024-01-02 16:00:00.000000,0.0001,2024-01-02 15:59:59.000000,42200,"
    "2024-01-02 15:59:59.000000,0.5,-2.11,-3.68380625",
]


@pytest.fixture(scope="module")
def doc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("doc")
    for data_type, lines in (("trades", DOC_TRADES), ("quotes", DOC_QUOTES), ("derivative_ticker", DOC_TICKER)):
        write_gz(home / "landing" / landing_file_name("binance-futures", data_type, DAY2, "BTCUSDT"), lines)
    with lakes.connect(home) as con:
        for data_type in ("trades", "quotes", "derivative_ticker"):
            assert load_day(con, home / "landing", DAY2, data_type).rows_loaded == len(
                {"trades": DOC_TRADES, "quotes": DOC_QUOTES, "derivative_ticker": DOC_TICKER}[data_type]) - 1
    return home


def test_the_documented_example(doc_home):
    """The rows and outputs docs/history.md shows: the funding series exact to the digit, and the
    commands' table text as printed there."""
    out = run_cli(doc_home, "funding", "BTCUSDT", "--start", "2024-01-02", "--end", "2024-01-03", "--position", "0.5",
                  "--csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == DOC_FUNDING
    text = (REPO / "docs" / "history.md").read_text()
    for line in DOC_TICKER[1:] + DOC_QUOTES[1:] + DOC_TRADES[1:]:
        assert line in text
    for args in (["funding", "--position", "0.5"], ["asof", "--right", "quotes"], ["asof", "--right", "ticker"],
                 ["funding", "--position", "-2", "--start", "2024-01-02T10:00"]):
        out = run_cli(doc_home, *args[:1], "BTCUSDT", "--start", "2024-01-02", "--end", "2024-01-03", *args[1:])
        assert out.returncode == 0, out.stderr
        assert out.stdout.rstrip("\n") in text, out.stdout
