"""Where a vendor's files are: the `vendor_source` and `binance_reference` resources."""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
from dagster import ConfigurableResource
from pydantic import Field

from ingest.names import InvalidNameError, canonical_symbol
from ingest.settings import Settings
from ingest.vendors.datasets import VENDOR_DATASETS
from ingest.vendors.source import TARDIS_BOOK_TYPES, VendorSource


def _symbols(text: str, variable: str) -> list[str]:
    """A comma-separated symbol list, refused (naming the variable it came from) before any use."""
    try:
        return [canonical_symbol(s.strip()) for s in text.split(",") if s.strip()]
    except InvalidNameError as exc:
        raise InvalidNameError(f"{variable}: {exc}") from exc


class VendorSourceResource(ConfigurableResource):
    """Where a vendor's daily files are and which of them to take (see `ingest.vendors.source.VendorSource`).

    An empty `path` means "not configured": `vendor_landing` then fails with a clear message and
    `binance_klines_reference` skips.
    """

    vendor: str = Field(default="tardis", description="tardis or binance")
    market: str = Field(default="usdm", description="spot (exchange `binance`) or usdm (`binance-futures`)")
    path: str = Field(default="", description="folder or s3://bucket/prefix holding the vendor files")
    symbols: list[str] = Field(default_factory=list, description="symbols; empty = every symbol found (flat folders)")
    exchange: str | None = Field(default=None, description="tardis: exchange id, default from market")
    trades_kind: str = Field(default="trades", description="binance: trades or aggTrades")
    book_data_types: list[str] = Field(
        default_factory=lambda: list(TARDIS_BOOK_TYPES), description="tardis: book sources in order of preference"
    )
    datasets: list[str] = Field(
        default_factory=lambda: list(VENDOR_DATASETS),
        description="quotes, derivative_ticker, liquidations: staged when the vendor has them for the day",
    )
    snapshot_depth: int = Field(default=25, description="levels of snapshots rebuilt from incremental_book_L2")
    snapshot_interval_ms: int = Field(default=1000, description="cadence of snapshots rebuilt from incremental_book_L2")
    checksums: str = Field(default="require", description="binance: require, if_present or skip")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, SeaweedFS)")
    cache_dir: str | None = Field(default=None, description="where S3 downloads go; default <landing>/_vendor_cache")

    @property
    def configured(self) -> bool:
        return bool(self.path)

    def to_source(self, vendor: str | None = None) -> VendorSource:
        """The plain config; `vendor` overrides the field (the klines reference is Binance whatever it says)."""
        return VendorSource(
            vendor=vendor or self.vendor,  # type: ignore[arg-type]
            market=self.market,  # type: ignore[arg-type]
            path=self.path,
            symbols=tuple(self.symbols),
            exchange=self.exchange,
            trades_kind=self.trades_kind,  # type: ignore[arg-type]
            book_data_types=tuple(self.book_data_types),
            datasets=tuple(self.datasets),
            snapshot_depth=self.snapshot_depth,
            snapshot_interval_ms=self.snapshot_interval_ms,
            checksums=self.checksums,  # type: ignore[arg-type]
            s3_endpoint_url=self.s3_endpoint_url,
            cache_dir=self.cache_dir,
        )


def _book_data_types(text: str | None) -> list[str]:
    """TICKWH_VENDOR_BOOK_DATA_TYPES: a comma list in order of preference; `none`: trades only; unset: all."""
    if text is None:
        return list(TARDIS_BOOK_TYPES)
    if text.strip().lower() == "none":
        return []
    return [t.strip() for t in text.split(",") if t.strip()]


def _datasets(text: str | None) -> list[str]:
    """TICKWH_VENDOR_DATASETS: a comma list of quotes, derivative_ticker, liquidations; `none`: none; unset: all."""
    if text is None:
        return list(VENDOR_DATASETS)
    if text.strip().lower() == "none":
        return []
    return [t.strip() for t in text.split(",") if t.strip()]


def vendor_source_from_settings(settings: Settings) -> VendorSourceResource:
    """`vendor_source` from the TICKWH_VENDOR_* variables: one per field (docs/vendors.md)."""
    return VendorSourceResource(
        vendor=settings.vendor,
        market=settings.vendor_market,
        path=settings.vendor_path,
        symbols=_symbols(settings.vendor_symbols, "TICKWH_VENDOR_SYMBOLS"),
        exchange=settings.vendor_exchange,
        trades_kind=settings.vendor_trades_kind,
        book_data_types=_book_data_types(settings.vendor_book_data_types),
        datasets=_datasets(settings.vendor_datasets),
        snapshot_depth=settings.vendor_snapshot_depth,
        snapshot_interval_ms=settings.vendor_snapshot_interval_ms,
        checksums=settings.vendor_checksums,
        s3_endpoint_url=settings.vendor_s3_endpoint,
        cache_dir=settings.vendor_cache_dir,
    )


def binance_reference_from_settings(settings: Settings) -> VendorSourceResource:
    """`binance_reference` from the TICKWH_BINANCE_REFERENCE_* variables (S3 downloads cached where the
    vendor's are, TICKWH_VENDOR_CACHE_DIR); the fields that only trades and books have keep their defaults."""
    return VendorSourceResource(
        vendor="binance",
        market=settings.binance_reference_market,
        path=settings.binance_reference_path,
        symbols=_symbols(settings.binance_reference_symbols, "TICKWH_BINANCE_REFERENCE_SYMBOLS"),
        checksums=settings.binance_reference_checksums,
        s3_endpoint_url=settings.binance_reference_s3_endpoint,
        cache_dir=settings.vendor_cache_dir,
    )


def vendor_source_from_env() -> VendorSourceResource:
    return vendor_source_from_settings(Settings.from_env())


def binance_reference_from_env() -> VendorSourceResource:
    return binance_reference_from_settings(Settings.from_env())
