"""Real vendor formats: Binance public data and Tardis, read, staged, loaded and checked against the exchange."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import secrets
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    build_run_status_sensor_context,
    materialize,
)

from ingest.cold.seaweed import SeaweedServer
from ingest.landing import snapshots_header
from ingest.loader import load_book_snapshots, load_trades
from ingest.settings import Settings
from ingest.vendors._lines import VendorFormatError
from ingest.vendors.binance import ChecksumError, read_klines, read_trades, sniff, verify_checksum
from ingest.vendors.reference import compare_with_reference, load_klines_reference
from ingest.vendors.source import (
    TARDIS_BOOK_TYPES,
    S3Store,
    VendorFileMissingError,
    VendorSource,
    find_klines_files,
    stage_vendor_day,
)
from ingest.vendors.tardis import snapshots_from_incremental_l2
from orchestration.definitions import build_defs
from orchestration.defs.marts.assets import dbt_daily_marts
from orchestration.defs.marts.project import dbt_resource
from orchestration.defs.raw.assets import raw_trades
from orchestration.defs.vendors.assets import binance_klines_reference, vendor_landing
from orchestration.defs.vendors.checks import CHECK_NAME, ohlcv_1m_matches_exchange_klines
from orchestration.defs.vendors.resources import (
    VendorSourceResource,
    binance_reference_from_settings,
    vendor_source_from_settings,
)
from orchestration.defs.vendors.sensors import daily_pipeline_after_vendor_landing
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes
from tests.conftest import REAL_DATA, REAL_TRADES

DAY = dt.date(2024, 1, 1)
DAY_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY_2025_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def write_zip(folder: Path, name: str, text: str, *, checksum: str | None = "ok") -> Path:
    """A data.binance.vision-style zip (one CSV inside) with its `.CHECKSUM` (`ok`, `bad` or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name.replace(".zip", ".csv"), text)
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if checksum == "bad":
            digest = ("0" if digest[0] != "0" else "1") + digest[1:]
        (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")
    return path


def trades_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT exchange, symbol, ts, local_ts, trade_id, side, price, amount FROM raw.trades ORDER BY ts, trade_id"
    ).fetchall()


# --------------------------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------------------------


def test_real_tardis_files_load_every_row(tmp_path):
    """Every row of the real Tardis samples parses through the existing loader, nothing quarantined."""
    landing = tmp_path / "landing"
    landing.mkdir()
    # Dated names as tardis_dev.datasets.download writes them (the samples carry no date in their names).
    shutil.copy(REAL_TRADES, landing / REAL_TRADES.name)
    shutil.copy(REAL_DATA / "bitmex_trades_XBTUSD.csv", landing / "bitmex_trades_2020-03-01_XBTUSD.csv")
    for depth in (5, 25):
        shutil.copy(REAL_DATA / f"binance-futures_book_snapshot_{depth}_BTCUSDT.csv",
                    landing / f"binance-futures_book_snapshot_{depth}_2020-09-01_BTCUSDT.csv")
    with duckdb.connect() as con:
        futures = load_trades(con, landing, dt.date(2020, 2, 22))
        bitmex = load_trades(con, landing, dt.date(2020, 3, 1))
        books = load_book_snapshots(con, landing, dt.date(2020, 9, 1))
        depths = con.execute("SELECT depth, count(*) FROM raw.book_snapshots GROUP BY 1 ORDER BY 1").fetchall()
    assert (futures.rows_loaded, futures.rows_quarantined) == (9999, 0)
    assert (bitmex.rows_loaded, bitmex.rows_quarantined) == (10, 0)
    assert (books.rows_loaded, books.rows_quarantined) == (20, 0)
    assert depths == [(5, 10), (25, 10)]


@pytest.mark.parametrize(("name", "rows"), [("ADABTC-1m-2021-11-27.csv", 10), ("ADABTC-1m-2021-11-28.csv", 11)])
def test_real_binance_klines_parse_and_hold_invariants(name, rows):
    path = REAL_DATA / name
    assert verify_checksum(path, "require")  # via the folder's SHA256SUMS
    shape = sniff(path, "klines", "spot")
    assert (shape.has_header, shape.time_unit, shape.n_columns) == (False, "ms", 12)
    table = read_klines(path, "spot")
    assert table.num_rows == rows
    for k in table.to_pylist():
        assert k["low"] <= k["open"] <= k["high"] and k["low"] <= k["close"] <= k["high"]
        assert k["taker_buy_volume"] <= k["volume"] and k["taker_buy_quote_volume"] <= k["quote_volume"]
        assert k["close_time_us"] == k["open_time_us"] + 59_999_000
        assert k["trade_count"] > 0


