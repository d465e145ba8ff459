"""The dbt CLI resource of this project: dagster-dbt's `DbtCliResource` without two per-run costs.

A resource is built once per run, and on every `cli()` dagster-dbt (0.29) pays for:
  - `dbt --version` in a subprocess (a dbt interpreter start: 3-4 s on these machines) to learn
    whether the executable is dbt Core or Fusion. When the executable is this environment's own
    dbt, the installed dbt-core package gives the same answer without a process.
  - a dbt adapter handle with the project's macros loaded (1-2 s), used only by
    `fetch_column_metadata()` / `fetch_row_counts()`. These assets attach their own row counts
    and previews (orchestration/assets/dbt.py) and never call those, so no handle is built.
tests/test_dbt_args.py pins both hooks, so a dagster-dbt upgrade that renames them fails a test
instead of silently bringing the cost back.
"""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
import importlib.metadata
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.settings import dbt_executable


class DbtResource(DbtCliResource):
    """`DbtCliResource` for this project's own dbt (see the module docstring for what differs)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).resolve() == Path(dbt_executable()).resolve():
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # another dbt: ask it

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None


def dbt_resource() -> DbtResource:
    """The resource every job, test and benchmark uses: this project, this environment's dbt."""
    from orchestration.assets.dbt import dbt_project  # the prepared project; imported late, it imports us

    return DbtResource(project_dir=dbt_project, dbt_executable=dbt_executable())
