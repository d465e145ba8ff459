"""Every default of the warehouse, computed once: where things live, which endpoints, which windows.

`Settings.from_env()` reads the TICKWH_* variables (docs/layout.md lists them) and fills in each
default from one rule; the Dagster resources, the `tickwh` commands, the lake and the cold tier all
take their values from here. Each value passes its rule in `ingest/args.py` (shared with the
command-line arguments of the same meaning); a refused one raises `SettingError` naming the variable.
Plain Python importing only those rules: `ingest.lake` and `ingest.cold.config` build their configs
from a `Settings`, so this module sits below them.

Credentials are not settings: they stay in the environment (and Dagster `EnvVar`s) and are read
where the connection is made.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingest import args
from ingest.args import setting

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_COLD_BUCKET = "tickwh-cold"
DEFAULT_COLD_PREFIX = "warehouse"
DEFAULT_REGION = "us-east-1"
DEFAULT_WARM_DAYS = 30


def tickwh_home(environ: Mapping[str, str] | None = None) -> Path:
    """Generated state (landing files, lake, cold archive, Dagster home); never committed."""
    env = os.environ if environ is None else environ
    return setting(env, "TICKWH_HOME", args.path_text, PROJECT_ROOT / "var")


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
    vendor_datasets: str | None  # quotes,derivative_ticker,liquidations (comma list), `none`; None: all three
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
    # Execution past one machine (docs/deploy.md): in_process (one machine, the default) or celery (each
    # step a Celery task on a worker). The broker and result backend URLs may hold a password (redacted).
    executor: str
    celery_broker: str
    celery_backend: str
    celery_visibility_timeout_s: int  # a lost worker's step is redelivered after this; > the longest step
    # The landing zone on S3 (s3://bucket/prefix/): each raw load fetches its day's files into this home.
    landing_s3: str | None
    landing_s3_endpoint: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, home: str | Path | None = None) -> Settings:
        """Every setting, each checked by its rule (ingest/args.py); a refused value raises `SettingError`
        naming the variable and what is allowed, so every command fails with one line, never a traceback."""
        env = os.environ if environ is None else environ
        root = Path(home) if home is not None else tickwh_home(env)
        cold_endpoint = setting(env, "TICKWH_COLD_ENDPOINT", _cold_endpoint, None)
        cold_local = setting(env, "TICKWH_COLD_LOCAL_ROOT", _path, None)
        if not cold_endpoint and not cold_local:
            # A fresh checkout works without a server; `tickwh cold run` sets the endpoint.
            cold_local = str(root / "cold")
        book_exchanges = setting(env, "TICKWH_BOOK_EXCHANGES", _book_exchanges, "auto")
        live_setting = env.get("TICKWH_LIVE", "")
        setting(env, "TICKWH_LIVE", args.flag, None)  # checked now; `live` parses it on use
        return cls(
            home=root,
            landing_root=setting(env, "TICKWH_LANDING_ROOT", args.path_text, root / "landing"),
            book_exchanges=book_exchanges,
            lake_catalog=env.get("TICKWH_LAKE_CATALOG") or None,  # checked by ingest.lake (it may hold a password)
            lake_data=setting(env, "TICKWH_LAKE_DATA", _lake_data, None),
            lake_s3_endpoint=setting(env, "TICKWH_LAKE_S3_ENDPOINT", args.url("http", "https"), None),
            lake_s3_region=setting(env, "TICKWH_LAKE_S3_REGION", _region, None)
            or setting(env, "AWS_REGION", _region, DEFAULT_REGION),
            lake_keep_days=setting(env, "TICKWH_LAKE_KEEP_DAYS", KEEP_DAYS, DEFAULT_KEEP_DAYS),
            cold_endpoint=cold_endpoint,
            cold_bucket=setting(env, "TICKWH_COLD_BUCKET", args.bucket, DEFAULT_COLD_BUCKET),
            cold_prefix=_cold_prefix(env),
            cold_region=setting(env, "TICKWH_COLD_REGION", _region, None)
            or setting(env, "AWS_REGION", _region, DEFAULT_REGION),
            cold_local_root=cold_local,
            warm_days=setting(env, "TICKWH_WARM_DAYS", WARM_DAYS, DEFAULT_WARM_DAYS),
            nats_url=setting(env, "TICKWH_NATS_URL", args.url("nats", "tls"), "nats://127.0.0.1:4222"),
            clickhouse_url=setting(env, "TICKWH_CLICKHOUSE_URL", args.url("http", "https"), None),
            chdb_path=str(setting(env, "TICKWH_CHDB_PATH", args.path_text, root / "chdb")),
            live_setting=live_setting,
            vendor=setting(env, "TICKWH_VENDOR", args.one_of("tardis", "binance"), "tardis"),
            vendor_market=setting(env, "TICKWH_VENDOR_MARKET", args.one_of("spot", "usdm"), "usdm"),
            vendor_path=setting(env, "TICKWH_VENDOR_PATH", _vendor_path, ""),
            vendor_symbols=setting(env, "TICKWH_VENDOR_SYMBOLS", _text, ""),
            vendor_trades_kind=setting(env, "TICKWH_VENDOR_TRADES_KIND", args.one_of("trades", "aggTrades"), "trades"),
            vendor_exchange=setting(env, "TICKWH_VENDOR_EXCHANGE", _text, None),
            vendor_book_data_types=setting(env, "TICKWH_VENDOR_BOOK_DATA_TYPES", _text, None),
            vendor_datasets=setting(env, "TICKWH_VENDOR_DATASETS", _text, None),
            vendor_snapshot_depth=setting(env, "TICKWH_VENDOR_SNAPSHOT_DEPTH", SNAPSHOT_DEPTH, 25),
            vendor_snapshot_interval_ms=setting(env, "TICKWH_VENDOR_SNAPSHOT_INTERVAL_MS", SNAPSHOT_INTERVAL_MS, 1000),
            vendor_checksums=setting(env, "TICKWH_VENDOR_CHECKSUMS", _text, "require"),
            vendor_s3_endpoint=setting(env, "TICKWH_VENDOR_S3_ENDPOINT", args.url("http", "https"), None),
            vendor_cache_dir=setting(env, "TICKWH_VENDOR_CACHE_DIR", _path, None),
            binance_reference_market=setting(env, "TICKWH_BINANCE_REFERENCE_MARKET", args.one_of("spot", "usdm"),
                                             "usdm"),
            binance_reference_path=setting(env, "TICKWH_BINANCE_REFERENCE_PATH", _vendor_path, ""),
            binance_reference_symbols=setting(env, "TICKWH_BINANCE_REFERENCE_SYMBOLS", _text, ""),
            binance_reference_checksums=setting(env, "TICKWH_BINANCE_REFERENCE_CHECKSUMS", _text, "require"),
            binance_reference_s3_endpoint=setting(env, "TICKWH_BINANCE_REFERENCE_S3_ENDPOINT",
                                                  args.url("http", "https"), None),
            dagster_home=setting(env, "DAGSTER_HOME", args.path_text, root / "dagster_home"),
            partitions_start=setting(env, "TICKWH_PARTITIONS_START", args.day, PARTITIONS_START).isoformat(),
            catchup_interval_s=setting(env, "TICKWH_CATCHUP_INTERVAL_S", CATCHUP_INTERVAL_S, 3600),
            dbt_docs_url=setting(env, "TICKWH_DBT_DOCS_URL", args.url("http", "https"),
                                 "http://127.0.0.1:8580/dbt/index.html"),
            ui_url=setting(env, "TICKWH_UI_URL", args.url("http", "https"), "http://127.0.0.1:3000").rstrip("/"),
            alert_webhook_url=setting(env, "TICKWH_ALERT_WEBHOOK_URL", args.url("http", "https"), ""),
            alert_smtp_url=setting(env, "TICKWH_ALERT_SMTP_URL", args.url("smtp", "smtps"), ""),
            alert_email_to=setting(env, "TICKWH_ALERT_EMAIL_TO", _text, ""),
            alert_email_from=setting(env, "TICKWH_ALERT_EMAIL_FROM", _text, "tickwh@localhost"),
            feed_stall_s=setting(env, "TICKWH_FEED_STALL_S", FEED_STALL_S, 120.0),
            feed_metrics_port=setting(env, "TICKWH_FEED_METRICS_PORT", PORT, 0),
            hot_metrics_port=setting(env, "TICKWH_HOT_METRICS_PORT", PORT, 0),
            executor=setting(env, "TICKWH_EXECUTOR", args.one_of("in_process", "celery"), "in_process"),
            celery_broker=setting(env, "TICKWH_CELERY_BROKER", CELERY_URL, "redis://127.0.0.1:6379/0"),
            celery_backend=setting(env, "TICKWH_CELERY_BACKEND", CELERY_URL, "redis://127.0.0.1:6379/1"),
            celery_visibility_timeout_s=setting(env, "TICKWH_CELERY_VISIBILITY_TIMEOUT_S", VISIBILITY_TIMEOUT_S,
                                                3600),
            landing_s3=setting(env, "TICKWH_LANDING_S3", _s3_prefix_url, None),
            landing_s3_endpoint=setting(env, "TICKWH_LANDING_S3_ENDPOINT", args.url("http", "https"), None),
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


def _live(value: str) -> bool | None:
    return args.flag(value) if value else None


# The bounds of the numeric settings (their arguments, e.g. `lake maintain --keep-days`, use the same).
KEEP_DAYS = args.bounded_float(1, 3650)  # < 1 day would expire the snapshots a pinned backtest reads
WARM_DAYS = args.bounded_int(1, 36500)
CATCHUP_INTERVAL_S = args.bounded_int(1, 7 * 86_400)  # seconds between the catch-up sensor's ticks
DEFAULT_KEEP_DAYS = 30.0
PARTITIONS_START = args.day("2020-01-01")
PORT = args.bounded_int(0, 65535)  # 0: the endpoint is off
FEED_STALL_S = args.bounded_float(1, 86_400)  # seconds without a published trade before the feed is stalled
SNAPSHOT_DEPTH = args.bounded_int(1, 1000)
SNAPSHOT_INTERVAL_MS = args.bounded_int(1, 86_400_000)
CELERY_URL = args.url("redis", "rediss", "amqp", "amqps", "pyamqp")
VISIBILITY_TIMEOUT_S = args.bounded_int(5, 7 * 86_400)


def _s3_prefix_url(text: str) -> str:
    """s3://bucket/prefix/ with a valid bucket and prefix (the same rule as the vendor paths)."""
    from ingest.names import InvalidNameError
    from ingest.vendors.source import parse_s3_url

    if not text.startswith("s3://"):
        raise args.Invalid(f"{args.shown(text)} is not an S3 location: expected s3://bucket/prefix/")
    try:
        bucket, prefix = parse_s3_url(text)
    except (ValueError, InvalidNameError) as exc:
        raise args.Invalid(str(exc)) from None
    return f"s3://{bucket}/{prefix}"