def test_real_binance_klines_load_into_reference_table():
    source = VendorSource(vendor="binance", market="spot", path=str(REAL_DATA), symbols=("ADABTC",))
    with duckdb.connect() as con:
        for day in (dt.date(2021, 11, 27), dt.date(2021, 11, 28)):
            files = find_klines_files(source, day)
            assert [f.path.name for f in files] == [f"ADABTC-1m-{day}.csv"]
            load_klines_reference(con, files, "spot")
        load_klines_reference(con, find_klines_files(source, dt.date(2021, 11, 27)), "spot")  # replaces, no dups
        per_day = con.execute(
            "SELECT kline_date, exchange, count(*) FROM reference.binance_klines_1m GROUP BY ALL ORDER BY 1"
        ).fetchall()
        broken = con.execute(
            """SELECT count(*) FROM reference.binance_klines_1m
            WHERE NOT (low <= open AND open <= high AND low <= close AND close <= high AND taker_buy_volume <= volume
                       AND close_time = open_time + INTERVAL 59999 MILLISECOND)"""
        ).fetchone()[0]
        first = con.execute(
            "SELECT open, volume, quote_volume, trade_count FROM reference.binance_klines_1m ORDER BY open_time LIMIT 1"
        ).fetchone()
    assert per_day == [(dt.date(2021, 11, 27), "binance", 10), (dt.date(2021, 11, 28), "binance", 11)]
    assert broken == 0
    assert first == (Decimal("0.00002853"), Decimal("36304.2"), Decimal("1.03547608"), 79)


# --------------------------------------------------------------------------------------------
# Binance klines built from the real Tardis trades reconcile through the asset check
# --------------------------------------------------------------------------------------------


def binance_klines_from_tardis_trades(path: Path) -> list[list[str]]:
    """Binance's kline definition, implemented independently: plain Python and Decimal over the CSV.

    Per minute: open/close = first/last trade by (timestamp, id), high/low, base volume, quote volume
    (sum of price x amount), trade count, taker buy base/quote (trades whose taker bought). Minutes
    without trades between the first and last traded minute: volume 0 at the previous close.
    """
    minutes: dict[int, list[tuple[int, int, Decimal, Decimal, str]]] = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            ts = int(row["timestamp"])
            minutes[ts // 60_000_000].append(
                (ts, int(row["id"]), Decimal(row["price"]), Decimal(row["amount"]), row["side"])
            )
    out = []
    prev_close = None
    for minute in range(min(minutes), max(minutes) + 1):
        trades = sorted(minutes.get(minute, []), key=lambda t: (t[0], t[1]))
        open_ms = minute * 60_000
        if trades:
            o, c = trades[0][2], trades[-1][2]
            h, lo = max(t[2] for t in trades), min(t[2] for t in trades)
            vol = sum(t[3] for t in trades)
            quote = sum(t[2] * t[3] for t in trades)
            buy_vol = sum((t[3] for t in trades if t[4] == "buy"), Decimal(0))
            buy_quote = sum((t[2] * t[3] for t in trades if t[4] == "buy"), Decimal(0))
            n = len(trades)
            prev_close = c
        else:
            o = h = lo = c = prev_close
            vol = quote = buy_vol = buy_quote = Decimal(0)
            n = 0
        out.append([str(open_ms), *(format(v, "f") for v in (o, h, lo, c, vol)), str(open_ms + 59_999),
                    format(quote, "f"), str(n), format(buy_vol, "f"), format(buy_quote, "f"), "0"])
    return out


def write_klines_zip(folder: Path, rows: list[list[str]]) -> Path:
    text = KLINES_HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    return write_zip(folder, "BTCUSDT-1m-2020-02-22.zip", text)


def check_evaluation(result):
    evals = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME]
    assert len(evals) == 1
    return evals[0]


def test_klines_built_from_real_trades_reconcile_with_our_bars(tickwh_env):
    landing = tickwh_env / "landing"
    landing.mkdir()
    shutil.copy(REAL_TRADES, landing / REAL_TRADES.name)
    klines = binance_klines_from_tardis_trades(REAL_TRADES)
    assert len(klines) == 126  # 00:00..02:05, every minute traded in this sample
    ref_dir = tickwh_env / "binance" / "data" / "futures" / "um" / "daily" / "klines" / "BTCUSDT" / "1m"
    write_klines_zip(ref_dir, klines)
    res = {
        "warehouse": WarehouseResource.at(tickwh_env),
        "landing": LandingZoneResource(root=str(landing)),
        "dbt": dbt_resource(),
        "binance_reference": VendorSourceResource(
            vendor="binance", market="usdm", path=str(tickwh_env / "binance"), symbols=["BTCUSDT"]
        ),
    }
    assets = [raw_trades, dbt_daily_marts, binance_klines_reference, ohlcv_1m_matches_exchange_klines]
    result = materialize(assets, resources=res, partition_key="2020-02-22")
    assert result.success
    ok = check_evaluation(result)
    meta = {k: v.value for k, v in ok.metadata.items()}
    assert ok.passed, meta
    assert (meta["minutes_compared"], meta["minutes_mismatched"]) == (126, 0)
    assert (meta["hours_compared"], meta["hours_mismatched"]) == (3, 0)

    # One kline off by one lot: the check fails (WARN), names that minute and the hour it rolls into.
    minute = dt.datetime(2020, 2, 22, 1, 23)
    i = next(i for i, k in enumerate(klines) if int(k[0]) == int(minute.replace(tzinfo=dt.UTC).timestamp()) * 1000)
    klines[i][5] = format(Decimal(klines[i][5]) + Decimal("0.001"), "f")
    write_klines_zip(ref_dir, klines)
    result = materialize(
        assets, resources=res, partition_key="2020-02-22",
        selection=AssetSelection.assets(binance_klines_reference) | AssetSelection.checks(
            ohlcv_1m_matches_exchange_klines
        ),
    )
    assert result.success  # a WARN check does not fail the run
    bad = check_evaluation(result)
    meta = {k: v.value for k, v in bad.metadata.items()}
    assert not bad.passed and bad.severity == AssetCheckSeverity.WARN
    assert (meta["minutes_mismatched"], meta["hours_mismatched"]) == (1, 1)
    assert meta["mismatches_by_field"] == {"1h:volume": 1, "1m:volume": 1}
    table = meta["first_20_mismatches"]
    assert "| 1m | binance-futures | BTCUSDT | 2020-02-22 01:23:00 | volume |" in table
    assert "| 1h | binance-futures | BTCUSDT | 2020-02-22 01:00:00 | volume |" in table
    assert "2020-02-22 01:23:00" in bad.description


