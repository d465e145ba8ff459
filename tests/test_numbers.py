"""Numbers exact on every path and printed as a trader writes them (ingest/numbers.py, issue 27).

A small lake loaded by the real loader from landing files written here: trades at the numeric
contract's limits (smallest increments, largest values, 20-decimal notionals) and the values the
issue quoted (9682, 150000000000, 345808.16502, 0.00000065774, a 1.2e-6 VWAP, a zero volume).
Research bars are checked against Python `decimal`; the command lines' printed text is checked
through `tickwh.cli.main`, the real entry point.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import pyarrow as pa
import pytest

from ingest import numbers
from ingest.history import HistoricalData
from ingest.landing import snapshots_file_name, snapshots_header, trades_file_name, trades_header
from ingest.loader import load_book_snapshots, load_trades
from ingest.research import get_bars, info_bars
from tests import lakes
from tests.conftest import write_gz
from tickwh.cli import main as tickwh

DAY = dt.date(2024, 1, 1)
EXCHANGE = "simex"
T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000

# (symbol, seconds after midnight, id, side, price, amount)
TRADES = [
    # the values the issue quoted
    ("BIGUSDT", 1, 1, "buy", "9682", "35"),
    ("BIGUSDT", 2, 2, "sell", "0.5", "13876.33004"),  # 30 s bar: quote volume 345808.16502
    ("TINYUSDT", 1, 1, "buy", "0.00000065774", "150000000000"),
    ("TINYUSDT", 65, 2, "sell", "0.0000012", "1000"),  # its bar's VWAP: 0.0000012; 00:00:30 is empty
    # the numeric contract's limits, in one bar
    ("LIMUSDT", 1, 1, "buy", "0.000000000001", "1"),  # the smallest price
    ("LIMUSDT", 2, 2, "sell", "9999999999.5", "9999.25"),  # a notional just below 1e14
    ("LIMUSDT", 3, 3, "buy", "0.00000001", "9999999999999999.999999999999"),  # the largest amount
    ("LIMUSDT", 4, 4, "sell", "1.5", "0.000000000001"),  # the smallest amount
    ("LIMUSDT", 5, 5, "buy", "0.000000987", "2000"),  # the trade: quote 0.001974, not 0.00198
    ("LIMUSDT", 6, 6, "unknown", "99999.123456789012", "999.12345678"),  # a notional with 20 decimals
    ("LIMUSDT", 7, 7, "buy", "9999999999.999999999999", "0.00000001"),  # the largest price
    ("LIMUSDT", 8, 8, "sell", "0.000000987654", "2000.12345678"),
]
# (symbol, seconds, best bid, best ask): 5 levels a tick apart
BOOKS = [("TINYUSDT", 0, "0.00000065773", "0.00000065775", "0.00000000001"),
         ("BIGUSDT", 0, "9681.5", "9682.5", "0.5")]


def _landing(root: Path) -> None:
    lines = [trades_header()]
    for symbol, sec, tid, side, price, amount in TRADES:
        us = T0 + sec * 1_000_000
        lines.append(f"{EXCHANGE},{symbol},{us},{us + 1000},{tid},{side},{price},{amount}")
    write_gz(root / trades_file_name(EXCHANGE, DAY), lines)
    book = [snapshots_header(5)]
    for symbol, sec, bid, ask, tick in BOOKS:
        us = T0 + sec * 1_000_000
        levels = []
        for i in range(5):
            step = Decimal(tick) * i
            levels += [str(Decimal(ask) + step), "1000", str(Decimal(bid) - step), "2000.5"]
        book.append(f"{EXCHANGE},{symbol},{us},{us + 1000}," + ",".join(levels))
    write_gz(root / snapshots_file_name(EXCHANGE, DAY, 5), book)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("numbers")
    _landing(home / "landing")
    with lakes.connect(home) as con:
        assert load_trades(con, home / "landing", DAY).rows_loaded == len(TRADES)
        assert load_book_snapshots(con, home / "landing", DAY).rows_loaded == len(BOOKS)
    return home


@pytest.fixture(scope="module")
def hist(home: Path) -> HistoricalData:
    return HistoricalData(lakes.lake_at(home))


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`tickwh ...` in this process against the small lake; returns (exit code, stdout, stderr)."""
    for key, value in lakes.lake_at(home).env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TICKWH_HOME", str(home))

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = tickwh([*args, "--no-cold"] if "--help" not in args else list(args))
        except SystemExit as exc:  # argparse's own exits (--help)
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# ---------------------------------------------------------------------------------------------
# 1. Research bars are exact at the contract's limits


