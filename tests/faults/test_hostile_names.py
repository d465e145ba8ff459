"""Row 3: hostile names, everywhere a name enters, are refused before any path or SQL is built.

Entry points: environment variables (symbols, exchanges, book exchanges, cold bucket and prefix),
Dagster resource config (what the launchpad edits), landing file names, vendor trees (folder
and a real SeaweedFS bucket), cold-store keys, the history API and NATS subjects. Each refusal
names the value; a jail of files is compared before and after to show nothing was written
outside it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from ingest.books import BookExpectation
from ingest.cold.config import ColdStoreConfig
from ingest.cold.layout import ColdTier
from ingest.cold.seaweed import SeaweedServer
from ingest.cold.store import ColdStoreError, LocalColdStore
from ingest.feed.codec import parse_subject, subject_for
from ingest.history import HistoricalData
from ingest.landing import LandingFileError, landing_file_name, trades_file_name
from ingest.loader import load_trades
from ingest.names import InvalidNameError, canonical_symbol, shown, validate_exchange, validate_key, validate_symbol
from ingest.vendors.source import S3Store, VendorSource, stage_vendor_day
from orchestration.defs.vendors.assets import vendor_landing
from orchestration.defs.vendors.resources import (
    VendorSourceResource,
    binance_reference_from_env,
    vendor_source_from_env,
)
from orchestration.lib.resources import LandingZoneResource
from tests.conftest import TRADES_HEADER
from tests.faults.conftest import files_under

DAY = dt.date(2024, 1, 1)
T0 = 1_704_067_200_000_000

# Names a path or key could be steered with. Each is tried at every entry point below.
HOSTILE = [
    "..",
    "../escape",
    "A/../../escape",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "A\\..\\escape",
    "BTC\x00USDT",
    "X" * 300,
    "A/B",
    ".hidden",
    "BTC..USDT",
    "BTC USDT';DROP TABLE raw.trades;--",
    "",
]
# Names real venues use: all accepted as they are, or mapped (`/`, `:`) to one path component.
REAL = ["BTCUSDT", "BTC-PERPETUAL", "ETH-27DEC24-3000-C", "BTC_USD", "1000PEPEUSDT", "BTC.PERP", "XBTUSD", "btcusdt"]
MAPPED = {"BTC/USD": "BTC-USD", "tBTCF0:USTF0": "tBTCF0-USTF0", "ETH/USDC:USDC": "ETH-USDC-USDC"}
# os.environ cannot hold NUL, and a comma splits the list: what an environment variable can carry.
ENV_HOSTILE = [h for h in HOSTILE if "\x00" not in h and h]
TRIED: list[tuple[str, str]] = []  # (entry point, value): counted in docs/reliability.md


def refused(entry: str, value: str, exc: BaseException) -> None:
    """The error names the value (shortened, as `shown` prints it)."""
    TRIED.append((entry, value))
    assert shown(value)[:40] in str(exc) or repr(value)[:40] in str(exc), (entry, value, str(exc))


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """The folder a component may write under; tmp_path around it must not change."""
    root = tmp_path / "jail" / "inner"
    root.mkdir(parents=True)
    (tmp_path / "untouched.txt").write_text("x")
    return root


def test_real_symbols_are_accepted_and_vendor_separators_mapped() -> None:
    assert [validate_symbol(s) for s in REAL] == REAL
    assert {raw: canonical_symbol(raw) for raw in MAPPED} == MAPPED
    for value in ("A/../../escape", "/etc/passwd", "A\\..\\escape"):
        with pytest.raises(InvalidNameError) as err:
            canonical_symbol(value)  # mapping never turns a traversal into a valid name
        refused("canonical_symbol", value, err.value)


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_validators_refuse_and_name_the_value(value: str) -> None:
    for entry, validate in (("symbol", validate_symbol), ("exchange", validate_exchange)):
        with pytest.raises(InvalidNameError) as err:
            validate(value)
        refused(entry, value, err.value)
    if value not in ("A/B", ".hidden", "BTC..USDT", "BTC USDT';DROP TABLE raw.trades;--", "X" * 300):
        with pytest.raises(InvalidNameError) as err:
            validate_key(value)
        refused("object key", value, err.value)


@pytest.mark.parametrize("value", ENV_HOSTILE, ids=range(len(ENV_HOSTILE)))
def test_environment_variables_are_refused_naming_the_variable(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if "," not in value:
        for var, build in (("TICKWH_VENDOR_SYMBOLS", vendor_source_from_env),
                           ("TICKWH_BINANCE_REFERENCE_SYMBOLS", binance_reference_from_env)):
            monkeypatch.setenv(var, f"BTCUSDT,{value}")
            if value == "A/B":  # a vendor spelling: mapped to one path component, not refused
                assert build().symbols == ["BTCUSDT", "A-B"]
                continue
            with pytest.raises(InvalidNameError, match=var) as err:
                build()
            refused(var, value, err.value)
            monkeypatch.delenv(var)
        monkeypatch.setenv("TICKWH_BOOK_EXCHANGES", f"binance,{value}")
        with pytest.raises(InvalidNameError, match="TICKWH_BOOK_EXCHANGES") as err:
            BookExpectation.from_env()
        refused("TICKWH_BOOK_EXCHANGES", value, err.value)
        monkeypatch.delenv("TICKWH_BOOK_EXCHANGES")  # every setting is checked at once: one hostile value at a time
    monkeypatch.setenv("TICKWH_COLD_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TICKWH_COLD_BUCKET", value)
    with pytest.raises(ValueError, match="bucket"):
        ColdStoreConfig.from_env()
    TRIED.append(("TICKWH_COLD_BUCKET", value))
    monkeypatch.delenv("TICKWH_COLD_ENDPOINT")
    monkeypatch.delenv("TICKWH_COLD_BUCKET")
    monkeypatch.setenv("TICKWH_COLD_LOCAL_ROOT", "/nonexistent-cold")
    if value not in ("A/B", "BTC..USDT", "X" * 300, "/etc/passwd", ".hidden"):  # legal prefixes: '/' is allowed
        monkeypatch.setenv("TICKWH_COLD_PREFIX", value)
        with pytest.raises((ValueError, ColdStoreError)):
            ColdStoreConfig.from_env().open()
        TRIED.append(("TICKWH_COLD_PREFIX", value))


@pytest.mark.parametrize("value", ["A/../../escape", "../escape", "/tmp/escape", "BTC\x00USDT", "X" * 300])
def test_resource_config_from_the_launchpad_is_refused_before_any_path(value: str, jail: Path) -> None:
    """vendor_landing with a hostile configured symbol: the run fails naming it; nothing is written."""
    outside = jail.parent.parent
    before = files_under(outside)
    vendor = jail / "vendor"
    vendor.mkdir()
    result = materialize(
        [vendor_landing],
        resources={
            "vendor_source": VendorSourceResource(vendor="binance", market="usdm", path=str(vendor), symbols=[value]),
            "landing": LandingZoneResource(root=str(jail / "landing")),
        },
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    cause = error.cause or error
    assert cause.cls_name == "InvalidNameError"
    message = cause.message
    refused("vendor_source.symbols (launchpad)", value, RuntimeError(message))
    assert files_under(outside) == before
    with pytest.raises(InvalidNameError):
        VendorSource(vendor="tardis", path=str(vendor), exchange=value if value != "X" * 300 else "X")
    TRIED.append(("vendor_source.exchange (launchpad)", value))


def _trades_gz(path: Path, symbol: str = "BTCUSDT") -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write(f"{TRADES_HEADER}\nsimex,{symbol},{T0 + 1},{T0 + 2},1,buy,100,1\n")
    return path


@pytest.mark.parametrize("part", ["..", ".hidden", "X" * 200, "A..B"])
def test_landing_file_names_with_hostile_parts_stop_the_load_naming_the_file(part: str, jail: Path) -> None:
    name = f"simex_trades_{DAY}_{part}.csv.gz"
    _trades_gz(jail / name)
    with duckdb.connect() as con, pytest.raises(LandingFileError) as err:
        load_trades(con, jail, DAY)
    assert name in str(err.value)
    refused("landing file name", part, err.value)
    for bad in ("../x", "A/B", "X" * 300):
        with pytest.raises(InvalidNameError):
            landing_file_name("simex", "trades", DAY, bad)
        TRIED.append(("landing_file_name()", bad))


def test_vendor_symbols_in_rows_are_mapped_or_quarantined(jail: Path) -> None:
    """Inside a landing file: `BTC/USD` loads as BTC-USD; a traversal is quarantined with its line."""
    path = jail / trades_file_name("simex", DAY)
    with gzip.open(path, "wt") as fh:
        fh.write(f"{TRADES_HEADER}\nsimex,BTC/USD,{T0 + 1},{T0 + 2},1,buy,100,1\n"
                 f"simex,A/../../x,{T0 + 3},{T0 + 4},2,buy,100,1\nsimex,{'Y' * 60},{T0 + 5},{T0 + 6},3,buy,1,1\n")
    with duckdb.connect() as con:
        report = load_trades(con, jail, DAY)
        assert report.rows_by_symbol == {"BTC-USD": 1}
        assert con.execute("SELECT source_line, rule FROM raw.quarantine ORDER BY 1").fetchall() == [
            (3, "invalid_name"), (4, "invalid_name")]
    TRIED.extend([("landing row symbol", "A/../../x"), ("landing row symbol", "Y" * 60)])


def test_vendor_folder_tree_listing_with_hostile_names_is_refused(jail: Path) -> None:
    vendor = jail / "vendor"
    vendor.mkdir()
    _trades_gz(vendor / f"binance-futures_trades_{DAY}_..csv.gz")
    source = VendorSource(vendor="tardis", path=str(vendor))  # no symbols: discovered from the listing
    with pytest.raises(LandingFileError, match=r"binance-futures_trades_2024-01-01_\.\.csv\.gz"):
        stage_vendor_day(source, DAY, jail / "landing")
    TRIED.append(("vendor folder listing", ".."))
    assert not (jail / "landing").exists() or not any((jail / "landing").iterdir())


def test_s3_vendor_keys_are_confined_to_the_cache(jail: Path, seaweed: SeaweedServer) -> None:
    """A real bucket: listed hostile names are refused; a traversal key is never downloaded."""
    client = seaweed.client()
    client.create_bucket(Bucket="vendor-hostile")
    body = _trades_gz(jail / "t.csv.gz").read_bytes()
    client.put_object(Bucket="vendor-hostile", Key=f"mirror/binance-futures_trades_{DAY}_..csv.gz", Body=body)
    outside = jail.parent.parent
    before = files_under(outside)
    source = VendorSource(vendor="tardis", path="s3://vendor-hostile/mirror", s3_endpoint_url=seaweed.endpoint_url,
                          cache_dir=str(jail / "cache"))
    with pytest.raises(LandingFileError, match=r"_\.\.csv\.gz"):
        stage_vendor_day(source, DAY, jail / "landing")
    store = S3Store("s3://vendor-hostile/mirror", jail / "cache", seaweed.endpoint_url)
    for key in ("../../../escape.csv.gz", "/etc/passwd", "a/./b", "a\\..\\b", "k\x00"):
        with pytest.raises(InvalidNameError) as err:
            store.fetch(key)
        refused("S3 vendor key", key, err.value)
    for url in ("s3://../x", "s3://UPPER/x", "s3://bucket/a/../b"):
        with pytest.raises((InvalidNameError, ValueError)):
            VendorSource(vendor="tardis", path=url)
        TRIED.append(("vendor s3 URL", url))
    after = files_under(outside)
    assert {f for f in after - before if not f.startswith("jail/inner/")} == set()


def test_cold_keys_and_prefixes_stay_under_the_store_root(jail: Path) -> None:
    store = LocalColdStore(jail / "cold")
    for key in ("../escape", "a/../../escape", "/etc/passwd", "a\\b", "k\x00", "a//b"):
        with pytest.raises(ColdStoreError) as err:
            store.put_bytes(key, b"x")
        refused("cold key", key, err.value)
    for prefix in ("..", "a/../..", "./a", "a/" + "p" * 600):
        with pytest.raises(ValueError):
            ColdTier(store, prefix)
        TRIED.append(("cold prefix", prefix))
    assert not (jail.parent / "escape").exists()


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_history_api_and_subjects_refuse_before_sql(value: str, jail: Path) -> None:
    api = HistoricalData(None, ColdTier(LocalColdStore(jail / "cold"), "warehouse"))
    with pytest.raises(InvalidNameError) as err:
        api.get_trades(value, DAY, DAY + dt.timedelta(days=1))
    refused("history symbol", value, err.value)
    with pytest.raises(InvalidNameError):
        api.get_trades("BTCUSDT", DAY, DAY + dt.timedelta(days=1), exchange=value)
    TRIED.append(("history exchange", value))
    with pytest.raises(InvalidNameError):
        subject_for("binance", value)
    TRIED.append(("NATS subject", value))


def test_subjects_round_trip_every_real_symbol() -> None:
    for symbol in REAL:
        assert parse_subject(subject_for("binance-futures", symbol)) == ("binance-futures", symbol)
    assert subject_for("bitmex", "XBT.USD") == "trades.bitmex.XBT_USD"
    assert subject_for("gate", "BTC_USDT") == "trades.gate.BTC~USDT"
    with pytest.raises(InvalidNameError):
        parse_subject("trades.binance.A/../x")


def published_count(name: str) -> int:
    """The figure docs/reliability.md publishes under `## Counts` as `- <name>: **N**`."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    m = re.search(rf"^- {re.escape(name)}: \*\*(\d+)\*\*", text, re.M)
    assert m, f"docs/reliability.md has no '- {name}: **N**' line"
    return int(m.group(1))


def test_count_of_hostile_inputs_tried(request: pytest.FixtureRequest) -> None:
    """Runs last in the module: the figure docs/reliability.md publishes must be what a full run tries."""
    here = [item for item in request.session.items if item.module is request.module]
    names = {item.originalname for item in here}
    every = {n for n in dir(request.module) if n.startswith("test_")}
    if names != every:
        pytest.skip(f"only {sorted(names)} selected: run the whole module to count")
    assert len(TRIED) == published_count("Hostile names tried"), TRIED