def test_comparison_fills_minutes_without_trades_and_ignores_them_outside_the_span(tmp_path):
    """A minute without trades compares against the exchange's zero-volume kline at the previous close."""
    landing = tmp_path / "landing"
    day_us = 1_582_329_600_000_000  # 2020-02-22
    lines = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
             f"binance-futures,BTCUSDT,{day_us + 60_000_000 + 5},{day_us + 60_000_000 + 5},1,buy,100.5,2",
             f"binance-futures,BTCUSDT,{day_us + 180_000_000},{day_us + 180_000_000},2,sell,101,1"]
    landing.mkdir()
    (landing / "binance-futures_trades_2020-02-22_BTCUSDT.csv").write_text("\n".join(lines) + "\n")
    ref = tmp_path / "ref"
    ms = day_us // 1000
    rows = [  # 00:00 (no trade, outside our span), 00:01 trade, 00:02 empty, 00:03 trade, 00:04 empty (outside)
        [ms, "100", "100", "100", "100", "0", 0, "0", 0, "0", "0"],
        [ms + 60_000, "100.5", "100.5", "100.5", "100.5", "2", 0, "201", 1, "2", "201"],
        [ms + 120_000, "100.5", "100.5", "100.5", "100.5", "0", 0, "0", 0, "0", "0"],
        [ms + 180_000, "101", "101", "101", "101", "1", 0, "101", 1, "0", "0"],
        [ms + 240_000, "101", "101", "101", "101", "0", 0, "0", 0, "0", "0"],
    ]
    text = "".join(
        ",".join(str(v) for v in (r[0], *r[1:6], r[0] + 59_999, *r[7:])) + ",0\n" for r in rows
    )
    write_zip(ref, "BTCUSDT-1m-2020-02-22.zip", text)
    res = {
        "warehouse": WarehouseResource.at(tmp_path),
        "landing": LandingZoneResource(root=str(landing)),
        "dbt": dbt_resource(),
        "binance_reference": VendorSourceResource(vendor="binance", market="usdm", path=str(ref),
                                                  symbols=["BTCUSDT"]),
    }
    result = materialize([raw_trades, dbt_daily_marts, binance_klines_reference], resources=res,
                         partition_key="2020-02-22")
    assert result.success
    with lakes.connect(tmp_path) as con:
        filled = con.execute(
            "SELECT bucket_start::TIME, open, close, volume, trade_count, is_filled FROM marts.ohlcv_1m_filled "
            "ORDER BY bucket_start"
        ).fetchall()
        cmp = compare_with_reference(con, dt.date(2020, 2, 22), dt.date(2020, 2, 23))
    assert filled == [
        (dt.time(0, 1), Decimal("100.5"), Decimal("100.5"), Decimal("2"), 1, False),
        (dt.time(0, 2), Decimal("100.5"), Decimal("100.5"), Decimal("0"), 0, True),
        (dt.time(0, 3), Decimal("101"), Decimal("101"), Decimal("1"), 1, False),
    ]
    assert cmp.passed, cmp.first_mismatches
    assert (cmp.minutes_compared, cmp.minutes_outside_span, cmp.hours_compared) == (3, 2, 1)


# --------------------------------------------------------------------------------------------
# Binance trades / aggTrades: small zips -> canonical landing file -> loader
# --------------------------------------------------------------------------------------------

SPOT_TRADES = (
    "1,42000.50000000,0.10000000,4200.05000000,{t0},True,True\n"
    "2,42001.00000000,0.20000000,8400.20000000,{t1},False,True\n"
)
USDM_TRADES = (
    "id,price,qty,quote_qty,time,is_buyer_maker\n1,42000.5,0.100,4200.05,{t0},true\n2,42001.0,0.200,8400.2,{t1},false\n"
)
SPOT_AGG = "1,42000.50000000,0.10000000,10,12,{t0},True,True\n2,42001.00000000,0.20000000,13,13,{t1},False,True\n"
USDM_AGG = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    "1,42000.5,0.100,10,12,{t0},true\n2,42001.0,0.200,13,13,{t1},false\n"
)


