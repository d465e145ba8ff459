"""Where a day's vendor files come from (a folder or an S3 prefix) and how they reach the landing folder.

`VendorSource` is plain configuration; `stage_vendor_day` finds the day's files for each
symbol, verifies Binance checksums, and writes or links the canonical landing files the loader
reads. Nothing here knows about Dagster: `orchestration/defs/vendors/resources.py` wraps it in a resource.

Layouts searched under `path` (first match wins, `.zip` before an unzipped `.csv`):

    binance  data/<spot|futures/um>/daily/<trades|aggTrades>/<SYMBOL>/<SYMBOL>-<kind>-<day>.zip
             (the data.binance.vision tree; also found with `path` pointing below `data/`,
             or with all files in one flat folder). Klines: .../daily/klines/<SYMBOL>/1m/...
             USD-M datasets: data/futures/um/daily/<bookTicker|metrics>/<SYMBOL>/<SYMBOL>-<kind>-<day>.zip,
             data/futures/um/monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<YYYY-MM>.zip
    tardis   <exchange>_<data_type>_<day>_<SYMBOL>.csv.gz (what `tardis_dev.datasets.download`
             writes), or the datasets API tree <exchange>/<data_type>/<YYYY>/<MM>/<DD>/<SYMBOL>.csv.gz

Trades are required (a symbol-day without them is not published yet); book data follows
`book_data_types`; each of `datasets` (quotes, derivative_ticker, liquidations) is staged when the
vendor has it for the symbol-day and reported as absent otherwise (a day with the ticker but no
quotes loads what it has).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ingest.availability import days_in_names
from ingest.landing import (
    landing_file_name,
    parse_landing_name,
    replacing,
    same_compression_name,
    trades_file_name,
)
from ingest.names import InvalidNameError, canonical_symbol, shown, validate_exchange, validate_key
from ingest.vendors.binance import (
    EXCHANGE_BY_MARKET,
    ChecksumPolicy,
    Market,
    binance_file_name,
    binance_monthly_name,
    derivative_ticker_from_binance,
    normalise_book_ticker,
    normalise_trades,
    verify_checksum,
    write_empty_book_file,
)
from ingest.vendors.datasets import DERIVATIVE_TICKER, LIQUIDATIONS, QUOTES, VENDOR_DATASETS
from ingest.vendors.tardis import check_tardis_header, snapshots_from_incremental_l2

log = logging.getLogger(__name__)

Vendor = Literal["tardis", "binance"]
TARDIS_BOOK_TYPES = ("book_snapshot_25", "book_snapshot_5", "incremental_book_L2")


class VendorFileMissingError(FileNotFoundError):
    """A file the configuration says should exist for the day is not there (yet)."""


@dataclass(frozen=True)
class VendorSource:
    """One vendor feed: who publishes it, which market, where the files are, which symbols.

    vendor/market: `binance` + `spot` lands as exchange `binance`, `usdm` as `binance-futures`;
    for `tardis` the exchange is `exchange` or, by default, the same mapping.
    path: a local folder or `s3://bucket/prefix` (listed with boto3; `s3_endpoint_url` for
    MinIO/SeaweedFS; credentials from the usual AWS environment).
    symbols: venue symbols, upper case; empty means every symbol found for the day (a listing,
    so name them on big buckets).
    trades_kind (binance): `trades` (one row per fill: trade counts match klines) or
    `aggTrades` (fills at one price and time merged: OHLC and volumes match, counts do not).
    book_data_types (tardis): book sources in order of preference; the first one found for a
    symbol-day is staged. Empty: no book data (a header-only book file is written).
    datasets: which of quotes, derivative_ticker, liquidations to stage besides trades and books,
    each when the vendor has it for the symbol-day (Tardis files as they are; Binance USD-M
    bookTicker -> quotes, fundingRate + metrics -> derivative_ticker; Binance publishes no liquidations).
    checksums (binance): `require` a published `.CHECKSUM`/`SHA256SUMS`, check `if_present`, or `skip`.
    """

    vendor: Vendor
    market: Market = "usdm"
    path: str = ""
    symbols: tuple[str, ...] = ()
    exchange: str | None = None
    trades_kind: Literal["trades", "aggTrades"] = "trades"
    book_data_types: tuple[str, ...] = TARDIS_BOOK_TYPES
    datasets: tuple[str, ...] = VENDOR_DATASETS
    snapshot_depth: int = 25
    snapshot_interval_ms: int = 1000
    checksums: ChecksumPolicy = "require"
    s3_endpoint_url: str | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.vendor not in ("tardis", "binance"):
            raise ValueError(f"unknown vendor {self.vendor!r}: expected tardis or binance")
        if self.market not in EXCHANGE_BY_MARKET:
            raise ValueError(f"unknown market {self.market!r}: expected spot or usdm")
        if not self.path:
            raise ValueError("VendorSource.path is empty: give a folder or s3://bucket/prefix")
        # Vendor spellings (`BTC/USD`) become the warehouse's (`BTC-USD`) before any path is built.
        object.__setattr__(self, "symbols", tuple(canonical_symbol(s) for s in self.symbols))
        if self.path.startswith("s3://"):
            parse_s3_url(self.path)
        if self.exchange:
            validate_exchange(self.exchange)
        unknown = [t for t in self.book_data_types if t not in TARDIS_BOOK_TYPES]
        if unknown:
            hint = "; quotes are a dataset of their own now: list them in datasets" if QUOTES in unknown else ""
            raise ValueError(f"unknown book data types {unknown}: expected some of {TARDIS_BOOK_TYPES}{hint}")
        unknown = [t for t in self.datasets if t not in VENDOR_DATASETS]
        if unknown:
            raise ValueError(f"unknown datasets {unknown}: expected some of {VENDOR_DATASETS}")

    @property
    def exchange_id(self) -> str:
        return self.exchange or EXCHANGE_BY_MARKET[self.market]


# --------------------------------------------------------------------------------------------
# Stores: a local folder or an S3 prefix, addressed by keys relative to `path`
# --------------------------------------------------------------------------------------------


class Store(Protocol):
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def fetch(self, key: str) -> Path: ...
    def describe(self, key: str) -> str: ...


def _confined(root: Path, key: str, what: str) -> Path:
    """`root / key`, refused unless the key is a plain relative key that stays under `root`."""
    validate_key(key, what)
    path = (root / key).resolve()
    base = root.resolve()
    if path != base and base not in path.parents:
        raise InvalidNameError(f"invalid {what} {shown(key)}: resolves outside {base}")
    return path


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix with a trailing `/` or empty) of `s3://bucket/prefix`, both validated."""
    m = re.fullmatch(r"s3://([^/]+)/?(.*)", url)
    if not m:
        raise ValueError(f"not an s3:// URL: {shown(url)}")
    bucket, prefix = m.group(1), m.group(2).strip("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidNameError(f"invalid S3 bucket {shown(bucket)} in {shown(url)}")
    if prefix:
        validate_key(prefix, "S3 prefix")
    return bucket, f"{prefix}/" if prefix else ""


class LocalStore:
    """A folder: keys are relative paths, files are used where they are."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def exists(self, key: str) -> bool:
        return _confined(self.root, key, "vendor file key").is_file()

    def list(self, prefix: str) -> list[str]:
        folder = _confined(self.root, prefix, "vendor folder") if prefix else self.root
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.iterdir() if p.is_file())

    def fetch(self, key: str) -> Path:
        return _confined(self.root, key, "vendor file key")

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3Store:
    """An S3 prefix listed with boto3; objects are downloaded into `cache` before use.

    `client` is injectable (a client with other credentials or settings); otherwise a boto3 client is made with the
    standard credential chain and `endpoint_url`.
    """

    def __init__(self, url: str, cache: Path, endpoint_url: str | None = None, client: Any = None) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.cache = Path(cache)
        if client is None:
            import boto3

            # A fresh session: the default one caches the credentials it first resolved.
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url)
        self.client = client

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kwargs)
            keys += [obj["Key"][len(self.prefix) :] for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page.get("NextContinuationToken")

    def exists(self, key: str) -> bool:
        return validate_key(key, "S3 key") in self._keys(key)

    def list(self, prefix: str) -> list[str]:
        prefix = f"{prefix.rstrip('/')}/" if prefix else ""
        return sorted(k for k in self._keys(prefix) if "/" not in k[len(prefix) :])

    def fetch(self, key: str) -> Path:
        # Keys come from a listing of someone else's bucket: confined to the cache before any write.
        validate_key(key, "S3 key")
        target = _confined(self.cache, f"{self.bucket}/{self.prefix}{key}", "S3 key")
        with replacing(target) as tmp:
            self.client.download_file(self.bucket, self.prefix + key, str(tmp))
        return target

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


def open_store(source: VendorSource, landing_root: Path, s3_client: Any = None) -> Store:
    if source.path.startswith("s3://"):
        cache = Path(source.cache_dir) if source.cache_dir else Path(landing_root) / "_vendor_cache"
        return S3Store(source.path, cache, source.s3_endpoint_url, client=s3_client)
    return LocalStore(source.path)


# --------------------------------------------------------------------------------------------
# Finding files
# --------------------------------------------------------------------------------------------


def _binance_candidates(
    market: Market, kind: str, symbol: str, day: dt.date, interval: str | None, *, monthly: bool = False
) -> list[str]:
    market_dir = "spot" if market == "spot" else "futures/um"
    sub = f"klines/{symbol}/{interval}" if kind == "klines" else f"{kind}/{symbol}"
    period = "monthly" if monthly else "daily"
    out = []
    for ext in ("zip", "csv"):
        name = (binance_monthly_name(symbol, kind, day, ext=ext) if monthly
                else binance_file_name(symbol, kind, day, interval, ext=ext))
        out += [f"data/{market_dir}/{period}/{sub}/{name}", f"{market_dir}/{period}/{sub}/{name}",
                f"{period}/{sub}/{name}", f"{sub}/{name}", name]
    return out


def _tardis_candidates(exchange: str, data_type: str, symbol: str, day: dt.date) -> list[str]:
    out = []
    for ext in ("csv.gz", "csv"):
        out += [f"{exchange}_{data_type}_{day.isoformat()}_{symbol}.{ext}",
                f"{exchange}/{data_type}/{day:%Y/%m/%d}/{symbol}.{ext}"]
    return out


def _first(store: Store, candidates: Iterable[str]) -> str | None:
    return next((key for key in candidates if store.exists(key)), None)


def _fetch_binance(
    store: Store, source: VendorSource, kind: str, symbol: str, day: dt.date, interval: str | None
) -> tuple[str, Path, str | None]:
    """The first of the file's candidate keys that exists: (key, local file, verified sha256)."""
    candidates = _binance_candidates(source.market, kind, symbol, day, interval)
    key = _first(store, candidates)
    if key is None:
        what = f"{interval} klines" if kind == "klines" else kind
        raise VendorFileMissingError(
            f"binance {source.market} {what} for {symbol} {day}: none of {candidates[0]!r} (or the flat / "
            f"unzipped variants) under {source.path}"
        )
    return (key, *_fetch_verified(store, key, source.checksums))


def _fetch_binance_optional(
    store: Store, source: VendorSource, kind: str, symbol: str, day: dt.date, *, monthly: bool = False
) -> tuple[str, Path, str | None] | None:
    """`_fetch_binance` for a file the day can do without: None when no candidate key exists."""
    key = _first(store, _binance_candidates(source.market, kind, symbol, day, None, monthly=monthly))
    return None if key is None else (key, *_fetch_verified(store, key, source.checksums))


def _fetch_verified(store: Store, key: str, policy: ChecksumPolicy) -> tuple[Path, str | None]:
    """The file, local, with its sha256 checked against Binance's `.CHECKSUM` (or SHA256SUMS)."""
    local = store.fetch(key)
    if isinstance(store, S3Store) and policy != "skip":
        # Bring the checksum file along so verification reads it beside the download.
        for extra in (f"{key}.CHECKSUM", str(Path(key).with_name("SHA256SUMS"))):
            if store.exists(extra):
                store.fetch(extra)
                break
    return local, verify_checksum(local, policy)


def _discover_symbols(store: Store, source: VendorSource, data_type: str, day: dt.date) -> list[str]:
    """Symbols with a file of `data_type` for `day` in a flat folder (Tardis or Binance names).

    The data.binance.vision tree keeps one folder per symbol, so there the symbols must be listed.
    """
    found = set()
    if source.vendor == "tardis":
        for key in store.list(""):
            lf = parse_landing_name(Path(key))
            if lf and lf.day == day and lf.data_type == data_type and lf.exchange == source.exchange_id:
                found.add(lf.symbols)
    else:
        pattern = re.compile(rf"^([A-Z0-9]+)-{re.escape(data_type)}-{day.isoformat()}\.(zip|csv)\Z")
        for key in store.list(""):
            m = pattern.match(Path(key).name)
            if m:
                found.add(m.group(1))
    if not found:
        raise VendorFileMissingError(
            f"no {source.vendor} {data_type} files for {day} under {source.path}; list the symbols in the config"
        )
    return sorted(found)


def vendor_trade_days(source: VendorSource, landing_root: Path, *, s3_client: Any = None) -> set[dt.date]:
    """Days for which the source lists a trades file: its top folder, and for Binance the per-symbol
    folders of the data.binance.vision tree when symbols are configured. Tardis's nested
    `<exchange>/trades/Y/m/d/` tree is not walked (a listing per day); name such days explicitly."""
    store = open_store(source, landing_root, s3_client)
    if source.vendor == "tardis":
        return days_in_names(store.list(""), f"{source.exchange_id}_trades_")
    kind = source.trades_kind
    names = store.list("")
    market_dir = "spot" if source.market == "spot" else "futures/um"
    for symbol in source.symbols:
        for folder in (f"data/{market_dir}/daily/{kind}/{symbol}", f"{market_dir}/daily/{kind}/{symbol}",
                       f"daily/{kind}/{symbol}", f"{kind}/{symbol}"):
            names += store.list(folder)
    return days_in_names(names, f"-{kind}-")


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard link when possible (no copy of a multi-GB file), else copy; replaced atomically."""
    with replacing(dest) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


# --------------------------------------------------------------------------------------------
# Staging one day
# --------------------------------------------------------------------------------------------


@dataclass
class StagedDay:
    """What `stage_vendor_day` did: landing files written, per symbol, and notes for the UI."""

    day: dt.date
    files: list[Path] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


def stage_vendor_day(source: VendorSource, day: dt.date, landing_root: Path, *, s3_client: Any = None) -> list[Path]:
    """Find `day`'s vendor files, verify them, and write or link canonical landing files.

    Returns the landing paths written (trades and book files). Idempotent: a re-run replaces the
    same files atomically. A configured symbol without a trades file for the day is an error
    (the day is not published yet, or the path is wrong), never a silently short day.
    """
    return stage_vendor_day_report(source, day, landing_root, s3_client=s3_client).files


def stage_vendor_day_report(
    source: VendorSource, day: dt.date, landing_root: Path, *, s3_client: Any = None
) -> StagedDay:
    """`stage_vendor_day` with a per-file report (what the Dagster asset shows as metadata)."""
    landing_root = Path(landing_root)
    landing_root.mkdir(parents=True, exist_ok=True)
    store = open_store(source, landing_root, s3_client)
    out = StagedDay(day=day)
    if source.vendor == "binance":
        _stage_binance(source, store, day, landing_root, out)
    else:
        _stage_tardis(source, store, day, landing_root, out)
    return out


def _stage_binance(source: VendorSource, store: Store, day: dt.date, landing_root: Path, out: StagedDay) -> None:
    kind = source.trades_kind
    symbols = list(source.symbols) or _discover_symbols(store, source, kind, day)
    for symbol in symbols:
        key, local, sha = _fetch_binance(store, source, kind, symbol, day, None)
        nf = normalise_trades(local, landing_root, market=source.market, symbol=symbol, day=day, kind=kind,
                              sha256=sha)
        book = write_empty_book_file(landing_root, source.exchange_id, symbol, day)
        out.files += [nf.landing_path, book]
        out.details.append({
            "symbol": symbol, "data_type": "trades", "vendor_file": store.describe(key), "sha256": sha or "",
            "rows": nf.rows, "landing_file": nf.landing_path.name, "time_unit": nf.time_unit or "",
            "line_offset": nf.line_offset,
        })
        log.info("staged %s -> %s (%d rows)", key, nf.landing_path.name, nf.rows)
        _stage_binance_datasets(source, store, symbol, day, landing_root, out)


def _absent(out: StagedDay, symbol: str, data_type: str, why: str) -> None:
    """A dataset the vendor does not have for the symbol-day: reported, not an error."""
    out.details.append({"symbol": symbol, "data_type": data_type, "vendor_file": f"absent: {why}",
                        "landing_file": ""})
    log.info("%s %s %s: absent (%s)", out.day, symbol, data_type, why)


def _stage_binance_datasets(
    source: VendorSource, store: Store, symbol: str, day: dt.date, landing_root: Path, out: StagedDay
) -> None:
    """USD-M bookTicker -> quotes; fundingRate (the day's month) + metrics (the day and the day before, whose
    file may hold this day's midnight) -> derivative_ticker. Each file's checksum is verified like the trades'."""
    if source.market != "usdm":
        for data_type in source.datasets:
            _absent(out, symbol, data_type, f"Binance public data has no {source.market} {data_type}")
        return
    if QUOTES in source.datasets:
        found = _fetch_binance_optional(store, source, "bookTicker", symbol, day)
        if found is None:
            _absent(out, symbol, QUOTES, f"no {binance_file_name(symbol, 'bookTicker', day)} under {source.path}")
        else:
            key, local, sha = found
            nf = normalise_book_ticker(local, landing_root, symbol=symbol, day=day, sha256=sha)
            out.files.append(nf.landing_path)
            out.details.append({
                "symbol": symbol, "data_type": QUOTES, "vendor_file": store.describe(key), "sha256": sha or "",
                "rows": nf.rows, "landing_file": nf.landing_path.name, "time_unit": nf.time_unit or "",
                "line_offset": nf.line_offset,
            })
    if DERIVATIVE_TICKER in source.datasets:
        funding = _fetch_binance_optional(store, source, "fundingRate", symbol, day, monthly=True)
        metrics = [m for m in (_fetch_binance_optional(store, source, "metrics", symbol, d)
                               for d in (day - dt.timedelta(days=1), day)) if m is not None]
        if funding is None and not metrics:
            _absent(out, symbol, DERIVATIVE_TICKER,
                    f"neither {binance_monthly_name(symbol, 'fundingRate', day)} nor "
                    f"{binance_file_name(symbol, 'metrics', day)} under {source.path}")
        else:
            found = ([funding] if funding else []) + metrics
            made = derivative_ticker_from_binance(
                landing_root, symbol=symbol, day=day, funding=[funding[1]] if funding else [],
                metrics=[m[1] for m in metrics], sha256=[f[2] for f in found],
            )
            out.files.append(made.landing.landing_path)
            out.details.append({
                "symbol": symbol, "data_type": DERIVATIVE_TICKER,
                "vendor_file": "; ".join(store.describe(f[0]) for f in found),
                "sha256": "; ".join(f[2] or "" for f in found), "rows": made.landing.rows,
                "landing_file": made.landing.landing_path.name, "funding_rows": made.funding_rows,
                "metrics_rows": made.metrics_rows, "duplicates_dropped": made.duplicates_dropped,
            })
    if LIQUIDATIONS in source.datasets:
        _absent(out, symbol, LIQUIDATIONS, "Binance public data publishes no USD-M liquidations")


def _stage_tardis(source: VendorSource, store: Store, day: dt.date, landing_root: Path, out: StagedDay) -> None:
    exchange = source.exchange_id
    symbols = list(source.symbols) or _discover_symbols(store, source, "trades", day)
    for symbol in symbols:
        key = _first(store, _tardis_candidates(exchange, "trades", symbol, day))
        if key is None:
            raise VendorFileMissingError(
                f"tardis {exchange} trades for {symbol} {day}: no "
                f"{exchange}_trades_{day}_{symbol}.csv.gz under {source.path}"
            )
        local = store.fetch(key)
        dest = landing_root / same_compression_name(trades_file_name(exchange, day, symbol), key)
        _link_or_copy(local, dest)
        out.files.append(dest)
        out.details.append({"symbol": symbol, "vendor_file": store.describe(key), "data_type": "trades",
                            "landing_file": dest.name})
        _stage_tardis_book(source, store, exchange, symbol, day, landing_root, out)
        _stage_tardis_datasets(source, store, exchange, symbol, day, landing_root, out)


def _stage_tardis_datasets(
    source: VendorSource, store: Store, exchange: str, symbol: str, day: dt.date, landing_root: Path, out: StagedDay
) -> None:
    """Tardis quotes, derivative_ticker and liquidations: header checked to be exactly Tardis', then linked."""
    for data_type in source.datasets:
        key = _first(store, _tardis_candidates(exchange, data_type, symbol, day))
        if key is None:
            _absent(out, symbol, data_type, f"no {landing_file_name(exchange, data_type, day, symbol)} "
                                            f"under {source.path}")
            continue
        local = store.fetch(key)
        check_tardis_header(local, data_type, shown_as=store.describe(key))
        dest = landing_root / same_compression_name(landing_file_name(exchange, data_type, day, symbol), key)
        _link_or_copy(local, dest)
        out.files.append(dest)
        out.details.append({"symbol": symbol, "vendor_file": store.describe(key), "data_type": data_type,
                            "landing_file": dest.name})


def _stage_tardis_book(
    source: VendorSource, store: Store, exchange: str, symbol: str, day: dt.date, landing_root: Path, out: StagedDay
) -> None:
    if not source.book_data_types:
        dest = write_empty_book_file(landing_root, exchange, symbol, day)
        out.files.append(dest)
        out.details.append({"symbol": symbol, "data_type": "none (header-only book file)", "landing_file": dest.name})
        return
    for data_type in source.book_data_types:
        key = _first(store, _tardis_candidates(exchange, data_type, symbol, day))
        if key is None:
            continue
        local = store.fetch(key)
        if data_type == "incremental_book_L2":
            nf, _ = snapshots_from_incremental_l2(
                _tardis_named(local, exchange, data_type, day, symbol, landing_root / "_vendor_cache"), landing_root,
                depth=source.snapshot_depth, interval_ms=source.snapshot_interval_ms,
            )
            dest = nf.landing_path
        else:
            dest = landing_root / same_compression_name(landing_file_name(exchange, data_type, day, symbol), key)
            _link_or_copy(local, dest)
        out.files.append(dest)
        out.details.append({"symbol": symbol, "vendor_file": store.describe(key), "data_type": data_type,
                            "landing_file": dest.name})
        return
    raise VendorFileMissingError(
        f"tardis {exchange} {symbol} {day}: none of the book data types {list(source.book_data_types)} found under "
        f"{source.path} (set book_data_types to [] to load trades without book data)"
    )


def _tardis_named(local: Path, exchange: str, data_type: str, day: dt.date, symbol: str, work_dir: Path) -> Path:
    """The file under its Tardis flat name (API-tree files are `<SYMBOL>.csv.gz`), linked in `work_dir`.

    The normalisers read exchange, data type and day from the name; the vendor folder itself is
    never written to (it may be read-only or shared).
    """
    if parse_landing_name(local) is not None:
        return local
    named = Path(work_dir) / same_compression_name(landing_file_name(exchange, data_type, day, symbol), local.name)
    _link_or_copy(local, named)
    return named


# --------------------------------------------------------------------------------------------
# Klines (reference data, not staged into landing)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KlinesFile:
    path: Path
    exchange: str
    symbol: str
    day: dt.date
    sha256: str | None
    origin: str


def find_klines_files(
    source: VendorSource, day: dt.date, *, interval: str = "1m", work_dir: Path | None = None, s3_client: Any = None
) -> list[KlinesFile]:
    """The day's Binance klines files for the source's symbols, checksums verified."""
    if source.vendor != "binance":
        raise ValueError("klines are Binance data: configure a VendorSource with vendor='binance'")
    store = open_store(source, Path(work_dir or source.cache_dir or "."), s3_client)
    symbols = list(source.symbols) or _discover_symbols(store, source, interval, day)
    out = []
    for symbol in symbols:
        key, local, sha = _fetch_binance(store, source, "klines", symbol, day, interval)
        out.append(KlinesFile(local, source.exchange_id, symbol, day, sha, store.describe(key)))
    return out
