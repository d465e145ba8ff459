"""What every `tickwh` command that runs the pipeline needs first: a Dagster instance and a dbt manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from dagster import DagsterInstance, Definitions


def ensure_dagster_home(settings: Settings | None = None) -> Path:
    """The instance folder ($DAGSTER_HOME, default <TICKWH_HOME>/dagster_home) holding a link to the
    project's dagster.yaml (what `make dagster-home` does), so `tickwh demo` and `tickwh ui` share one."""
    home = (settings or Settings.from_env()).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(PROJECT_ROOT / "dagster.yaml")
    return home


def instance(settings: Settings | None = None) -> DagsterInstance:
    """The instance of `ensure_dagster_home`, opened without going through the process environment."""
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(ensure_dagster_home(settings)))


def prepare_manifest() -> Path:
    """The dbt manifest the code location loads, parsed by this environment's dbt when missing."""
    from orchestration.defs.marts.project import prepare_manifest as prepare

    return prepare()


def prepare_code_location() -> Definitions:
    """The dbt manifest prepared, then the code location."""
    prepare_manifest()
    from orchestration.definitions import defs

    return defs