@pytest.mark.parametrize(
    ("market", "kind", "template", "unit"),
    [
        ("spot", "trades", SPOT_TRADES, "ms"),
        ("spot", "trades", SPOT_TRADES, "us"),
        ("usdm", "trades", USDM_TRADES, "ms"),
        ("spot", "aggTrades", SPOT_AGG, "us"),
        ("usdm", "aggTrades", USDM_AGG, "ms"),
    ],
)
def test_binance_trades_land_and_load(tmp_path, market, kind, template, unit):
    day = dt.date(2025, 1, 1) if unit == "us" else DAY
    base_us = DAY_2025_US if unit == "us" else DAY_MS * 1000
    t0, t1 = (base_us + 5_000, base_us + 1_234_567) if unit == "us" else (DAY_MS + 5, DAY_MS + 1_234)
    vendor = tmp_path / "vendor"
    market_dir = "spot" if market == "spot" else "futures/um"
    folder = vendor / "data" / market_dir / "daily" / kind / "BTCUSDT"
    write_zip(folder, f"BTCUSDT-{kind}-{day}.zip", template.format(t0=t0, t1=t1))
    source = VendorSource(vendor="binance", market=market, path=str(vendor), symbols=("BTCUSDT",), trades_kind=kind)
    landing = tmp_path / "landing"
    staged = stage_vendor_day(source, day, landing)
    exchange = "binance" if market == "spot" else "binance-futures"
    assert [p.name for p in staged] == [f"{exchange}_trades_{day}_BTCUSDT.csv.gz",
                                        f"{exchange}_book_snapshot_1_{day}_BTCUSDT.csv.gz"]
    with duckdb.connect() as con:
        report = load_trades(con, landing, day)
        books = load_book_snapshots(con, landing, day)  # the header-only book file loads as an empty day
        rows = trades_rows(con)
    assert (report.rows_loaded, report.rows_quarantined, books.rows_loaded) == (2, 0, 0)
    us0 = t0 * (1 if unit == "us" else 1000)
    us1 = t1 * (1 if unit == "us" else 1000)

    def ts(us: int) -> dt.datetime:
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)

    # is_buyer_maker true -> the taker sold.
    assert rows == [
        (exchange, "BTCUSDT", ts(us0), ts(us0), "1", "sell", Decimal("42000.5"), Decimal("0.1")),
        (exchange, "BTCUSDT", ts(us1), ts(us1), "2", "buy", Decimal("42001"), Decimal("0.2")),
    ]
    table = read_trades(next(folder.glob("*.zip")), market, kind)
    assert table.column("time_us").to_pylist() == [us0, us1]
    assert table.column("taker_side").to_pylist() == ["sell", "buy"]
    if kind == "aggTrades":
        assert table.column("first_trade_id").to_pylist() == [10, 13]
        assert table.column("quote_qty").null_count == 2
    else:
        assert table.column("quote_qty").to_pylist() == [Decimal("4200.05"), Decimal("8400.2")]


@pytest.mark.parametrize("header", [False, True])
def test_quarantine_lines_map_back_to_the_vendor_file(tmp_path, header):
    """Rows stay 1:1 and in order: landing line = vendor line + 1 without a vendor header, + 0 with one."""
    lines = ([  # vendor lines 1..6 (7 with a header)
        f"1,100.0,1.0,100.0,{DAY_MS + 1},true",
        f"2,-5,1.0,100.0,{DAY_MS + 2},true",  # non-positive price
        "",  # blank line
        f"4,100.0,1.0,100.0,{DAY_MS + 4},maybe",  # invalid side
        "5,100.0,1.0",  # wrong column count
        f"6,100.0,1.0,100.0,{DAY_MS + 6},false",
    ])
    text = ("id,price,qty,quote_qty,time,is_buyer_maker\n" if header else "") + "\n".join(lines) + "\n"
    vendor = tmp_path / "vendor"
    write_zip(vendor, f"BTCUSDT-trades-{DAY}.zip", text)
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",))
    stage_vendor_day(source, DAY, tmp_path / "landing")
    with duckdb.connect() as con:
        report = load_trades(con, tmp_path / "landing", DAY)
        got = con.execute("SELECT source_line, rule FROM raw.quarantine ORDER BY source_line").fetchall()
    assert report.rows_loaded == 2
    offset = 0 if header else 1
    vendor_line = {2: "non_positive_price", 3: "wrong_column_count", 4: "invalid_side", 5: "wrong_column_count"}
    assert got == [(line + (1 if header else 0) + offset, rule) for line, rule in vendor_line.items()]


def test_checksums(tmp_path):
    good = write_zip(tmp_path / "a", f"BTCUSDT-trades-{DAY}.zip", SPOT_TRADES.format(t0=DAY_MS, t1=DAY_MS + 1))
    assert verify_checksum(good) == hashlib.sha256(good.read_bytes()).hexdigest()
    bad = write_zip(tmp_path / "b", f"BTCUSDT-trades-{DAY}.zip", SPOT_TRADES.format(t0=DAY_MS, t1=DAY_MS + 1),
                    checksum="bad")
    with pytest.raises(ChecksumError, match=rf"BTCUSDT-trades-{DAY}\.zip: sha256 .* does not match"):
        verify_checksum(bad)
    source = VendorSource(vendor="binance", market="spot", path=str(tmp_path / "b"), symbols=("BTCUSDT",))
    with pytest.raises(ChecksumError, match="BTCUSDT-trades-2024-01-01.zip"):
        stage_vendor_day(source, DAY, tmp_path / "landing")
    assert not list((tmp_path / "landing").glob("*_trades_*"))  # nothing staged from a bad download
    none = write_zip(tmp_path / "c", f"BTCUSDT-trades-{DAY}.zip", SPOT_TRADES.format(t0=DAY_MS, t1=DAY_MS + 1),
                     checksum=None)
    with pytest.raises(ChecksumError, match="no BTCUSDT-trades-2024-01-01.zip.CHECKSUM"):
        verify_checksum(none, "require")
    assert verify_checksum(none, "if_present")


