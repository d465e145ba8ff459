"""Where things live by default. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest.cold.config import ColdStoreConfig, default_warm_days
from ingest.hot.client import HotTarget

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def var_dir() -> Path:
    """Generated state (data, warehouse, Dagster home); never committed."""
    return Path(os.environ.get("TICKWH_HOME", PROJECT_ROOT / "var"))


def ensure_dagster_home() -> Path:
    """$DAGSTER_HOME, set to <var>/dagster_home if unset, holding a link to the project's dagster.yaml
    (what `make dagster-home` does), so `tickwh demo` and `tickwh ui` share one instance."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(var_dir() / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(PROJECT_ROOT / "dagster.yaml")
    return home


def default_landing_root() -> str:
    return os.environ.get("TICKWH_LANDING_ROOT", str(var_dir() / "landing"))


# The first day a backfill can reach. Fixed at import: Dagster needs a static partitions set.
PARTITIONS_START = os.environ.get("TICKWH_PARTITIONS_START", "2020-01-01")


def dbt_executable() -> str:
    """The dbt of this interpreter's environment, so the venv need not be on PATH."""
    return str(Path(sys.executable).parent / "dbt")


def default_nats_url() -> str:
    """The NATS server of the live path (feed handler -> JetStream -> hot tier)."""
    return os.environ.get("TICKWH_NATS_URL", "nats://127.0.0.1:4222")


def default_chdb_path() -> str:
    """Embedded ClickHouse (chdb) directory of the hot tier, used when no server URL is set."""
    return os.environ.get("TICKWH_CHDB_PATH", str(var_dir() / "chdb"))


def clickhouse_url() -> str | None:
    """A ClickHouse server for the hot tier, `http(s)://user@host:8123/db`; unset means embedded chdb.

    The password is read from TICKWH_CLICKHOUSE_PASSWORD when connecting, never from config.
    """
    url = os.environ.get("TICKWH_CLICKHOUSE_URL") or None
    if url:
        HotTarget(url=url)  # refuses a password in the URL before Dagster shows it as resource config
    return url


def live_path_setting() -> bool | None:
    """TICKWH_LIVE: `1`/`true` the live path runs, `0`/`false` it does not, unset: decide from what exists.

    Decides whether the end-of-day check `hot_tier_matches_warm` evaluates (docs/live.md).
    """
    value = os.environ.get("TICKWH_LIVE", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ValueError(f"TICKWH_LIVE={value[:20]!r}: expected 1/true/on or 0/false/off (unset: auto)")
    return None


def default_cold_config() -> ColdStoreConfig:
    """The cold tier from TICKWH_COLD_* variables; a local directory `<var>/cold` if no endpoint is set.

    `python -m ingest.cold.seaweed run -- ...` sets TICKWH_COLD_ENDPOINT to its SeaweedFS server.
    """
    return ColdStoreConfig.from_env(var_dir())


# Days of raw ticks kept in the warm warehouse (older, archived days are dropped by warm_retention).
WARM_DAYS = default_warm_days()
