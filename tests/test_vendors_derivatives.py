"""Vendor staging of the derivatives datasets: quotes, derivative_ticker, liquidations.

Real-format rows (headers exactly as Tardis.dev and data.binance.vision publish them, empty fields
included) are written as a local Tardis tree, a local Binance tree and a Binance mirror in a real
S3 bucket (SeaweedFS), staged, and the landing files are compared line for line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import zipfile
from pathlib import Path

import pytest

from ingest.landing import parse_landing_name
from ingest.vendors._lines import VendorFormatError
from ingest.vendors.binance import ChecksumError
from ingest.vendors.source import VendorSource, stage_vendor_day, stage_vendor_day_report

DAY = dt.date(2024, 1, 1)
T = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in µs

QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
TICKER_HEADER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
                 "open_interest,last_price,index_price,mark_price")
LIQUIDATIONS_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"

BOOK_TICKER_HEADER = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
METRICS_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
                  "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio")
USDM_TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
FUNDING_20_DECIMALS = "0.00004405208333333333"


def write_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


def gz_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", newline="") as fh:
        return fh.read().splitlines()


def write_zip(folder: Path, name: str, lines: list[str], *, checksum: str | None = "ok") -> Path:
    """A data.binance.vision zip (one CSV inside) with its `.CHECKSUM` (`ok`, `bad` or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name.replace(".zip", ".csv"), "".join(line + "\n" for line in lines))
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if checksum == "bad":
            digest = ("0" if digest[0] != "0" else "1") + digest[1:]
        (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")
    return path


def landing_names(landing: Path) -> list[str]:
    return sorted(p.name for p in landing.iterdir() if p.is_file())


# --------------------------------------------------------------------------------------------
# Tardis: staged as they are, header checked
# --------------------------------------------------------------------------------------------

TARDIS_QUOTES = [
    QUOTES_HEADER,
    f"binance-futures,BTCUSDT,{T + 12_000},{T + 16_302},4.236,42314.10,42314.00,6.582",
    f"binance-futures,BTCUSDT,{T + 21_000},{T + 23_517},,,42314.00,6.601",  # no ask side
]
TARDIS_TICKER = [
    TICKER_HEADER,
    f"binance-futures,BTCUSDT,{T + 34_000},{T + 39_611},{T + 28_800_000_000},0.00037409,,77195.542,42313.90,"
    "42288.95163265,42310.40000000",
    f"binance-futures,BTCUSDT,{T + 1_034_000},{T + 1_038_025},{T + 28_800_000_000},{FUNDING_20_DECIMALS},,,,"
    "42289.01020408,42310.51000000",
]
TARDIS_LIQUIDATIONS = [
    LIQUIDATIONS_HEADER,
    f"binance-futures,BTCUSDT,{T + 62_611_000},{T + 62_618_274},,sell,42249.30,0.014",
    f"binance-futures,BTCUSDT,{T + 63_902_000},{T + 63_905_143},,buy,42265.10,0.250",
]


def tardis_tree(root: Path) -> Path:
    """The flat download names for trades and liquidations, the datasets API tree for quotes and the ticker."""
    write_gz(root / f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz",
             [TRADES_HEADER, f"binance-futures,BTCUSDT,{T + 1},{T + 2},7,buy,42000.5,0.25"])
    write_gz(root / "binance-futures" / "quotes" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", TARDIS_QUOTES)
    write_gz(root / "binance-futures" / "derivative_ticker" / "2024" / "01" / "01" / "BTCUSDT.csv.gz", TARDIS_TICKER)
    write_gz(root / f"binance-futures_liquidations_{DAY}_BTCUSDT.csv.gz", TARDIS_LIQUIDATIONS)
    return root


def test_tardis_datasets_are_staged_unchanged_and_restaging_is_idempotent(tmp_path):
    vendor = tardis_tree(tmp_path / "tardis")
    source = VendorSource(vendor="tardis", path=str(vendor), symbols=("BTCUSDT",), book_data_types=())
    landing = tmp_path / "landing"
    before = sorted(vendor.rglob("*"))
    expected = [f"binance-futures_book_snapshot_1_{DAY}_BTCUSDT.csv.gz",
                f"binance-futures_derivative_ticker_{DAY}_BTCUSDT.csv.gz",
                f"binance-futures_liquidations_{DAY}_BTCUSDT.csv.gz",
                f"binance-futures_quotes_{DAY}_BTCUSDT.csv.gz",
                f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz"]
    for _ in range(2):
        staged = stage_vendor_day(source, DAY, landing)
        assert [p.name for p in staged] == [expected[4], expected[0], expected[3], expected[1], expected[2]]
        assert landing_names(landing) == expected  # no .partial left, nothing else
    assert sorted(vendor.rglob("*")) == before  # the vendor tree is only read
    assert gz_lines(landing / expected[3]) == TARDIS_QUOTES
    assert gz_lines(landing / expected[1]) == TARDIS_TICKER
    assert gz_lines(landing / expected[2]) == TARDIS_LIQUIDATIONS
    for name in expected:
        lf = parse_landing_name(landing / name)
        assert lf is not None and (lf.exchange, lf.day, lf.symbols) == ("binance-futures", DAY, "BTCUSDT")


def test_tardis_day_with_the_ticker_but_no_quotes_stages_what_it_has(tmp_path):
    vendor = tardis_tree(tmp_path / "tardis")
    (vendor / "binance-futures" / "quotes" / "2024" / "01" / "01" / "BTCUSDT.csv.gz").unlink()
    source = VendorSource(vendor="tardis", path=str(vendor), symbols=("BTCUSDT",), book_data_types=(),
                          datasets=("quotes", "derivative_ticker"))
    report = stage_vendor_day_report(source, DAY, tmp_path / "landing")
    assert [p.name for p in report.files] == [f"binance-futures_trades_{DAY}_BTCUSDT.csv.gz",
                                              f"binance-futures_book_snapshot_1_{DAY}_BTCUSDT.csv.gz",
                                              f"binance-futures_derivative_ticker_{DAY}_BTCUSDT.csv.gz"]
    absent = [d for d in report.details if d["data_type"] == "quotes"]
    assert absent == [{"symbol": "BTCUSDT", "data_type": "quotes", "landing_file": "",
                       "vendor_file": f"absent: no binance-futures_quotes_{DAY}_BTCUSDT.csv.gz under {vendor}"}]


@pytest.mark.parametrize(("data_type", "header"), [
    ("derivative_ticker", TICKER_HEADER.replace("funding_timestamp,funding_rate", "funding_rate,funding_timestamp")),
    ("liquidations", QUOTES_HEADER),  # a quotes file saved under the liquidations name
    ("quotes", QUOTES_HEADER + ",extra"),
])
def test_a_tardis_file_with_a_wrong_header_is_a_one_line_error_naming_it(tmp_path, data_type, header):
    vendor = tardis_tree(tmp_path / "tardis")
    bad = write_gz(vendor / f"binance-futures_{data_type}_{DAY}_BTCUSDT.csv.gz", [header])
    source = VendorSource(vendor="tardis", path=str(vendor), symbols=("BTCUSDT",), book_data_types=(),
                          datasets=(data_type,))
    with pytest.raises(VendorFormatError) as err:
        stage_vendor_day(source, DAY, tmp_path / "landing")
    message = str(err.value)
    assert "\n" not in message
    layout = {"derivative_ticker": TICKER_HEADER, "liquidations": LIQUIDATIONS_HEADER, "quotes": QUOTES_HEADER}
    assert message == f"{bad}: header {header!r} is not the Tardis {data_type} header {layout[data_type]!r}"
    assert not list((tmp_path / "landing").glob(f"*_{data_type}_*"))


def test_quotes_are_no_longer_a_book_source():
    with pytest.raises(ValueError, match="quotes are a dataset of their own now"):
        VendorSource(vendor="tardis", path="/x", book_data_types=("quotes",))
    with pytest.raises(ValueError, match=r"unknown datasets \['funding'\]"):
        VendorSource(vendor="tardis", path="/x", datasets=("funding",))


# --------------------------------------------------------------------------------------------
# Binance USD-M: bookTicker -> quotes, fundingRate + metrics -> derivative_ticker
# --------------------------------------------------------------------------------------------

UM = Path("data/futures/um")
BOOK_DAY = dt.date(2024, 3, 30)  # the last day Binance published USD-M bookTicker files
BOOK_TICKER_ROWS = [  # real lines of 1000BONKUSDT-bookTicker-2024-03-30
    "4307082988118,0.02634800,315928.00000000,0.02634900,2385.00000000,1711756800080,1711756800087",
    "4307083859526,0.02634800,315563.00000000,0.02634900,2385.00000000,1711756801522,1711756802066",
]
BOOK_TICKER_QUOTES = [
    QUOTES_HEADER,
    "binance-futures,1000BONKUSDT,1711756800080000,1711756800087000,2385.00000000,0.02634900,0.02634800,"
    "315928.00000000",
    "binance-futures,1000BONKUSDT,1711756801522000,1711756802066000,2385.00000000,0.02634900,0.02634800,"
    "315563.00000000",
]


def usdm_trades(root: Path, symbol: str, day: dt.date) -> None:
    ms = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 1000
    write_zip(root / UM / "daily" / "trades" / symbol, f"{symbol}-trades-{day}.zip",
              [USDM_TRADES_HEADER, f"1,42000.5,0.100,4200.05,{ms + 5},true"])


@pytest.mark.parametrize("header", [True, False])
def test_binance_book_ticker_becomes_quotes_row_for_row(tmp_path, header):
    vendor = tmp_path / "binance"
    usdm_trades(vendor, "1000BONKUSDT", BOOK_DAY)
    write_zip(vendor / UM / "daily" / "bookTicker" / "1000BONKUSDT", f"1000BONKUSDT-bookTicker-{BOOK_DAY}.zip",
              ([BOOK_TICKER_HEADER] if header else []) + BOOK_TICKER_ROWS)
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("1000BONKUSDT",))
    landing = tmp_path / "landing"
    report = stage_vendor_day_report(source, BOOK_DAY, landing)
    quotes = landing / f"binance-futures_quotes_{BOOK_DAY}_1000BONKUSDT.csv.gz"
    assert quotes in report.files
    assert gz_lines(quotes) == BOOK_TICKER_QUOTES
    detail = next(d for d in report.details if d["data_type"] == "quotes")
    assert (detail["rows"], detail["line_offset"], detail["time_unit"]) == (2, 0 if header else 1, "ms")
    assert detail["sha256"] == hashlib.sha256(
        (vendor / UM / "daily" / "bookTicker" / "1000BONKUSDT" / f"1000BONKUSDT-bookTicker-{BOOK_DAY}.zip")
        .read_bytes()).hexdigest()
    # Binance publishes no liquidations, and there is no funding or metrics file here: reported, not an error.
    absent = {d["data_type"]: d["vendor_file"] for d in report.details if d["landing_file"] == ""}
    assert absent == {
        "derivative_ticker": f"absent: neither 1000BONKUSDT-fundingRate-2024-03.zip nor "
                             f"1000BONKUSDT-metrics-{BOOK_DAY}.zip under {vendor}",
        "liquidations": "absent: Binance public data publishes no USD-M liquidations",
    }


FUNDING_2024_01 = [
    FUNDING_HEADER,
    "1704067200000,8,0.00037409",
    f"1704096000001,8,{FUNDING_20_DECIMALS}",  # calc_time as published, 1 ms after the hour
    "1704124800000,8,-0.00002000",
    "1704153600000,8,0.00010000",  # 2024-01-02
]
METRICS_2023_12_31 = [
    METRICS_HEADER,
    "2023-12-31 23:55:00,BTCUSDT,76590.12300000,3240516422.22460000,1.01990000,1.35500000,1.06300000,0.92370000",
    # this day's midnight, published in the previous day's file
    "2024-01-01 00:00:00,BTCUSDT,76601.50000000,3239011820.81430000,1.02056420,1.35622400,1.06402193,1.10580000",
]
METRICS_2024_01_01 = [
    METRICS_HEADER,  # rows out of order, one repeated, the next day's midnight with empty fields
    "2024-01-01 00:10:00,BTCUSDT,76612.05100000,3238390116.52880000,1.02082521,1.35713400,1.06437817,0.85271300",
    "2024-01-01 00:05:00,BTCUSDT,76608.79800000,3238452378.35780000,1.02072986,1.35648300,1.06416394,1.45220000",
    "2024-01-01 00:05:00,BTCUSDT,76608.79800000,3238452378.35780000,1.02072986,1.35648300,1.06416394,1.45220000",
    "2024-01-02 00:00:00,BTCUSDT,77001.00000000,3300000000.00000000,,1.30000000,1.05000000,",
]
TICKER_2024_01_01 = [
    TICKER_HEADER,
    f"binance-futures,BTCUSDT,{T},,{T},0.00037409,,,,,",
    f"binance-futures,BTCUSDT,{T},,,,,76601.50000000,,,",
    f"binance-futures,BTCUSDT,{T + 300_000_000},,,,,76608.79800000,,,",
    f"binance-futures,BTCUSDT,{T + 600_000_000},,,,,76612.05100000,,,",
    f"binance-futures,BTCUSDT,{T + 28_800_001_000},,{T + 28_800_001_000},{FUNDING_20_DECIMALS},,,,,",
    f"binance-futures,BTCUSDT,{T + 57_600_000_000},,{T + 57_600_000_000},-0.00002000,,,,,",
]
TICKER_2024_01_02 = [
    TICKER_HEADER,
    f"binance-futures,BTCUSDT,{T + 86_400_000_000},,{T + 86_400_000_000},0.00010000,,,,,",
    f"binance-futures,BTCUSDT,{T + 86_400_000_000},,,,,77001.00000000,,,",
]


def binance_derivatives_tree(root: Path) -> Path:
    for day in (DAY, DAY + dt.timedelta(days=1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)):
        usdm_trades(root, "BTCUSDT", day)
    write_zip(root / UM / "monthly" / "fundingRate" / "BTCUSDT", "BTCUSDT-fundingRate-2024-01.zip", FUNDING_2024_01)
    metrics = root / UM / "daily" / "metrics" / "BTCUSDT"
    write_zip(metrics, "BTCUSDT-metrics-2023-12-31.zip", METRICS_2023_12_31)
    write_zip(metrics, "BTCUSDT-metrics-2024-01-01.zip", METRICS_2024_01_01)
    # February: metrics only (the month's funding file is not published yet).
    write_zip(metrics, "BTCUSDT-metrics-2024-02-01.zip", [
        METRICS_HEADER,
        "2024-02-01 00:05:00,BTCUSDT,80123.45600000,3400000000.00000000,1.1,1.2,1.3,1.4",
    ])
    return root


def test_binance_funding_and_metrics_become_one_sorted_ticker_file_per_day(tmp_path):
    vendor = binance_derivatives_tree(tmp_path / "binance")
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",))
    landing = tmp_path / "landing"
    name = "binance-futures_derivative_ticker_{}_BTCUSDT.csv.gz"
    for _ in range(2):  # idempotent: the same bytes, nothing left over
        report = stage_vendor_day_report(source, DAY, landing)
        assert gz_lines(landing / name.format(DAY)) == TICKER_2024_01_01
    detail = next(d for d in report.details if d["data_type"] == "derivative_ticker")
    assert (detail["rows"], detail["funding_rows"], detail["metrics_rows"], detail["duplicates_dropped"]) == (
        6, 3, 4, 1)
    assert detail["vendor_file"] == "; ".join(str(vendor / p) for p in (
        UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
        UM / "daily/metrics/BTCUSDT/BTCUSDT-metrics-2023-12-31.zip",
        UM / "daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip"))
    # The next day: its funding row from the month file, its midnight from the previous day's metrics file.
    stage_vendor_day(source, DAY + dt.timedelta(days=1), landing)
    assert gz_lines(landing / name.format(DAY + dt.timedelta(days=1))) == TICKER_2024_01_02
    # Metrics only.
    stage_vendor_day(source, dt.date(2024, 2, 1), landing)
    assert gz_lines(landing / name.format("2024-02-01")) == [
        TICKER_HEADER, "binance-futures,BTCUSDT,1706745900000000,,,,,80123.45600000,,,"]
    # Neither: no file, the day's trades still stage.
    staged = stage_vendor_day(source, dt.date(2024, 3, 1), landing)
    assert [p.name for p in staged] == ["binance-futures_trades_2024-03-01_BTCUSDT.csv.gz",
                                        "binance-futures_book_snapshot_1_2024-03-01_BTCUSDT.csv.gz"]
    assert not (landing / name.format("2024-03-01")).exists()
    assert not [p for p in landing.iterdir() if p.name.endswith(".partial")]


def test_binance_funding_only_day(tmp_path):
    vendor = binance_derivatives_tree(tmp_path / "binance")
    for metrics in (vendor / UM / "daily" / "metrics" / "BTCUSDT").iterdir():
        metrics.unlink()
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",),
                          datasets=("derivative_ticker",))
    stage_vendor_day(source, DAY, tmp_path / "landing")
    assert gz_lines(tmp_path / "landing" / f"binance-futures_derivative_ticker_{DAY}_BTCUSDT.csv.gz") == [
        line for line in TICKER_2024_01_01 if ",,,,,7" not in line]


@pytest.mark.parametrize(("kind", "name", "lines", "message"), [
    ("monthly/fundingRate", "BTCUSDT-fundingRate-2024-01.zip",
     [FUNDING_HEADER, "1704067200000,8,0.0001", "2024-01-01T08:00,8,0.0001"],
     "BTCUSDT-fundingRate-2024-01.zip: line 3: calc_time '2024-01-01T08:00' is not an integer"),
    ("monthly/fundingRate", "BTCUSDT-fundingRate-2024-01.zip",
     ["calc_time,funding_rate,funding_interval_hours", "1704067200000,0.0001,8"],
     "BTCUSDT-fundingRate-2024-01.zip: header 'calc_time,funding_rate,funding_interval_hours' is not the Binance "
     "usdm fundingRate header 'calc_time,funding_interval_hours,last_funding_rate'"),
    ("daily/metrics", "BTCUSDT-metrics-2024-01-01.zip",
     [METRICS_HEADER, "2024-01-01 00:05:00,ETHUSDT,1,2,3,4,5,6"],
     "BTCUSDT-metrics-2024-01-01.zip: line 2: symbol 'ETHUSDT', expected 'BTCUSDT'"),
    ("daily/metrics", "BTCUSDT-metrics-2024-01-01.zip",
     [METRICS_HEADER, "1704067500000,BTCUSDT,1,2,3,4,5,6"],
     "BTCUSDT-metrics-2024-01-01.zip: line 2: create_time '1704067500000' is not 'YYYY-MM-DD HH:MM:SS'"),
    ("daily/metrics", "BTCUSDT-metrics-2024-01-01.zip",
     [METRICS_HEADER, "2024-01-01 00:05:00,BTCUSDT,1,2"],
     "BTCUSDT-metrics-2024-01-01.zip: line 2 '2024-01-01 00:05:00,BTCUSDT,1,2' is not 8 plain fields"),
    ("daily/bookTicker", "BTCUSDT-bookTicker-2024-01-01.zip",
     ["update_id,bid_price,bid_qty,ask_price,ask_qty,transaction_time,event_time", *BOOK_TICKER_ROWS],
     "BTCUSDT-bookTicker-2024-01-01.zip: header 'update_id,bid_price,bid_qty,ask_price,ask_qty,transaction_time,"
     "event_time' is not the Binance usdm bookTicker header"),
])
def test_binance_derivatives_files_that_do_not_parse_are_refused_naming_the_file(tmp_path, kind, name, lines,
                                                                                   message):
    vendor = tmp_path / "binance"
    usdm_trades(vendor, "BTCUSDT", DAY)
    write_zip(vendor / UM / kind / "BTCUSDT", name, lines)
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",))
    landing = tmp_path / "landing"
    with pytest.raises(VendorFormatError) as err:
        stage_vendor_day(source, DAY, landing)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert not list(landing.glob("*_quotes_*")) + list(landing.glob("*_derivative_ticker_*"))


def test_a_bad_checksum_or_a_corrupt_zip_is_refused(tmp_path):
    vendor = tmp_path / "binance"
    usdm_trades(vendor, "BTCUSDT", DAY)
    folder = vendor / UM / "daily" / "bookTicker" / "BTCUSDT"
    zipped = write_zip(folder, f"BTCUSDT-bookTicker-{DAY}.zip", [BOOK_TICKER_HEADER, *BOOK_TICKER_ROWS],
                       checksum="bad")
    source = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",))
    landing = tmp_path / "landing"
    with pytest.raises(ChecksumError, match=rf"BTCUSDT-bookTicker-{DAY}\.zip: sha256 .* does not match"):
        stage_vendor_day(source, DAY, landing)
    assert not list(landing.glob("*_quotes_*"))
    # A zip damaged inside (its central directory intact, a deflate block flipped): refused when read,
    # not staged as a short day, even with checksums skipped.
    rows = [f"{i},42000.{i % 10},1.5,42000.{i % 10 + 1},2.5,{1704067200000 + i},{1704067200003 + i}"
            for i in range(5000)]
    write_zip(folder, zipped.name, [BOOK_TICKER_HEADER, *rows], checksum=None)
    damaged = bytearray(zipped.read_bytes())
    for i in range(len(damaged) // 2, len(damaged) // 2 + 64):
        damaged[i] ^= 0xFF
    zipped.write_bytes(bytes(damaged))
    skip = VendorSource(vendor="binance", market="usdm", path=str(vendor), symbols=("BTCUSDT",), checksums="skip")
    with pytest.raises(VendorFormatError, match=rf"BTCUSDT-bookTicker-{DAY}\.zip: corrupt or truncated archive"):
        stage_vendor_day(skip, DAY, landing)
    # Not a zip at all (a saved error page).
    funding = vendor / UM / "monthly" / "fundingRate" / "BTCUSDT" / "BTCUSDT-fundingRate-2024-01.zip"
    funding.parent.mkdir(parents=True)
    funding.write_bytes(b"<html>404 Not Found</html>")
    zipped.unlink()
    with pytest.raises(VendorFormatError, match="BTCUSDT-fundingRate-2024-01.zip: not a zip archive"):
        stage_vendor_day(skip, DAY, landing)
    assert not list(landing.glob("*_quotes_*")) + list(landing.glob("*_derivative_ticker_*"))
    assert not [p for p in landing.iterdir() if p.name.endswith(".partial")]


def test_binance_mirror_in_s3_with_checksums(tmp_path, seaweed, monkeypatch):
    """The data.binance.vision layout in a real bucket: listed, downloaded with each .CHECKSUM, verified, staged;
    a replaced object whose checksum no longer matches is refused."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    local = binance_derivatives_tree(tmp_path / "src")
    client = seaweed.client()
    client.create_bucket(Bucket="vision-mirror")
    for path in local.rglob("*"):
        if path.is_file():
            client.put_object(Bucket="vision-mirror", Key=f"mirror/{path.relative_to(local)}", Body=path.read_bytes())
    source = VendorSource(vendor="binance", market="usdm", path="s3://vision-mirror/mirror", symbols=("BTCUSDT",),
                          s3_endpoint_url=seaweed.endpoint_url, cache_dir=str(tmp_path / "cache"))
    landing = tmp_path / "landing"
    report = stage_vendor_day_report(source, DAY, landing)
    assert gz_lines(landing / f"binance-futures_derivative_ticker_{DAY}_BTCUSDT.csv.gz") == TICKER_2024_01_01
    ticker = next(d for d in report.details if d["data_type"] == "derivative_ticker")
    assert ticker["vendor_file"].split("; ")[0] == (
        "s3://vision-mirror/mirror/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip")
    # The funding file replaced in the bucket (its .CHECKSUM left as it was): refused.
    key = "mirror/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    other = write_zip(tmp_path / "other", "BTCUSDT-fundingRate-2024-01.zip", [FUNDING_HEADER, "1704067200000,8,0.5"],
                      checksum=None)
    client.put_object(Bucket="vision-mirror", Key=key, Body=other.read_bytes())
    with pytest.raises(ChecksumError, match=r"BTCUSDT-fundingRate-2024-01\.zip: sha256 .* does not match"):
        stage_vendor_day(source, DAY, tmp_path / "landing2")