def _cold_prefix(env: Mapping[str, str]) -> str:
    if "TICKWH_COLD_PREFIX" not in env:
        return DEFAULT_COLD_PREFIX
    return setting(env, "TICKWH_COLD_PREFIX", args.prefix, "")  # set and empty: no prefix


def _path(text: str) -> str:
    return str(args.path_text(text))


def _text(text: str) -> str:
    """Free text (lists checked by their users): no control characters."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise args.Invalid(f"{args.shown(text)} holds control characters")
    return text


def _vendor_path(text: str) -> str:
    return _text(text) if text.startswith("s3://") else _path(text)


def _lake_data(text: str) -> str:
    return _text(text) if text.startswith("s3://") else _path(text)


def _region(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{1,40}", text):
        raise args.Invalid(f"{args.shown(text)} is not a region name: lower-case letters, digits and '-'")
    return text


def _cold_endpoint(text: str) -> str:
    if text.startswith("file://"):
        return "file://" + _path(text.removeprefix("file://"))
    return args.url("http", "https")(text)


def _book_exchanges(text: str) -> str:
    from ingest.books import BookExpectation  # the rule lives with its users

    try:
        BookExpectation.parse(text)
    except ValueError as exc:
        raise args.Invalid(str(exc).removeprefix("TICKWH_BOOK_EXCHANGES: ")) from None
    return text
