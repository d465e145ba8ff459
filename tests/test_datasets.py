"""The three derivatives datasets (quotes, derivative ticker, liquidations) through the loader, their raw
suites and the history API, on rows in the vendors' own layouts (Tardis headers, empty fields included)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.datasets import DATASETS, dataset
from ingest.history import HistoricalData
from ingest.landing import landing_file_name
from ingest.loader import load_day
from ingest.quality import validate
from ingest.warehouse import PARTITIONING, RAW_DDL
from tests import lakes
from tests.conftest import write_gz

DAY = dt.date(2024, 1, 2)
T0 = 1704153600000000  # 2024-01-02 00:00:00 UTC in microseconds
QUOTES = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
TICKER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
          "open_interest,last_price,index_price,mark_price")
LIQUIDATIONS = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
FUNDING_AT = T0 + 8 * 3600 * 1_000_000  # 08:00 UTC


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with lakes.connect(tmp_path) as c:
        yield c


def land(tmp_path: Path, data_type: str, exchange: str, lines: list[str]) -> Path:
    root = tmp_path / "landing"
    write_gz(root / landing_file_name(exchange, data_type, DAY, "BTCUSDT"), lines)
    return root


def quarantined(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return con.execute("SELECT source_line, rule, raw_line FROM raw.quarantine WHERE dataset = ? ORDER BY 1",
                       [name]).fetchall()


def failed_rules(result) -> dict[str, str]:
    return {o.rule: o.severity for o in result.outcomes if not o.success}


def test_every_declared_dataset_has_its_table_partitioning_and_suite() -> None:
    names = [d.name for d in DATASETS]
    assert names == ["trades", "book_snapshots", "quotes", "derivative_ticker", "liquidations"]
    for d in DATASETS:
        assert d.ddl in RAW_DDL and PARTITIONING[d.table] == d.date_column
        assert (Path(__file__).parents[1] / "expectations" / f"{d.asset}.json").exists()
    assert dataset("raw_quotes") is dataset("quotes")
    with pytest.raises(KeyError, match="unknown dataset 'funding'"):
        dataset("funding")


def test_quotes_load_exactly_and_crossed_ones_are_quarantined_with_their_count(con, tmp_path) -> None:
    root = land(tmp_path, "quotes", "binance-futures", [
        QUOTES,
        f"binance-futures,BTCUSDT,{T0},{T0 + 900},1.5,42000.1,42000,2.25",            # 2 ok
        f"binance-futures,BTCUSDT,{T0 + 1000},{T0 + 1900},0.5,42000,42000.5,1",       # 3 crossed
        f"binance-futures,BTCUSDT,{T0 + 2000},{T0 + 2900},,42000,41999.9,1",          # 4 one side empty
        f"binance-futures,BTCUSDT,{T0 + 3000},{T0 + 3900},1e3,42000,41999.9,1",       # 5 exponent
        f"binance-futures,BTCUSDT,{T0 + 4000},{T0 + 4900},3,42000,42000,0.000000000001",  # 6 locked: loads
        f"binance-futures,BTCUSDT,{T0 + 5000},{T0 + 5900},3,0.0000000000001,0.00000000000005,1",  # 7 13 decimals
        f"binance-futures,BTCUSDT,{T0 - 1},{T0},3,42000,41999,1",                     # 8 previous day
    ])
    report = load_day(con, root, DAY, "quotes")
    assert report.rows_loaded == 2
    assert report.quarantine_by_rule == {"crossed_quote": 1, "missing_field": 1, "precision_loss": 1,
                                         "unparseable_value": 1, "wrong_day": 1}
    stored = con.execute("SELECT bid_price, bid_amount, ask_price, ask_amount FROM raw.quotes ORDER BY ts")
    assert stored.fetchall() == [
        (Decimal("42000"), Decimal("2.25"), Decimal("42000.1"), Decimal("1.5")),
        (Decimal("42000"), Decimal("0.000000000001"), Decimal("42000"), Decimal("3")),
    ]
    rules = {line: rule for line, rule, _ in quarantined(con, "quotes")}
    assert rules == {3: "crossed_quote", 4: "missing_field", 5: "unparseable_value", 7: "precision_loss",
                     8: "wrong_day"}
    assert "1e3" in quarantined(con, "quotes")[2][2]  # the original text, not a parse of it
    result = validate(con, "raw_quotes", DAY)
    # the crossed quote is reported with its count; 5 of 7 rows rejected is a broken delivery
    shown = next(o for o in result.outcomes if o.rule == "no_quarantined_rows")
    assert {"rows": 1, "rule": "crossed_quote"}.items() <= shown.examples[0].items()
    assert failed_rules(result) == {"no_quarantined_rows": "warn", "quarantine_share": "error"}


def test_the_ticker_keeps_20_decimal_funding_rates_and_empty_fields(con, tmp_path) -> None:
    rate = "0.00004405208333333333"
    root = land(tmp_path, "derivative_ticker", "binance-futures", [
        TICKER,
        f"binance-futures,BTCUSDT,{T0},{T0 + 5},{FUNDING_AT},{rate},0.0001,12345.678,42000.1,41990.5,42001.25",  # 2
        f"binance-futures,BTCUSDT,{T0 + 60_000_000},{T0 + 60_000_005},,,,,,,42000",   # 3 mark only: loads
        f"binance-futures,BTCUSDT,{T0 + 120_000_000},{T0 + 120_000_005},,,,,,,",      # 4 nothing: missing_field
        f"binance-futures,BTCUSDT,{T0 + 180_000_000},{T0 + 180_000_005},,,,-5,,,",    # 5 negative OI
        f"binance-futures,BTCUSDT,{T0 + 240_000_000},{T0 + 240_000_005},{FUNDING_AT},"
        "0.0000440520833333333333331,,,,,",                                              # 6 25 decimals
        f"binance-futures,BTCUSDT,{T0 + 300_000_000},{T0 + 300_000_005},,0.0001,,,,,",  # 7 rate without time
        f"binance-futures,BTCUSDT,{T0 + 360_000_000},{T0 + 360_000_005},{FUNDING_AT},10000,,,,,",  # 8 rate >= 1e4
        f"binance-futures,BTCUSDT,{T0 + 420_000_000},{T0 + 420_000_005},,,,,,0,",    # 9 zero index
    ])
    report = load_day(con, root, DAY, "derivative_ticker")
    assert report.rows_loaded == 2
    assert report.quarantine_by_rule == {"funding_rate_without_time": 1, "missing_field": 1,
                                         "negative_open_interest": 1, "non_positive_price": 1,
                                         "out_of_range": 1, "precision_loss": 1}
    rows = con.execute("SELECT funding_ts, funding_rate, predicted_funding_rate, open_interest, last_price, "
                       "index_price, mark_price FROM raw.derivative_ticker ORDER BY ts").fetchall()
    assert rows == [
        (dt.datetime(2024, 1, 2, 8), Decimal(rate), Decimal("0.0001"), Decimal("12345.678"), Decimal("42000.1"),
         Decimal("41990.5"), Decimal("42001.25")),
        (None, None, None, None, None, None, Decimal("42000")),
    ]
    reasons = dict(con.execute("SELECT rule, reason FROM raw.quarantine WHERE dataset = 'derivative_ticker'")
                   .fetchall())
    assert reasons["precision_loss"].startswith("a funding rate has more than 24 decimals")


def test_ticker_suite_blocks_a_rate_beyond_the_cap_and_an_off_schedule_funding_time(con, tmp_path) -> None:
    off_hour = FUNDING_AT + 30 * 60 * 1_000_000
    root = land(tmp_path, "derivative_ticker", "bybit", [
        TICKER,
        *(f"bybit,BTCUSDT,{T0 + i * 1_000_000},{T0 + i * 1_000_000},{FUNDING_AT},0.0001,,1,,100,100.01"
          for i in range(200)),
        f"bybit,BTCUSDT,{T0 + 900_000_000},{T0 + 900_000_000},{off_hour},0.0001,,1,,100,100",
        f"bybit,BTCUSDT,{T0 + 901_000_000},{T0 + 901_000_000},{FUNDING_AT},0.5,,1,,100,100",
        f"bybit,BTCUSDT,{T0 + 902_000_000},{T0 + 902_000_000},,,,,,100,110",
    ])
    assert load_day(con, root, DAY, "derivative_ticker").rows_loaded == 203
    result = validate(con, "raw_derivative_ticker", DAY)
    assert failed_rules(result) == {"funding_time_on_the_hour": "error", "funding_rate_within_cap": "error",
                                    "mark_near_index": "warn"}
    basis = next(o for o in result.outcomes if o.rule == "mark_near_index")
    assert basis.unexpected_count == 1 and basis.examples[0]["exchange"] == "bybit"


def test_liquidations_with_and_without_ids(con, tmp_path) -> None:
    root = land(tmp_path, "liquidations", "bitmex", [
        LIQUIDATIONS,
        f"bitmex,BTCUSDT,{T0},{T0 + 7},a-1,buy,42000.5,100",          # 2
        f"bitmex,BTCUSDT,{T0 + 1},{T0 + 8},a-1,buy,42000.5,100",      # 3 same id
        f"bitmex,BTCUSDT,{T0 + 2},{T0 + 9},,sell,42000.5,0.001",      # 4 no id
        f"bitmex,BTCUSDT,{T0 + 2},{T0 + 9},,sell,42000.5,0.001",      # 5 the same line again
        f"bitmex,BTCUSDT,{T0 + 3},{T0 + 10},,sell,42000.5,0.002",     # 6 no id, another liquidation
        f"bitmex,BTCUSDT,{T0 + 4},{T0 + 11},b-1,long,42000.5,1",      # 7 not a side
        f"bitmex,BTCUSDT,{T0 + 5},{T0 + 12},b-2,SELL,0.123456789,1.000000001",  # 8 both past 8 decimals: exact
    ])
    report = load_day(con, root, DAY, "liquidations")
    assert report.rows_loaded == 4
    assert report.quarantine_by_rule == {"duplicate_id": 2, "invalid_side": 1}
    assert [(r[0], r[1]) for r in quarantined(con, "liquidations")] == [(3, "duplicate_id"), (5, "duplicate_id"),
                                                                          (7, "invalid_side")]
    assert con.execute("SELECT reason FROM raw.quarantine WHERE source_line = 3").fetchone()[0] == (
        f"liquidation already seen at {landing_file_name('bitmex', 'liquidations', DAY, 'BTCUSDT')}:2")
    assert con.execute("SELECT liquidation_id, side, price * amount FROM raw.liquidations ORDER BY ts").fetchall() == [
        ("a-1", "buy", Decimal("4200050")), (None, "sell", Decimal("42.0005")), (None, "sell", Decimal("84.001")),
        ("b-2", "sell", Decimal("0.123456789123456789")),
    ]
    assert failed_rules(validate(con, "raw_liquidations", DAY)) == {"no_quarantined_rows": "warn",
                                                                     "quarantine_share": "error"}


def test_a_day_without_the_optional_files_is_empty_and_a_reload_replaces_it(con, tmp_path) -> None:
    root = land(tmp_path, "liquidations", "bitmex", [LIQUIDATIONS, f"bitmex,BTCUSDT,{T0},{T0},x,buy,1,1"])
    assert load_day(con, root, DAY, "liquidations").rows_loaded == 1
    assert load_day(con, root, DAY, "liquidations").rows_replaced == 1  # idempotent: replaced, not doubled
    assert con.execute("SELECT count(*) FROM raw.liquidations").fetchone()[0] == 1
    for path in root.iterdir():
        path.unlink()
    for name in ("quotes", "derivative_ticker", "liquidations"):
        report = load_day(con, root, DAY, name)
        assert (report.files, report.rows_loaded) == ([], 0)
    assert con.execute("SELECT count(*) FROM raw.liquidations").fetchone()[0] == 0
    result = validate(con, "raw_quotes", DAY)
    assert failed_rules(result) == {"not_empty": "warn"}  # shown, never blocking


def test_history_reads_the_new_datasets_exactly(tmp_path) -> None:
    rate = "0.00004405208333333333"
    land(tmp_path, "quotes", "binance-futures", [QUOTES, f"binance-futures,BTCUSDT,{T0},{T0},1.5,42000.1,42000,2.25"])
    root = land(tmp_path, "derivative_ticker", "binance-futures", [
        TICKER, f"binance-futures,BTCUSDT,{T0},{T0},{FUNDING_AT},{rate},,12,,41990.5,42001.25"])
    with lakes.connect(tmp_path) as c:
        load_day(c, root, DAY, "quotes")
        load_day(c, root, DAY, "derivative_ticker")
    hist = HistoricalData(lakes.lake_at(tmp_path), None)
    quotes = hist.get_quotes("BTCUSDT", DAY, DAY + dt.timedelta(days=1)).to_pylist()
    assert [(q["bid_price"], q["ask_price"]) for q in quotes] == [(Decimal("42000"), Decimal("42000.1"))]
    ticker = hist.get_derivative_ticker("BTCUSDT", DAY, DAY + dt.timedelta(days=1), as_pandas=True)
    assert ticker["funding_rate"].tolist() == [Decimal(rate)]
    assert (ticker["mark_price"] / ticker["index_price"] - 1).iloc[0] > 0  # exact arithmetic works
    floats = hist.get_derivative_ticker("BTCUSDT", DAY, DAY + dt.timedelta(days=1), numeric="float")
    assert floats.column("funding_rate").to_pylist() == [float(rate)]
    assert hist.get_liquidations("BTCUSDT", DAY, DAY + dt.timedelta(days=1)).num_rows == 0
