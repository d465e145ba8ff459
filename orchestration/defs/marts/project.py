"""The dbt project and its manifest, prepared once and read by every module that needs the model list.

`@dbt_assets` needs a manifest when the code location loads. `tickwh demo`, `tickwh ui` and
`tickwh catchup` prepare it before loading (`prepare_manifest`); a process that imports the code
location without one (a fresh clone's test run) prepares it on first use, once. Under `dagster dev`
the models change while one works, so it is re-parsed there, as `DbtProject.prepare_if_dev()` does.
Not `prepare_if_dev()` itself: its preparer runs whichever `dbt` is first on PATH, and `make demo`
does not activate the venv, so that may be another dbt or none at all.

The profile names no path (the lake plugin reads TICKWH_LAKE_* when dbt connects), so the parse
state stays valid whichever lake a run points at.
"""

from __future__ import annotations

import functools
from pathlib import Path

from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import using_dagster_dev

from ingest import marts as ingest_marts
from ingest.settings import DBT_PROJECT_DIR, dbt_executable
from orchestration.lib.dbt_cli import DbtResource

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@functools.cache
def prepare_manifest() -> Path:
    """`target/manifest.json`, parsed by this environment's dbt if missing or older than the project
    (a pull that changed a model), or under `dagster dev`."""
    if using_dagster_dev() or ingest_marts.is_stale(dbt_project.manifest_path):
        DbtResource(project_dir=dbt_project, dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=dbt_project.target_path,
        ).wait()
    return dbt_project.manifest_path


def marts() -> list[str]:
    """Every model dbt builds into the `marts` schema, in name order (ingest.marts reads the manifest)."""
    return [m.name for m in ingest_marts.marts(prepare_manifest())]


def incremental_marts() -> list[str]:
    """The day-partitioned marts (materialized incremental), from the manifest."""
    return [m.name for m in ingest_marts.marts(prepare_manifest()) if m.materialized == "incremental"]


def dbt_resource() -> DbtResource:
    """The resource every job, test and benchmark uses: this project, this environment's dbt."""
    return DbtResource(project_dir=dbt_project, dbt_executable=dbt_executable())
