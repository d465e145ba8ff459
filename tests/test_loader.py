"""The raw loader on crafted bad input and on the real vendor files."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.landing import LandingFileError, snapshots_file_name, trades_file_name
from ingest.loader import NoLandingFilesError, load_book_snapshots, load_trades
from tests import lakes
from tests.conftest import REAL_DATA, TRADES_HEADER, write_gz

DAY = dt.date(2024, 1, 2)
T0 = 1704153600000000  # 2024-01-02 00:00:00 UTC in microseconds


def trade(i: int, price: str = "100.5", amount: str = "0.25", side: str = "buy", ts: int | None = None) -> str:
    return f"simex,BTCUSDT,{T0 + i * 1000 if ts is None else ts},{T0 + i * 1000 + 50},{i},{side},{price},{amount}"


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with lakes.connect(tmp_path) as c:
        yield c


def landing_with(tmp_path: Path, lines: list[str], day: dt.date = DAY) -> Path:
    root = tmp_path / "landing"
    write_gz(root / trades_file_name("simex", day), lines)
    return root


def quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT source_line, rule FROM raw.quarantine WHERE dataset = 'trades' ORDER BY source_line"
    ).fetchall()


def test_clean_file_loads_every_row(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER] + [trade(i) for i in range(1, 101)])
    report = load_trades(con, root, DAY)
    assert report.rows_loaded == 100
    assert report.rows_quarantined == 0
    assert not report.used_line_numbering
    row = con.execute("SELECT trade_date, ts, trade_id, trade_seq, side, price, amount FROM raw.trades "
                      "ORDER BY trade_seq LIMIT 1").fetchone()
    assert row == (DAY, dt.datetime(2024, 1, 2, 0, 0, 0, 1000), "1", 1, "buy",
                   Decimal("100.5"), Decimal("0.25"))


def test_each_bad_row_is_quarantined_with_rule_and_line(con, tmp_path):
    lines = [
        TRADES_HEADER,
        trade(1),                                   # 2 ok
        trade(2, price="abc"),                      # 3 unparseable
        "simex,BTCUSDT,1,2,3,buy",                  # 4 too few columns
        trade(4, price="NaN"),                      # 5 NaN
        trade(5) + ",extra",                        # 6 too many columns
        trade(6, price="-1"),                       # 7 negative price
        trade(7, price="0"),                        # 8 zero price
        trade(8, amount="0"),                       # 9 zero amount
        trade(9, ts=T0 - 1),                        # 10 previous day
        trade(10, ts=T0 + 86_400_000_000),          # 11 next day
        trade(1),                                   # 12 duplicate id 1
        trade(12, side="hold"),                     # 13 invalid side
        "simex,BTCUSDT,,1,13,buy,1,1",              # 14 missing timestamp
        f"simex,BTC USDT;DROP,{T0},1,14,buy,1,1",    # 15 invalid symbol
        trade(15, price="inf"),                     # 16 infinite
        trade(16),                                  # 17 ok
    ]
    root = landing_with(tmp_path, lines)
    report = load_trades(con, root, DAY)
    assert report.rows_loaded == 2
    assert quarantine(con) == [
        (3, "unparseable_value"),
        (4, "wrong_column_count"),
        (5, "non_finite_value"),
        (6, "wrong_column_count"),
        (7, "non_positive_price"),
        (8, "non_positive_price"),
        (9, "non_positive_amount"),
        (10, "wrong_day"),
        (11, "wrong_day"),
        (12, "duplicate_trade_id"),
        (13, "invalid_side"),
        (14, "missing_field"),
        (15, "invalid_name"),
        (16, "non_finite_value"),
    ]
    assert report.rows_loaded + report.rows_quarantined == len(lines) - 1
    reason = con.execute("SELECT reason FROM raw.quarantine WHERE rule = 'duplicate_trade_id'").fetchone()[0]
    assert reason == f"trade id 1 already seen at simex_trades_{DAY}_ALL.csv.gz:2"


def test_future_timestamp_is_quarantined(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER, trade(1), trade(2, ts=T0 + 3_600_000_000)])
    report = load_trades(con, root, DAY, now=dt.datetime(2024, 1, 2, 0, 30, tzinfo=dt.UTC))
    assert report.quarantine_by_rule == {"future_timestamp": 1}


def test_reload_replaces_day_without_duplicates_and_keeps_other_days(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER] + [trade(i) for i in range(1, 11)])
    other = dt.date(2024, 1, 3)
    write_gz(root / trades_file_name("simex", other),
             [TRADES_HEADER] + [trade(i, ts=T0 + 86_400_000_000 + i) for i in range(1, 6)])
    load_trades(con, root, DAY)
    load_trades(con, root, other)
    again = load_trades(con, root, DAY)
    assert again.rows_replaced == 10
    counts = dict(con.execute("SELECT trade_date, count(*) FROM raw.trades GROUP BY 1").fetchall())
    assert counts == {DAY: 10, other: 5}


def test_truncated_gzip_fails_and_leaves_previous_state(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER] + [trade(i) for i in range(1, 20001)])
    load_trades(con, root, DAY)
    path = root / trades_file_name("simex", DAY)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LandingFileError, match="truncated gzip"):
        load_trades(con, root, DAY)
    assert con.execute("SELECT count(*) FROM raw.trades").fetchone()[0] == 20000


def test_missing_file_is_a_clear_error(con, tmp_path):
    with pytest.raises(NoLandingFilesError, match=f"no trades files for {DAY}"):
        load_trades(con, tmp_path / "landing", DAY)


def test_zero_byte_file_is_a_clear_error(con, tmp_path):
    root = tmp_path / "landing"
    root.mkdir()
    (root / trades_file_name("simex", DAY)).write_bytes(b"")
    with pytest.raises(LandingFileError, match="empty"):
        load_trades(con, root, DAY)


def test_header_only_file_is_an_empty_day(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER])
    report = load_trades(con, root, DAY)
    assert (report.rows_loaded, report.rows_quarantined) == (0, 0)


def test_extra_column_is_ignored_and_reported(con, tmp_path):
    root = landing_with(tmp_path, [TRADES_HEADER + ",venue_flag", trade(1) + ",X", trade(2) + ",Y"])
    report = load_trades(con, root, DAY)
    assert report.rows_loaded == 2
    assert report.extra_columns == {f"simex_trades_{DAY}_ALL.csv.gz": ["venue_flag"]}


def test_missing_column_fails_the_file(con, tmp_path):
    root = landing_with(tmp_path, ["exchange,symbol,timestamp,local_timestamp,id,side,price", "a,b,1,2,3,buy,1"])
    with pytest.raises(LandingFileError, match=r"missing required columns \['amount'\]"):
        load_trades(con, root, DAY)


def test_real_tardis_trades_file_loads_unchanged(con, tmp_path, real_trades_file):
    root = tmp_path / "landing"
    root.mkdir()
    shutil.copy(real_trades_file, root / real_trades_file.name)
    report = load_trades(con, root, dt.date(2020, 2, 22))
    assert report.rows_loaded == 9999
    assert report.rows_quarantined == 0
    lo, hi, n_ids = con.execute(
        "SELECT min(trade_seq), max(trade_seq), count(DISTINCT trade_id) FROM raw.trades"
    ).fetchone()
    assert (lo, hi, n_ids) == (42377944, 42387942, 9999)


def test_real_bitmex_uuid_ids_load(con, tmp_path):
    root = tmp_path / "landing"
    root.mkdir()
    shutil.copy(REAL_DATA / "bitmex_trades_XBTUSD.csv", root / "bitmex_trades_2020-03-01_XBTUSD.csv")
    report = load_trades(con, root, dt.date(2020, 3, 1))
    assert report.rows_loaded == 10
    assert con.execute("SELECT count(*) FROM raw.trades WHERE trade_seq IS NULL").fetchone()[0] == 10


@pytest.mark.parametrize("depth", [5, 25])
def test_real_book_snapshots_load(con, tmp_path, depth):
    root = tmp_path / "landing"
    root.mkdir()
    shutil.copy(REAL_DATA / f"binance-futures_book_snapshot_{depth}_BTCUSDT.csv",
                root / f"binance-futures_book_snapshot_{depth}_2020-09-01_BTCUSDT.csv")
    report = load_book_snapshots(con, root, dt.date(2020, 9, 1))
    assert (report.rows_loaded, report.rows_quarantined) == (10, 0)
    first = con.execute(
        "SELECT depth, bid_price, bid_amount, ask_price, ask_amount, len(bid_prices), bid_prices[2] "
        "FROM raw.book_snapshots ORDER BY ts LIMIT 1"
    ).fetchone()
    assert first == (depth, 11657.07, 10.896, 11657.08, 1.714, depth, 11656.97)


def test_bad_book_snapshot_rows(con, tmp_path):
    header = "exchange,symbol,timestamp,local_timestamp," + ",".join(
        f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount" for i in range(2))
    ok = f"simex,ETHUSDT,{T0},{T0 + 5},101,1,100,2,102,1,99,1"
    root = tmp_path / "landing"
    write_gz(root / snapshots_file_name("simex", DAY, 2), [
        header,
        ok,                                                        # 2
        f"simex,ETHUSDT,{T0},{T0 + 5},NaN,1,100,2,102,1,99,1",     # 3 NaN ask
        f"simex,ETHUSDT,{T0},{T0 + 5},101,1,-100,2,102,1,99,1",    # 4 negative bid
        f"simex,ETHUSDT,{T0},{T0 + 5},99,1,100,2,102,1,98,1",      # 5 crossed: kept, it is market data
        f"simex,ETHUSDT,{T0 - 10},{T0 + 5},101,1,100,2,102,1,99,1",  # 6 wrong day
        f"simex,ETHUSDT,{T0},{T0 + 5},101,1,100",                  # 7 short row
    ])
    report = load_book_snapshots(con, root, DAY)
    assert report.rows_loaded == 2
    assert con.execute(
        "SELECT source_line, rule FROM raw.quarantine WHERE dataset = 'book_snapshots' ORDER BY source_line"
    ).fetchall() == [(3, "non_finite_value"), (4, "non_positive_price"), (6, "wrong_day"), (7, "wrong_column_count")]
