"""The one adapter over dagster-dbt's `DbtCliResource` (0.29): what its public API cannot do yet.

Checked against dagster-dbt's public API (`DbtCliResource`, `DbtProject`, `prepare_if_dev`,
`DbtProjectPreparer`): none of the three needs below has a public hook, so each is done here, in
this one class, and tests/test_dbt_args.py pins the private names it touches, so a dagster-dbt
upgrade that renames them fails a test instead of silently bringing the cost back.

A resource is built once per run, and on every `cli()` dagster-dbt pays for:
  - `dbt --version` in a subprocess (`_cli_version`; a dbt interpreter start: 3-4 s on these
    machines) to learn whether the executable is dbt Core or Fusion. When the executable is this
    environment's own dbt, the installed dbt-core package gives the same answer without a process.
  - a dbt adapter handle with the project's macros loaded (`_initialize_dbt_core_adapter`, 1-2 s),
    used only by `fetch_column_metadata()` / `fetch_row_counts()`. These assets attach their own
    row counts and previews (orchestration/defs/marts/assets.py) and never call those.
  - a full re-parse of the project (2-3 s) whenever dbt finds no usable `partial_parse.msgpack`:
    dagster-dbt seeds each invocation's fresh target folder from `dbt_project/target`, which only
    `dbt parse` writes. `save_parse_state` copies a finished invocation's parse state back, so the
    next run re-parses only what changed (the window reaches dbt as env vars for the same reason,
    see orchestration/lib/dbt.py). dbt itself checks the file against project, profile and version.
And one thing it cannot do at all: give one invocation its own environment (the lake of the run's
warehouse resource, the partition window). `cli()` copies `os.environ` into the dbt process and
takes no `env`; the change that would add it was declined upstream in favour of setting the process
environment around the call (dagster-io/dagster#29656). `cli(env=...)` here does exactly that, in
one place, under a lock, and restores every variable afterwards; no other module sets `os.environ`.
"""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
import importlib.metadata
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource
from packaging import version

from ingest.settings import dbt_executable

PARTIAL_PARSE = "partial_parse.msgpack"
# The private dagster-dbt members this adapter replaces; tests/test_dbt_args.py checks they still exist.
PRIVATE_HOOKS = ("_cli_version", "_initialize_dbt_core_adapter")


class DbtResource(DbtCliResource):
    """`DbtCliResource` for this project's own dbt (see the module docstring for what differs)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).resolve() == Path(dbt_executable()).resolve():
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # another dbt: ask it

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None

    def cli(self, args: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any) -> DbtCliInvocation:
        """`DbtCliResource.cli`, plus `env`: variables for this dbt process only."""
        with _process_env(env or {}):  # dagster-dbt copies os.environ when it starts the process
            return super().cli(args, **kwargs)

    def save_parse_state(self, invocation: DbtCliInvocation) -> None:
        """Keep a finished invocation's `partial_parse.msgpack` as the project's, for the next run."""
        source = invocation.target_path / PARTIAL_PARSE
        # where dagster-dbt seeds each invocation from
        target_dir = Path(self.project_dir) / os.environ.get("DBT_TARGET_PATH", "target")
        if not source.exists() or not target_dir.is_dir():
            return
        # Runs may finish together: write aside and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".partial_parse.")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, target_dir / PARTIAL_PARSE)


_ENV_LOCK = threading.Lock()


@contextmanager
def _process_env(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the environment dagster-dbt copies into the dbt process, then the previous values back."""
    if not values:
        yield
        return
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ.update({k: v})