def _exact_bar(rows: list[tuple]) -> dict:
    with localcontext(prec=100, rounding=ROUND_HALF_EVEN):
        volume = sum((Decimal(r[5]) for r in rows), Decimal(0))
        quote = sum((Decimal(r[4]) * Decimal(r[5]) for r in rows), Decimal(0))
        return {
            "volume": volume, "quote_volume": quote, "trade_count": len(rows),
            "vwap": (quote / volume).quantize(Decimal("1e-24")),
            "buy_volume": sum((Decimal(r[5]) for r in rows if r[3] == "buy"), Decimal(0)),
            "sell_volume": sum((Decimal(r[5]) for r in rows if r[3] == "sell"), Decimal(0)),
            "open": Decimal(rows[0][4]), "close": Decimal(rows[-1][4]),
            "high": max(Decimal(r[4]) for r in rows), "low": min(Decimal(r[4]) for r in rows),
        }


@pytest.mark.parametrize("interval", ["30s", "1m", "1h"])
def test_research_bars_are_exact_at_the_contracts_limits(hist, interval):
    want = _exact_bar([r for r in TRADES if r[0] == "LIMUSDT"])
    assert want["quote_volume"] == Decimal("99992699906570.28206645056364349546")  # 20 decimals, near 1e14
    bars = get_bars(hist, "LIMUSDT", interval, DAY, DAY + dt.timedelta(days=1), source="trades").to_arrow()
    assert bars.num_rows == 1
    got = bars.to_pylist()[0]
    assert {k: got[k] for k in want} == want
    # the example alone: 2000 at 0.000000987 is 0.001974 of quote volume, not 0.00198
    one = get_bars(hist, "LIMUSDT", "1s", dt.datetime(2024, 1, 1, 0, 0, 5), dt.datetime(2024, 1, 1, 0, 0, 6))
    row = one.to_arrow().to_pylist()[0]
    assert (row["quote_volume"], row["vwap"]) == (Decimal("0.001974"), Decimal("0.000000987"))
    # the information bars agree on the same trades
    info = info_bars(hist, "LIMUSDT", "tick", 100, DAY, DAY + dt.timedelta(days=1)).to_arrow().to_pylist()[0]
    assert {k: info[k] for k in want} == want


def test_float_mode_is_the_nearest_double_of_the_exact_answer(hist):
    tiny = hist.get_trades("TINYUSDT", DAY, DAY + dt.timedelta(days=1), numeric="float").column("price").to_pylist()
    assert tiny == [6.5774e-07, 1.2e-06]
    edge = numbers.conform(pa.record_batch({"high": pa.array([Decimal("0.000000723949")], numbers.PRICE_TYPE)}),
                           "float")
    assert edge.column(0).to_pylist() == [7.23949e-07]  # Arrow's own cast gives 7.239489999999999e-07
    want = _exact_bar([r for r in TRADES if r[0] == "LIMUSDT"])
    got = get_bars(hist, "LIMUSDT", "1m", DAY, DAY + dt.timedelta(days=1), source="trades",
                   numeric="float").to_arrow().to_pylist()[0]
    for key in ("volume", "quote_volume", "buy_volume", "open", "high", "low", "close", "vwap"):
        assert isinstance(got[key], float), key
        assert got[key] == float(want[key]), key  # the nearest double, not an ulp off


