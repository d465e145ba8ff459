"""Where things live by default. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def var_dir() -> Path:
    """Generated state (data, warehouse, Dagster home); never committed."""
    return Path(os.environ.get("TICKWH_HOME", PROJECT_ROOT / "var"))


def default_warehouse_path() -> str:
    return os.environ.get("TICKWH_DUCKDB_PATH", str(var_dir() / "warehouse.duckdb"))


def default_landing_root() -> str:
    return os.environ.get("TICKWH_LANDING_ROOT", str(var_dir() / "landing"))


# The first day a backfill can reach. Fixed at import: Dagster needs a static partitions set.
PARTITIONS_START = os.environ.get("TICKWH_PARTITIONS_START", "2020-01-01")


def dbt_executable() -> str:
    """The dbt of this interpreter's environment, so the venv need not be on PATH."""
    return str(Path(sys.executable).parent / "dbt")
