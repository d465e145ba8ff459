"""Every default of the warehouse, computed once: where things live, which endpoints, which windows.

`Settings.from_env()` reads the TICKWH_* variables (docs/layout.md lists them) and fills in each
default from one rule; the Dagster resources, the `tickwh` commands, the lake and the cold tier all
take their values from here. Plain Python with no project imports: `ingest.lake` and
`ingest.cold.config` build their configs from a `Settings`, so this module sits below them.

Credentials are not settings: they stay in the environment (and Dagster `EnvVar`s) and are read
where the connection is made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_COLD_BUCKET = "tickwh-cold"
DEFAULT_COLD_PREFIX = "warehouse"
DEFAULT_REGION = "us-east-1"
DEFAULT_WARM_DAYS = 30


def tickwh_home(environ: Mapping[str, str] | None = None) -> Path:
    """Generated state (landing files, lake, cold archive, Dagster home); never committed."""
    env = os.environ if environ is None else environ
    return Path(env.get("TICKWH_HOME") or PROJECT_ROOT / "var")


def dbt_executable() -> str:
    """The dbt of this interpreter's environment, so the venv need not be on PATH."""
    return str(Path(sys.executable).parent / "dbt")


@dataclass(frozen=True)
class Settings:
    """Every setting of one deployment; `from_env` is the only place that reads their variables."""

    home: Path
    landing_root: Path
    book_exchanges: str  # auto, all, none or a,b (ingest/books.py)
    # The warm lake; None means the embedded default under <home>/lake (ingest.lake.LakeConfig.embedded).
    lake_catalog: str | None
    lake_data: str | None
    lake_s3_endpoint: str | None
    lake_s3_region: str
    lake_keep_days: float  # snapshots younger than this stay readable with `as_of`
    # The cold tier: an S3 endpoint, or (no endpoint) a local directory, <home>/cold by default.
    cold_endpoint: str | None
    cold_bucket: str
    cold_prefix: str
    cold_region: str
    cold_local_root: str | None
    warm_days: int  # days of raw ticks kept warm once archived
    # The live path.
    nats_url: str
    clickhouse_url: str | None  # a ClickHouse server; None: embedded chdb at chdb_path
    chdb_path: str
    live_setting: str  # TICKWH_LIVE as given; `live` reads it
    # A vendor feeding the landing folder, and the exchange's klines as reference (docs/vendors.md).
    # Symbol lists stay text here: the resources check each symbol and name the variable it came from.
    vendor: str
    vendor_market: str
    vendor_path: str  # empty: no vendor configured
    vendor_symbols: str
    vendor_trades_kind: str
    vendor_exchange: str | None  # tardis: exchange id; None: from the market
    vendor_book_data_types: str | None  # tardis: comma list in order of preference, `none`; None: all, default order
    vendor_snapshot_depth: int
    vendor_snapshot_interval_ms: int
    vendor_checksums: str
    vendor_s3_endpoint: str | None
    vendor_cache_dir: str | None  # S3 downloads; None: <landing>/_vendor_cache
    binance_reference_market: str
    binance_reference_path: str
    binance_reference_symbols: str
    binance_reference_checksums: str
    binance_reference_s3_endpoint: str | None
    # Orchestration.
    dagster_home: Path
    partitions_start: str  # the first day a backfill can reach
    catchup_interval_s: int
    dbt_docs_url: str
    # Monitoring (docs/operations.md): where alerts go, the UI their links open, the live path's limits.
    # The SMTP password is a credential: TICKWH_ALERT_SMTP_PASSWORD, read where the mail is sent.
    ui_url: str  # the Dagster UI an alert links to (its runs and assets)
    alert_webhook_url: str  # empty: no webhook (Slack-compatible incoming webhook)
    alert_smtp_url: str  # smtp://[user@]host[:port] or smtps://...; empty: no e-mail
    alert_email_to: str  # comma-separated recipients
    alert_email_from: str
    feed_stall_s: float  # the live feed counts as stalled when nothing was published for this long
    feed_metrics_port: int  # /metrics of the feed handler; 0: off
    hot_metrics_port: int  # /metrics of the long-lived hot loader; 0: off

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, home: str | Path | None = None) -> Settings:
        env = os.environ if environ is None else environ
        root = Path(home) if home is not None else tickwh_home(env)
        cold_endpoint = env.get("TICKWH_COLD_ENDPOINT") or None
        cold_local = env.get("TICKWH_COLD_LOCAL_ROOT") or None
        if not cold_endpoint and not cold_local:
            # A fresh checkout works without a server; `tickwh cold run` sets the endpoint.
            cold_local = str(root / "cold")
        return cls(
            home=root,
            landing_root=Path(env.get("TICKWH_LANDING_ROOT") or root / "landing"),
            book_exchanges=env.get("TICKWH_BOOK_EXCHANGES") or "auto",
            lake_catalog=env.get("TICKWH_LAKE_CATALOG") or None,
            lake_data=env.get("TICKWH_LAKE_DATA") or None,
            lake_s3_endpoint=env.get("TICKWH_LAKE_S3_ENDPOINT") or None,
            lake_s3_region=env.get("TICKWH_LAKE_S3_REGION") or env.get("AWS_REGION") or DEFAULT_REGION,
            lake_keep_days=float(env.get("TICKWH_LAKE_KEEP_DAYS") or 30),
            cold_endpoint=cold_endpoint,
            cold_bucket=env.get("TICKWH_COLD_BUCKET") or DEFAULT_COLD_BUCKET,
            cold_prefix=env.get("TICKWH_COLD_PREFIX", DEFAULT_COLD_PREFIX),
            cold_region=env.get("TICKWH_COLD_REGION") or env.get("AWS_REGION") or DEFAULT_REGION,
            cold_local_root=cold_local,
            warm_days=int(env.get("TICKWH_WARM_DAYS") or DEFAULT_WARM_DAYS),
            nats_url=env.get("TICKWH_NATS_URL") or "nats://127.0.0.1:4222",
            clickhouse_url=env.get("TICKWH_CLICKHOUSE_URL") or None,
            chdb_path=env.get("TICKWH_CHDB_PATH") or str(root / "chdb"),
            live_setting=env.get("TICKWH_LIVE", ""),
            vendor=env.get("TICKWH_VENDOR", "tardis"),
            vendor_market=env.get("TICKWH_VENDOR_MARKET", "usdm"),
            vendor_path=env.get("TICKWH_VENDOR_PATH", ""),
            vendor_symbols=env.get("TICKWH_VENDOR_SYMBOLS", ""),
            vendor_trades_kind=env.get("TICKWH_VENDOR_TRADES_KIND", "trades"),
            vendor_exchange=env.get("TICKWH_VENDOR_EXCHANGE") or None,
            vendor_book_data_types=env.get("TICKWH_VENDOR_BOOK_DATA_TYPES") or None,
            vendor_snapshot_depth=int(env.get("TICKWH_VENDOR_SNAPSHOT_DEPTH") or 25),
            vendor_snapshot_interval_ms=int(env.get("TICKWH_VENDOR_SNAPSHOT_INTERVAL_MS") or 1000),
            vendor_checksums=env.get("TICKWH_VENDOR_CHECKSUMS") or "require",
            vendor_s3_endpoint=env.get("TICKWH_VENDOR_S3_ENDPOINT") or None,
            vendor_cache_dir=env.get("TICKWH_VENDOR_CACHE_DIR") or None,
            binance_reference_market=env.get("TICKWH_BINANCE_REFERENCE_MARKET", "usdm"),
            binance_reference_path=env.get("TICKWH_BINANCE_REFERENCE_PATH", ""),
            binance_reference_symbols=env.get("TICKWH_BINANCE_REFERENCE_SYMBOLS", ""),
            binance_reference_checksums=env.get("TICKWH_BINANCE_REFERENCE_CHECKSUMS") or "require",
            binance_reference_s3_endpoint=env.get("TICKWH_BINANCE_REFERENCE_S3_ENDPOINT") or None,
            dagster_home=Path(env.get("DAGSTER_HOME") or root / "dagster_home"),
            partitions_start=env.get("TICKWH_PARTITIONS_START") or "2020-01-01",
            catchup_interval_s=int(env.get("TICKWH_CATCHUP_INTERVAL_S") or 3600),
            dbt_docs_url=env.get("TICKWH_DBT_DOCS_URL") or "http://127.0.0.1:8580/dbt/index.html",
            ui_url=(env.get("TICKWH_UI_URL") or "http://127.0.0.1:3000").rstrip("/"),
            alert_webhook_url=env.get("TICKWH_ALERT_WEBHOOK_URL", ""),
            alert_smtp_url=env.get("TICKWH_ALERT_SMTP_URL", ""),
            alert_email_to=env.get("TICKWH_ALERT_EMAIL_TO", ""),
            alert_email_from=env.get("TICKWH_ALERT_EMAIL_FROM") or "tickwh@localhost",
            feed_stall_s=float(env.get("TICKWH_FEED_STALL_S") or 120),
            feed_metrics_port=_port(env, "TICKWH_FEED_METRICS_PORT"),
            hot_metrics_port=_port(env, "TICKWH_HOT_METRICS_PORT"),
        )

    @property
    def monitoring_dir(self) -> Path:
        """The monitoring's state: open incidents, the hot tier's published stream position."""
        return self.home / "monitoring"

    @property
    def live(self) -> bool | None:
        """Does the live path run? None: decide from what exists (docs/live.md).

        Parsed on use, so a bad value fails the hot tier's resource, not every reader of the settings.
        """
        return _live(self.live_setting)

    @property
    def docs_dir(self) -> Path:
        return self.home / "docs"


def _port(env: Mapping[str, str], name: str) -> int:
    """A TCP port from the environment; unset or empty means 0 (the endpoint is off)."""
    value = (env.get(name) or "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"{name}={value[:20]!r}: expected a TCP port number (unset: off)")
    return int(value)


def _live(value: str) -> bool | None:
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ValueError(f"TICKWH_LIVE={value[:20]!r}: expected 1/true/on or 0/false/off (unset: auto)")
    return None