# ---------------------------------------------------------------------------------------------
# 2. One formatter


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("9682.000000000000"), "9682"),
    (Decimal("150000000000.000000000000"), "150000000000"),
    (Decimal("345808.16502000000000000000"), "345808.16502"),
    (Decimal("6.57740E-7"), "0.00000065774"),
    (Decimal("0E-8"), "0"),
    (Decimal("-0E-12"), "0"),
    (Decimal("-1.500000000000"), "-1.5"),
    (Decimal("9999999999.999999999999"), "9999999999.999999999999"),
    (Decimal("1E-24"), "0.000000000000000000000001"),
    (Decimal("1E+3"), "1000"),
    (1.2e-06, "0.0000012"),
    (0.1 + 0.2, "0.30000000000000004"),  # a float prints as the shortest text that reads back as it
    (1e16, "10000000000000000"),
    (-2.5e-07, "-0.00000025"),
    (0.0, "0"),
    (float("nan"), "nan"),
    (42, "42"),
    (None, ""),
])
def test_number_text(value, text):
    assert numbers.number_text(value) == text


def test_arrays_print_as_their_values_do():
    """The vectorised text of a decimal column is `number_text` of each value, at every scale."""
    values = [Decimal("9682"), Decimal("0.00000065774"), Decimal(0), Decimal("-1.5"), Decimal("150000000000"),
              None, Decimal("0.000000000001"), Decimal("-0.00000001"), Decimal("123.4560")]
    for scale in (12, 20, 24):
        arr = pa.array(values, pa.decimal128(38, scale))
        assert numbers.text_array(arr).to_pylist() == [None if v is None else numbers.number_text(v)
                                                       for v in values]
    lists = pa.array([[46164.1, 46164.0, 6.5773e-07], None], pa.list_(pa.float64()))
    assert numbers.text_array(lists).to_pylist() == ["[46164.1, 46164, 0.00000065773]", None]


# ---------------------------------------------------------------------------------------------
# 3. What the command lines print


def test_history_prints_shortest_exact_decimals(cli):
    code, out, err = cli("history", "trades", "TINYUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "trade_date,exchange,symbol,ts,local_ts,trade_id,trade_seq,side,price,amount,source_file"
    assert lines[1].split(",")[5:10] == ["1", "1", "buy", "0.00000065774", "150000000000"]
    assert lines[2].split(",")[8:10] == ["0.0000012", "1000"]
    code, out, err = cli("history", "trades", "BIGUSDT", "--start", "2024-01-01", "--end", "2024-01-02")
    assert code == 0, err
    table = [line.split() for line in out.splitlines()]
    assert table[1][-3:-1] == ["9682", "35"] and table[2][-3:-1] == ["0.5", "13876.33004"]
    assert "E-" not in out and "0000000 " not in out
    code, out, err = cli("history", "book", "TINYUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--csv")
    assert code == 0, err
    row = dict(zip(out.splitlines()[0].split(","), _csv_fields(out.splitlines()[1]), strict=True))
    assert (row["bid_price"], row["ask_price"], row["bid_amount"]) == ("0.00000065773", "0.00000065775", "2000.5")
    assert row["bid_prices"] == "[0.00000065773, 0.00000065772, 0.00000065771, 0.0000006577, 0.00000065769]"


def _csv_fields(line: str) -> list[str]:
    import csv

    return next(csv.reader([line]))


def test_research_bars_print_shortest_exact_decimals(cli):
    code, out, err = cli("research", "bars", "BIGUSDT", "TINYUSDT", "--interval", "30s", "--fill", "prev",
                         "--start", "2024-01-01", "--end", "2024-01-02", "--csv")
    assert code == 0, err
    lines = out.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, _csv_fields(line), strict=True)) for line in lines[1:]]
    big = [r for r in rows if r["symbol"] == "BIGUSDT"]
    assert [(r["open"], r["low"], r["volume"], r["quote_volume"], r["trade_count"]) for r in big] == [
        ("9682", "0.5", "13911.33004", "345808.16502", "2")]
    assert big[0]["vwap"] == "24.858023210266672675389995"  # 345808.16502 / 13911.33004 = ...3899945572..
    tiny = [(r["bucket_start"], r["close"], r["volume"], r["vwap"], r["is_filled"]) for r in rows
            if r["symbol"] == "TINYUSDT"]
    assert tiny == [("2024-01-01 00:00:00.000000", "0.00000065774", "150000000000", "0.00000065774", "false"),
                    ("2024-01-01 00:00:30.000000", "0.00000065774", "0", "", "true"),
                    ("2024-01-01 00:01:00.000000", "0.0000012", "1000", "0.0000012", "false")]
    # the table view prints the same texts (never 0.000001 for a VWAP of 0.0000012)
    for numeric in ("exact", "float"):
        code, out, err = cli("research", "bars", "TINYUSDT", "--interval", "30s", "--start", "2024-01-01T00:01",
                             "--end", "2024-01-01T00:02", "--numeric", numeric)
        assert code == 0, err
        line = out.splitlines()[1].split()  # pandas may elide middle columns to fit the width
        assert "1000" in line and line.count("0.0000012") >= 2, (numeric, out)
        assert not any("e-" in t.lower() or t == "0.000001" for t in line), (numeric, out)
        assert err.strip() == "1 rows"


