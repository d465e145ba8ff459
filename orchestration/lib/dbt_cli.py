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
dagster-dbt also writes every line dbt prints to stdout (`stream_raw_events`, no switch): a START and
a PASS line per test, about 130 lines a build. `events()` here keeps them for `-v` and otherwise
logs one line per dbt command with its counts, and dbt's failure report in full when there is one.
And one thing it cannot do at all: give one invocation its own environment (the lake of the run's
warehouse resource, the partition window). `cli()` copies `os.environ` into the dbt process and
takes no `env`; the change that would add it was declined upstream in favour of setting the process
environment around the call (dagster-io/dagster#29656). `cli(env=...)` here does exactly that, in
one place, under a lock, and restores every variable afterwards; no other module sets `os.environ`.
"""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
import contextlib
import importlib.metadata
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource
from dagster_dbt.core import resource as dagster_dbt_resource
from packaging import version

from ingest.logs import verbose
from ingest.settings import dbt_executable
from orchestration.lib.dbt_in_process import ENV_LOCK, InProcessInvocation, environment
from orchestration.lib.dbt_parse_state import PARTIAL_PARSE

# The private dagster-dbt members this adapter replaces; tests/test_dbt_args.py checks they still exist.
PRIVATE_HOOKS = ("_cli_version", "_initialize_dbt_core_adapter")


class DbtResource(DbtCliResource):
    """`DbtCliResource` for this project's own dbt (see the module docstring for what differs)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if self._own_dbt:
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)  # another dbt: ask it

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None

    def cli(self, args: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any) -> DbtCliInvocation:
        """`DbtCliResource.cli`, plus `env`: variables for this dbt invocation only.

        This environment's own dbt runs inside this process (orchestration/lib/dbt_in_process.py);
        another executable runs as dagster-dbt starts it, a subprocess.
        """
        # dagster-dbt copies os.environ into the invocation's environment when it starts dbt.
        with _process_env(env or {}, in_process=self._own_dbt):
            return super().cli(args, **kwargs)

    @cached_property
    def _own_dbt(self) -> bool:
        return Path(self.dbt_executable).resolve() == Path(dbt_executable()).resolve()

    def events(self, invocation: DbtCliInvocation, log: Any, what: str) -> list[Any]:
        """Every Dagster event of `invocation`; dbt's own lines printed only with -v (TICKWH_VERBOSE).

        Without -v, `log` (the step's `context.log`) gets one line with the command's counts
        (`summary_line`) and, when a node failed or warned, dbt's own report of it in full.
        """
        if verbose():
            events = list(invocation.stream())
            log.info(summary_line(what, _results(invocation)))
            return events
        lines = io.StringIO()
        try:
            # dagster-dbt prints from the thread that iterates the stream: this one.
            with contextlib.redirect_stdout(lines):
                events = list(invocation.stream())
        except BaseException:
            log.error(f"{what}: dbt said:\n" + lines.getvalue().strip())
            raise
        results = _results(invocation)
        summary = summary_line(what, results)
        statuses = {str(r.get("status")) for r in results or []}
        if statuses & {"error", "fail", "runtime error"} or results is None and not invocation.is_successful():
            log.error(summary + "\n" + failure_report(lines.getvalue(), results))
        elif "warn" in statuses:
            log.warning(summary + "\n" + failure_report(lines.getvalue(), results))
        else:
            log.info(summary)
        return events

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




@contextmanager
def _process_env(values: Mapping[str, str], *, in_process: bool = False) -> Iterator[None]:
    """`values` in the environment dagster-dbt copies into the dbt invocation, then the previous values
    back; with `in_process`, dagster-dbt starts dbt through `InProcessInvocation` instead of a process."""
    with ENV_LOCK, environment(values):
        if in_process:
            dagster_dbt_resource.DbtCliInvocation = InProcessInvocation  # type: ignore[misc]
        try:
            yield
        finally:
            dagster_dbt_resource.DbtCliInvocation = DbtCliInvocation  # type: ignore[misc]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A node's run_results status that needs a reader's eye (dbt counts `fail` among its ERRORs).
_PROBLEM = ("error", "fail", "warn", "runtime error")
_COUNTED = {"success": "pass", "pass": "pass", "warn": "warn", "fail": "error", "error": "error",
            "runtime error": "error", "skipped": "skip", "no-op": "pass"}


def _results(invocation: DbtCliInvocation) -> list[dict[str, Any]] | None:
    """run_results.json's results, or None when dbt stopped before running a node (no file)."""
    path = invocation.target_path / "run_results.json" if invocation.target_path else None
    if path is None or not path.exists():
        return None
    return list(invocation.get_artifact("run_results.json").get("results", []))


def summary_line(what: str, results: list[dict[str, Any]] | None) -> str:
    """`<what>: 9 models, 46 tests: 55 pass, 0 warn, 0 error, 0 skip (29.8s in nodes)`, from run_results.json."""
    if results is None:
        return f"{what}: dbt stopped before running any node"
    kinds: dict[str, int] = {}
    counts = {"pass": 0, "warn": 0, "error": 0, "skip": 0}
    for r in results:
        kind = str(r.get("unique_id", "")).split(".", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        counts[_COUNTED.get(str(r.get("status")), "error")] += 1
    nodes = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in
                      sorted(kinds.items(), key=lambda kv: ("model", "test").index(kv[0])
                             if kv[0] in ("model", "test") else 2))
    seconds = sum(float(r.get("execution_time") or 0) for r in results)
    return (f"{what}: {nodes or 'no nodes'}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + f" ({seconds:.1f}s in nodes)")


def failure_report(output: str, results: list[dict[str, Any]] | None) -> str:
    """dbt's own account of what went wrong: from its `Completed with ...` section to the end, or
    (dbt stopped before any node: a compile or connection error) everything it printed; without
    either, each failed node's run_results message."""
    # dbt colours its lines unless DBT_USE_COLORS is off (ingest/logs.py turns it off when piped).
    lines = _ANSI.sub("", output).rstrip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Completed with")), None)
    if start is not None:
        return "\n".join(line for line in lines[start:] if not line.startswith("Done. PASS=")).strip()
    if results is None:
        return "\n".join(lines).strip()
    return "\n".join(f"{str(r.get('status')).upper()} {r.get('unique_id')}: {r.get('message')}"
                     for r in results if r.get("status") in _PROBLEM)