def test_binance_layout_errors_are_clear(tmp_path):
    spot = write_zip(tmp_path, f"BTCUSDT-trades-{DAY}.zip", SPOT_TRADES.format(t0=DAY_MS, t1=DAY_MS + 1))
    with pytest.raises(VendorFormatError, match="7 columns, but a headerless Binance usdm trades file has 6"):
        sniff(spot, "trades", "usdm")
    mixed = write_zip(tmp_path / "m", f"BTCUSDT-trades-{DAY}.zip",
                      SPOT_TRADES.format(t0=DAY_MS, t1=DAY_MS * 1000 + 1))
    with pytest.raises(VendorFormatError, match="mix milliseconds and microseconds"):
        sniff(mixed, "trades", "spot")
    source = VendorSource(vendor="binance", market="spot", path=str(tmp_path), symbols=("ETHUSDT",))
    with pytest.raises(VendorFileMissingError, match="ETHUSDT 2024-01-01"):
        stage_vendor_day(source, DAY, tmp_path / "landing")


@pytest.fixture(scope="module")
def vendor_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A real S3 endpoint (SeaweedFS on a loopback port) with a throwaway identity in AWS_* variables."""
    key, secret = "vendor" + secrets.token_hex(6), secrets.token_urlsafe(24)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", key)
        mp.setenv("AWS_SECRET_ACCESS_KEY", secret)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        server = SeaweedServer(tmp_path_factory.mktemp("vendor_s3"), access_key=key, secret_key=secret).start()
        try:
            yield server
        finally:
            server.stop(timeout=1.0)


def test_stage_from_s3_prefix(tmp_path, vendor_s3):
    """A data.binance.vision mirror in a real bucket: listed, downloaded into the cache, verified, staged."""
    local = write_zip(tmp_path / "src", f"BTCUSDT-trades-{DAY}.zip", USDM_TRADES.format(t0=DAY_MS, t1=DAY_MS + 7))
    prefix = "mirror/data/futures/um/daily/trades/BTCUSDT/"
    client = vendor_s3.client()
    client.create_bucket(Bucket="binance-mirror")
    objects = {prefix + local.name: local.read_bytes(),
               prefix + local.name + ".CHECKSUM": (local.parent / f"{local.name}.CHECKSUM").read_bytes(),
               prefix + "BTCUSDT-trades-2024-01-02.zip": b"other day"}
    # More keys than one listing page holds, so the listing must follow continuation tokens.
    objects |= {f"mirror/filler/{i:04d}.txt": b"x" for i in range(1005)}
    for key, body in objects.items():
        client.put_object(Bucket="binance-mirror", Key=key, Body=body)
    source = VendorSource(vendor="binance", market="usdm", path="s3://binance-mirror/mirror", symbols=("BTCUSDT",),
                          s3_endpoint_url=vendor_s3.endpoint_url, cache_dir=str(tmp_path / "cache"))
    staged = stage_vendor_day(source, DAY, tmp_path / "landing")
    assert staged[0].name == "binance-futures_trades_2024-01-01_BTCUSDT.csv.gz"
    cached = tmp_path / "cache" / "binance-mirror" / prefix / local.name
    assert cached.read_bytes() == local.read_bytes()
    with duckdb.connect() as con:
        assert load_trades(con, tmp_path / "landing", DAY).rows_loaded == 2
    assert len(S3Store("s3://binance-mirror/mirror", tmp_path / "c2", vendor_s3.endpoint_url).list("filler")) == 1005
    client.put_object(Bucket="binance-mirror", Key=prefix + local.name + ".CHECKSUM",
                      Body=f"{'0' * 64}  {local.name}\n".encode())
    with pytest.raises(ChecksumError, match="does not match"):
        stage_vendor_day(source, DAY, tmp_path / "landing2")


def test_vendor_landing_asset_stages_a_binance_day(tmp_path):
    vendor = tmp_path / "vendor"
    write_zip(vendor, f"BTCUSDT-trades-{DAY}.zip", USDM_TRADES.format(t0=DAY_MS, t1=DAY_MS + 1))
    write_zip(vendor, f"ETHUSDT-trades-{DAY}.zip", USDM_TRADES.format(t0=DAY_MS + 2, t1=DAY_MS + 3))
    res = {
        "vendor_source": VendorSourceResource(vendor="binance", market="usdm", path=str(vendor)),  # symbols found
        "landing": LandingZoneResource(root=str(tmp_path / "landing")),
        "warehouse": WarehouseResource.at(tmp_path),
    }
    # Two runs, as the job + sensor do: raw_trades does not depend on vendor_landing (see orchestration/vendors.py).
    result = materialize([vendor_landing], resources=res, partition_key=DAY.isoformat())
    assert result.success
    meta = result.asset_materializations_for_node("vendor_landing")[0].metadata
    assert meta["landing_files"].value == 4
    assert materialize([raw_trades], resources=res, partition_key=DAY.isoformat()).success
    with lakes.connect(tmp_path) as con:
        assert con.execute("SELECT symbol, count(*) FROM raw.trades GROUP BY 1 ORDER BY 1").fetchall() == [
            ("BTCUSDT", 2), ("ETHUSDT", 2)]


@pytest.mark.parametrize("ranged", [False, True])
def test_successful_vendor_run_requests_the_daily_pipeline_for_the_same_days(tmp_path, ranged):
    vendor = tmp_path / "vendor"
    for day in (DAY, DAY + dt.timedelta(days=1)):
        ms = DAY_MS + (day - DAY).days * 86_400_000
        write_zip(vendor, f"BTCUSDT-trades-{day}.zip", USDM_TRADES.format(t0=ms, t1=ms + 1))
    defs = build_defs({
        "vendor_source": VendorSourceResource(vendor="binance", market="usdm", path=str(vendor), symbols=["BTCUSDT"]),
        "binance_reference": VendorSourceResource(vendor="binance"),  # not configured: the reference skips
        "landing": LandingZoneResource(root=str(tmp_path / "landing")),
        "warehouse": WarehouseResource.at(tmp_path),
    })
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("vendor_landing_job")
    last = DAY + dt.timedelta(days=1)
    tags = {"dagster/asset_partition_range_start": DAY.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}
    result = (job.execute_in_process(instance=instance, tags=tags) if ranged
              else job.execute_in_process(instance=instance, partition_key=DAY.isoformat()))
    assert result.success
    assert len(list((tmp_path / "landing").glob("*_trades_*"))) == (2 if ranged else 1)
    context = build_run_status_sensor_context(
        sensor_name=daily_pipeline_after_vendor_landing.name, dagster_event=result.get_run_success_event(),
        dagster_instance=instance, dagster_run=result.dagster_run,
    )
    request = daily_pipeline_after_vendor_landing(context)
    if ranged:
        assert request.tags == tags
    else:
        assert request.partition_key == DAY.isoformat()


# --------------------------------------------------------------------------------------------
# Tardis incremental_book_L2 (quotes are a dataset of their own: tests/test_vendors_derivatives.py)
# --------------------------------------------------------------------------------------------


def write_gz_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as fh:
        fh.write(text)
    return path


def test_incremental_book_l2_replays_into_snapshots(tmp_path):
    t = DAY_MS * 1000
    s = 1_000_000
    src = write_gz_text(tmp_path / "vendor" / f"binance-futures_incremental_book_L2_{DAY}_BTCUSDT.csv.gz", "\n".join([
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount",
        f"binance-futures,BTCUSDT,{t - 5},{t - 5},false,bid,1,1",  # before the first snapshot: skipped
        f"binance-futures,BTCUSDT,{t},{t},true,bid,100,1",
        f"binance-futures,BTCUSDT,{t},{t},true,bid,99.5,2",
        f"binance-futures,BTCUSDT,{t},{t},true,ask,101,3",
        f"binance-futures,BTCUSDT,{t + s // 2},{t + s // 2},false,ask,100.5,1",  # new best ask
        f"binance-futures,BTCUSDT,{t + s},{t + s},false,bid,100,0",  # removes the best bid, at exactly t + 1 s
        f"binance-futures,BTCUSDT,{t + 5 * s // 2},{t + 5 * s // 2},true,ask,105,1",  # re-sent book: reset
        f"binance-futures,BTCUSDT,{t + 5 * s // 2},{t + 5 * s // 2},true,bid,104,1",
        f"binance-futures,BTCUSDT,{t + 31 * s // 10},{t + 31 * s // 10},false,bid,104,2",
    ]) + "\n")
    nf, stats = snapshots_from_incremental_l2(src, tmp_path / "landing", depth=2, interval_ms=1000)
    assert nf.landing_path.name == f"binance-futures_book_snapshot_2_{DAY}_BTCUSDT.csv.gz"
    assert (stats.skipped_before_snapshot, stats.resets, stats.snapshots) == (1, 2, 4)
    with duckdb.connect() as con:
        report = load_book_snapshots(con, tmp_path / "landing", DAY)
        rows = con.execute(
            "SELECT epoch_us(ts) - ?, ask_prices, ask_amounts, bid_prices, bid_amounts FROM raw.book_snapshots "
            "ORDER BY ts", [t]
        ).fetchall()
    assert report.rows_loaded == 4
    assert rows == [
        (0, [101.0, None], [3.0, None], [100.0, 99.5], [1.0, 2.0]),
        (s, [100.5, 101.0], [1.0, 3.0], [99.5, None], [2.0, None]),  # the removal at t + 1 s is included
        (2 * s, [100.5, 101.0], [1.0, 3.0], [99.5, None], [2.0, None]),
        (3 * s, [105.0, None], [1.0, None], [104.0, None], [1.0, None]),  # after the reset, before t + 3.1 s
    ]


def test_stage_tardis_day_links_trades_and_prefers_book_sources_in_order(tmp_path):
    vendor = tmp_path / "vendor"
    t = DAY_MS * 1000
    # The datasets API tree for trades and quotes, the flat download name for the L2 feed.
    write_gz_text(vendor / "binance-futures" / "trades" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", (
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"binance-futures,BTCUSDT,{t + 1},{t + 2},7,buy,42000.5,0.25\n"
    ))
    write_gz_text(vendor / "binance-futures" / "quotes" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", (
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
        f"binance-futures,BTCUSDT,{t + 1},{t + 2},1,42001,42000,2\n"
    ))
    write_gz_text(vendor / f"binance-futures_incremental_book_L2_{DAY}_BTCUSDT.csv.gz",
                  "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
    # book_snapshot_5 comes before incremental_book_L2 in the default order, so it wins.
    write_gz_text(vendor / f"binance-futures_book_snapshot_5_{DAY}_BTCUSDT.csv.gz", snapshots_header(5) + "\n" + (
        f"binance-futures,BTCUSDT,{t + 1},{t + 2}," + ",".join(
            f"{42001 + i},{1 + i},{42000 - i},{2 + i}" for i in range(5)) + "\n"))
    source = VendorSource(vendor="tardis", market="usdm", path=str(vendor), symbols=("BTCUSDT",))
    before = sorted(vendor.rglob("*"))
    staged = stage_vendor_day(source, DAY, tmp_path / "landing")
    assert sorted(vendor.rglob("*")) == before  # the vendor folder is only read
    # The quotes are staged as their own dataset, after the trades and the book.
    assert [p.name for p in staged] == [f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz",
                                        f"binance-futures_book_snapshot_5_{DAY}_BTCUSDT.csv.gz",
                                        f"binance-futures_quotes_{DAY}_BTCUSDT.csv.gz"]
    with duckdb.connect() as con:
        assert load_trades(con, tmp_path / "landing", DAY).rows_loaded == 1
        assert load_book_snapshots(con, tmp_path / "landing", DAY).rows_loaded == 1
    with pytest.raises(VendorFileMissingError, match="none of the book data types"):
        only_snapshots = ("book_snapshot_25",)
        source = VendorSource(vendor="tardis", path=str(vendor), symbols=("BTCUSDT",), book_data_types=only_snapshots)
        stage_vendor_day(source, DAY, tmp_path / "landing2")


def landing_names(landing: Path) -> list[str]:
    return sorted(p.name for p in landing.iterdir() if p.is_file())


def test_restaging_a_vendor_day_leaves_only_the_final_files(tmp_path):
    """Staged twice (a linked Tardis trades file, a linked quotes file, a rewritten Binance day), the
    landing folder holds the same final files and no `.partial`; a rewrite that fails leaves none either."""
    t = DAY_MS * 1000
    tardis = tmp_path / "tardis"
    write_gz_text(tardis / "binance-futures" / "trades" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", (
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"binance-futures,BTCUSDT,{t + 1},{t + 2},7,buy,42000.5,0.25\n"
    ))
    write_gz_text(tardis / "binance-futures" / "quotes" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", (
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
        f"binance-futures,BTCUSDT,{t + 1},{t + 2},1,42001,42000,2\n"
    ))
    binance = tmp_path / "binance"
    write_zip(binance, f"BTCUSDT-trades-{DAY}.zip", USDM_TRADES.format(t0=DAY_MS + 5, t1=DAY_MS + 1_234))
    landing = tmp_path / "landing"
    sources = [VendorSource(vendor="tardis", market="usdm", path=str(tardis), symbols=("BTCUSDT",),
                            book_data_types=()),
               VendorSource(vendor="binance", market="spot", path=str(binance), symbols=("BTCUSDT",))]
    expected = sorted([f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz",
                       f"binance-futures_book_snapshot_1_{DAY}_BTCUSDT.csv.gz",  # header-only: no book source
                       f"binance-futures_quotes_{DAY}_BTCUSDT.csv.gz",
                       f"binance_trades_{DAY}_BTCUSDT.csv.gz", f"binance_book_snapshot_1_{DAY}_BTCUSDT.csv.gz"])
    for _ in range(2):
        for source in sources:
            stage_vendor_day(source, DAY, landing)
        assert landing_names(landing) == expected
    with duckdb.connect() as con:
        assert load_trades(con, landing, DAY).rows_loaded == 1 + 2
    # A vendor file that cannot be rewritten: the error, the earlier good file untouched, no temporary.
    (binance / f"BTCUSDT-trades-{DAY}.zip").unlink()
    write_zip(binance, f"BTCUSDT-trades-{DAY}.zip", "1,2,3\n")
    with pytest.raises(VendorFormatError):
        stage_vendor_day(sources[1], DAY, landing)
    assert landing_names(landing) == expected


def test_read_vendor_zip_without_header_is_streamed_in_order(tmp_path):
    """Many batches (more than one Arrow block) keep their order through the rewrite."""
    n = 200_000
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{i},{100 + i % 7}.5,0.001,0.1,{DAY_MS + i // 10},{'true' if i % 3 else 'false'}\n")
    write_zip(tmp_path / "v", f"BTCUSDT-trades-{DAY}.zip", buf.getvalue())
    source = VendorSource(vendor="binance", market="usdm", path=str(tmp_path / "v"), symbols=("BTCUSDT",))
    landing = tmp_path / "landing"
    (trades, _book) = stage_vendor_day(source, DAY, landing)
    with gzip.open(trades, "rt") as fh:
        next(fh)
        ids = [int(line.split(",")[4]) for line in fh]
    assert ids == list(range(n))


# --------------------------------------------------------------------------------------------
# Configuration from the environment alone
# --------------------------------------------------------------------------------------------


def test_every_vendor_field_has_an_environment_variable():
    """Each field of `vendor_source` is read from a TICKWH_VENDOR_* variable (docs/vendors.md), so no
    set-up needs a run-config YAML; the klines reference takes the fields that apply to klines."""
    env = {
        "TICKWH_VENDOR": "tardis", "TICKWH_VENDOR_MARKET": "spot", "TICKWH_VENDOR_PATH": "s3://bucket/tardis",
        "TICKWH_VENDOR_SYMBOLS": "BTCUSDT,BTC/USD", "TICKWH_VENDOR_EXCHANGE": "bitmex",
        "TICKWH_VENDOR_TRADES_KIND": "aggTrades",
        "TICKWH_VENDOR_BOOK_DATA_TYPES": "book_snapshot_5, incremental_book_L2",
        "TICKWH_VENDOR_DATASETS": "liquidations, derivative_ticker",
        "TICKWH_VENDOR_SNAPSHOT_DEPTH": "10", "TICKWH_VENDOR_SNAPSHOT_INTERVAL_MS": "500",
        "TICKWH_VENDOR_CHECKSUMS": "if_present", "TICKWH_VENDOR_S3_ENDPOINT": "http://127.0.0.1:8333",
        "TICKWH_VENDOR_CACHE_DIR": "/tmp/vendor-cache",
        "TICKWH_BINANCE_REFERENCE_PATH": "/data/binance", "TICKWH_BINANCE_REFERENCE_MARKET": "spot",
        "TICKWH_BINANCE_REFERENCE_SYMBOLS": "ETHUSDT", "TICKWH_BINANCE_REFERENCE_CHECKSUMS": "skip",
        "TICKWH_BINANCE_REFERENCE_S3_ENDPOINT": "http://127.0.0.1:9000",
    }
    settings = Settings.from_env(env)
    source = vendor_source_from_settings(settings)
    expected = {
        "vendor": "tardis", "market": "spot", "path": "s3://bucket/tardis", "symbols": ["BTCUSDT", "BTC-USD"],
        "exchange": "bitmex", "trades_kind": "aggTrades", "book_data_types": ["book_snapshot_5", "incremental_book_L2"],
        "datasets": ["liquidations", "derivative_ticker"],
        "snapshot_depth": 10, "snapshot_interval_ms": 500, "checksums": "if_present",
        "s3_endpoint_url": "http://127.0.0.1:8333", "cache_dir": "/tmp/vendor-cache",
    }
    assert set(expected) == set(VendorSourceResource.model_fields)  # a new field needs its variable too
    assert {name: getattr(source, name) for name in expected} == expected
    reference = binance_reference_from_settings(settings)
    assert (reference.vendor, reference.market, reference.path, reference.symbols, reference.checksums,
            reference.s3_endpoint_url, reference.cache_dir) == (
        "binance", "spot", "/data/binance", ["ETHUSDT"], "skip", "http://127.0.0.1:9000", "/tmp/vendor-cache")
    # `none` is trades only; unset is every book source in the default order.
    def books(env: dict[str, str]) -> list[str]:
        return vendor_source_from_settings(Settings.from_env(env)).book_data_types

    assert (books({"TICKWH_VENDOR_BOOK_DATA_TYPES": "none"}), books({})) == ([], list(TARDIS_BOOK_TYPES))

    def datasets(env: dict[str, str]) -> list[str]:
        return vendor_source_from_settings(Settings.from_env(env)).datasets

    assert (datasets({"TICKWH_VENDOR_DATASETS": "none"}), datasets({})) == (
        [], ["quotes", "derivative_ticker", "liquidations"])


def test_a_trades_only_tardis_set_up_runs_from_the_environment_alone(tickwh_env, monkeypatch):
    """Tardis trades without any book file, configured by variables only: the day stages (trades plus
    a header-only book file) and loads, with no run config."""
    vendor = tickwh_env / "tardis"
    t = DAY_MS * 1000
    write_gz_text(vendor / f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz", (
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"binance-futures,BTCUSDT,{t + 1},{t + 2},7,buy,42000.5,0.25\n"
        f"binance-futures,BTCUSDT,{t + 3},{t + 4},8,sell,42000.0,0.5\n"
    ))
    for var, value in {"TICKWH_VENDOR": "tardis", "TICKWH_VENDOR_MARKET": "usdm", "TICKWH_VENDOR_PATH": str(vendor),
                       "TICKWH_VENDOR_SYMBOLS": "BTCUSDT", "TICKWH_VENDOR_BOOK_DATA_TYPES": "none"}.items():
        monkeypatch.setenv(var, value)
    defs = build_defs()  # every resource from the environment
    instance = DagsterInstance.ephemeral()
    staged = defs.resolve_job_def("vendor_landing_job").execute_in_process(
        instance=instance, partition_key=DAY.isoformat(), raise_on_error=False)
    assert staged.success
    landing = tickwh_env / "landing"
    assert landing_names(landing) == [f"binance-futures_book_snapshot_1_{DAY}_BTCUSDT.csv.gz",
                                      f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz"]
    with duckdb.connect() as con:
        assert load_trades(con, landing, DAY).rows_loaded == 2
        assert load_book_snapshots(con, landing, DAY).rows_loaded == 0