def test_research_asof_prints_book_levels_as_decimals(cli):
    code, out, err = cli("research", "asof", "TINYUSDT", "--levels", "2", "--start", "2024-01-01",
                         "--end", "2024-01-02", "--csv")
    assert code == 0, err
    header = out.splitlines()[0].split(",")
    first = dict(zip(header, _csv_fields(out.splitlines()[1]), strict=True))
    assert (first["price"], first["amount"], first["bid_price"], first["ask_amount"]) == (
        "0.00000065774", "150000000000", "0.00000065773", "1000")
    assert first["bid_prices"] == "[0.00000065773, 0.00000065772]"


def test_tickwh_lists_and_runs_the_research_commands(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for name in ("asof", "bars", "funding", "infobars", "replay"):
        assert f"  research {name} " in out
    code, out, _ = cli("research", "--help")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("  research ")] == [
        ["research", "asof"], ["research", "bars"], ["research", "funding"], ["research", "infobars"],
        ["research", "replay"]]
    code, out, _ = cli("research", "bars", "--help")
    assert code == 0 and out.startswith("usage: tickwh research bars ") and "--numeric {exact,float}" in out
    code, out, err = cli("research", "infobars", "LIMUSDT", "--kind", "volume", "--threshold", "0.000000000001",
                         "--start", "2024-01-01", "--end", "2024-01-02", "--csv")
    assert code == 0, err
    assert len(out.splitlines()) == 1 + 8  # the smallest amount is a threshold: every trade closes a bar
    code, out, err = cli("research", "replay", "TINYUSDT", "--start", "2024-01-01", "--end", "2024-01-02", "--csv")
    assert code == 0, err
    kinds = [_csv_fields(line)[1] for line in out.splitlines()[1:]]
    assert kinds == ["book", "trade", "trade"]


def test_book_doubles_become_the_decimals_they_were_written_as():
    """Exact answers turn the book's DOUBLE levels into the shortest decimal that reads back as each
    double: the venue's text for every text of up to 15 significant digits (and 12 decimals)."""
    import random

    rng = random.Random(27)
    texts = ["46163.4", "0.000000000001", "0.00000065773", "9999999999.999", "123456789.123", "2000.5",
             "0.3", "1", "999999999999999", "1000000000000001"]
    for _ in range(2000):
        digits = rng.randint(1, 15)
        unscaled = rng.randint(1, 10**digits - 1)
        scale = rng.randint(max(0, digits - 16), min(12, digits + 11))
        texts.append(str(Decimal(unscaled).scaleb(-scale)))
    texts = [t for t in texts if Decimal(t) < 10**16]
    doubles = pa.array([float(t) for t in texts] + [None], pa.float64())
    got = numbers.conform(pa.record_batch({"bid_amount": doubles}), "exact").column(0).to_pylist()
    assert got[:-1] == [Decimal(t) for t in texts] and got[-1] is None
    # 16-17 significant digits: the shortest text that reads back as the double (Python's repr)
    odd = [1234.567890123456, 46163.40000000001, 46163.4]
    got = numbers.conform(pa.record_batch({"ask_price": pa.array(odd)}), "exact").column(0).to_pylist()
    assert got == [Decimal("1234.567890123456"), Decimal("46163.40000000001"), Decimal("46163.4")]
    for beyond in (0.1 + 0.2, 1.2345678901234e-9):  # more than 12 decimals: no exact answer, and it says so
        with pytest.raises(numbers.UserError, match="more than 12 decimals"):
            numbers.conform(pa.record_batch({"ask_price": pa.array([beyond])}), "exact")


def test_demo_summary_prints_shortest_exact_decimals(home):
    """`tickwh demo`'s summary over marts holding the issue's values (tables made here, read by the real
    summary function through the real lake)."""
    from tickwh.demo import summary

    with lakes.connect(home) as con:
        con.execute("""CREATE SCHEMA IF NOT EXISTS marts;
            CREATE OR REPLACE TABLE marts.daily_stats AS SELECT * FROM (VALUES
                (DATE '2024-01-01', 'simdex', 'BIGUSDT', CAST('9682' AS DECIMAL(22, 12)), 2::BIGINT,
                 0.0294312::DOUBLE, 0.0::DOUBLE, 3::BIGINT, CAST('0.00004405208333333333' AS DECIMAL(38, 24)),
                 CAST('150000000000' AS DECIMAL(38, 12)), 1::BIGINT, 0::BIGINT,
                 CAST('345808.16502' AS DECIMAL(38, 20)), CAST('0' AS DECIMAL(38, 20))),
                (DATE '2024-01-01', 'simdex', 'TINYUSDT', CAST('0.00000065774' AS DECIMAL(22, 12)), 1::BIGINT,
                 0.000001234::DOUBLE, 12.3456::DOUBLE, 0::BIGINT, NULL, NULL, 0::BIGINT, 0::BIGINT,
                 CAST('0' AS DECIMAL(38, 20)), CAST('0' AS DECIMAL(38, 20))))
              t(bar_date, exchange, symbol, close, trade_count, realized_vol, mean_spread_bps,
                funding_event_count, funding_rate_sum, open_interest_close, buy_liquidation_count,
                sell_liquidation_count, buy_liquidation_notional, sell_liquidation_notional);
            CREATE OR REPLACE TABLE marts.ohlcv_1d AS SELECT * FROM (VALUES
                (DATE '2024-01-01', 'simdex', 'BIGUSDT', CAST('9682' AS DECIMAL(22, 12)),
                 CAST('9682' AS DECIMAL(22, 12)), CAST('0.5' AS DECIMAL(22, 12)), CAST('0.5' AS DECIMAL(22, 12)),
                 CAST('150000000000' AS DECIMAL(38, 12)), CAST('345808.16502' AS DECIMAL(38, 20))),
                (DATE '2024-01-01', 'simdex', 'TINYUSDT', CAST('0.00000065774' AS DECIMAL(22, 12)),
                 CAST('0.0000012' AS DECIMAL(22, 12)), CAST('0.00000065774' AS DECIMAL(22, 12)),
                 CAST('0.0000012' AS DECIMAL(22, 12)), CAST('0' AS DECIMAL(38, 12)), CAST('0' AS DECIMAL(38, 20))))
              t(bar_date, exchange, symbol, open, high, low, close, volume, quote_volume)""")
    text, top = summary(lakes.lake_at(home))
    lines = text.splitlines()
    assert top == "BIGUSDT"
    i = next(n for n, line in enumerate(lines) if line.startswith("  daily_stats, 2 of 2 rows"))
    assert "rounded to 5 and 2 decimals" in lines[i]
    assert lines[i + 1:i + 3] == ["    2024-01-01  BIGUSDT  9682  2  0.02943  0",
                                  "    2024-01-01  TINYUSDT  0.00000065774  1  0  12.35"]
    # only perpetuals with funding that day, the funding sum at its full 20 decimals, never 4.405E-5
    j = next(n for n, line in enumerate(lines) if line.startswith("  derivatives, last day"))
    assert lines[j + 1:j + 3] == ["    2024-01-01  simdex  BIGUSDT  3  0.00004405208333333333  150000000000  1  0  "
                                  "345808.16502", ""]
    assert lines[-2:] == ["    BIGUSDT  9682  9682  0.5  0.5  150000000000  345808.16502",
                          "    TINYUSDT  0.00000065774  0.0000012  0.00000065774  0.0000012  0  0"]
