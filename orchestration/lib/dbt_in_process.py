"""dbt run inside the run's own process (dbt's programmatic `dbtRunner`), behind dagster-dbt's invocation.

Why: a `dbt build` subprocess pays a Python start and dbt's imports (3-5 s on these machines) before
it runs a node, on every run; a launched run already has dbt imported (dagster-dbt imports it), and a
test process pays the imports once. dagster-dbt reads its subprocess through a few `Popen` members
(`stdout` lines of dbt's JSON log, `wait`, `returncode`, `args`, `send_signal`); `DbtProcess` below
offers those, fed by a dbtRunner callback on a thread, so everything dagster-dbt does with the lines
(asset and check events, errors, run_results.json) is unchanged. `InProcessInvocation.run` is
`DbtCliInvocation.run` with this in place of `subprocess.Popen`; orchestration/lib/dbt_cli.py uses it
only for this environment's own dbt (another executable still runs as a process).

What differs from a subprocess, and how it is held:
  - the environment dagster-dbt built for the process is dbt's `os.environ` while it runs (dbt reads
    flags and `env_var()` from it); only one dbt runs at a time in a process (`ENV_LOCK`);
  - dbt-duckdb keeps its DuckDB environment in a class attribute across invocations: it is closed
    after each build, so the next build attaches the lake its own environment names;
  - a run that is interrupted waits for dbt to finish its node (a thread cannot be signalled).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from dagster_dbt import DbtCliInvocation

from orchestration.lib.dbt_parse_state import seed_parse_state

# Held while a dbt invocation's environment is os.environ: by `DbtResource.cli` while dagster-dbt
# copies it, and here for a whole in-process build (the thread starts under the caller's hold, so it
# applies its environment only after the caller has put the previous values back).
ENV_LOCK = threading.Lock()
# dbt's stdout shows info and above by default; the debug events (every SQL statement) stay out.
_SHOWN_LEVELS = frozenset({"info", "warn", "error"})


class _Lines:
    """`Popen.stdout` for dagster-dbt: dbt's JSON log lines as bytes, until dbt is done."""

    def __init__(self, lines: queue.SimpleQueue[bytes | None]) -> None:
        self._lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            line = self._lines.get()
            if line is None:
                self.closed = True
                return
            yield line

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


class DbtProcess:
    """The members of `subprocess.Popen` that dagster-dbt uses, for dbt run by `dbtRunner` on a thread."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.args = list(args)
        # dbt's own console log would print every line to this process's stdout; the callback has them.
        env = {**env, "DBT_LOG_LEVEL": "none"}
        self.returncode: int | None = None
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.stdout = _Lines(self._lines)
        self._thread = threading.Thread(target=self._run, args=(dict(env),), name="dbt", daemon=True)
        self._thread.start()

    def _emit(self, msg: Any) -> None:
        if msg.info.level not in _SHOWN_LEVELS:
            return
        from dbt_common.events.functions import msg_to_dict

        self._lines.put(orjson.dumps(msg_to_dict(msg)))

    def _error(self, text: str) -> None:
        self._lines.put(orjson.dumps({"info": {"level": "error", "msg": text, "name": "InProcessError"},
                                      "data": {}}))

    def _run(self, env: dict[str, str]) -> None:
        code = 2
        try:
            with ENV_LOCK, environment(env):
                try:
                    from dbt.cli.main import dbtRunner

                    result = dbtRunner(callbacks=[self._emit]).invoke(self.args[1:])
                    if result.exception is not None:
                        self._error(f"dbt: {result.exception}")
                    code = 0 if result.success else (2 if result.exception is not None else 1)
                finally:
                    _close_duckdb_environment()
        except BaseException as exc:  # whatever dbt raised must end the stream, not hang the step
            self._error(f"dbt: {type(exc).__name__}: {exc}")
        finally:
            self.returncode = code
            self._lines.put(None)

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return int(self.returncode if self.returncode is not None else 2)

    def poll(self) -> int | None:
        return None if self._thread.is_alive() else self.returncode

    def send_signal(self, sig: int) -> None:
        """A thread cannot be signalled: dbt finishes the node it is on (see the module docstring)."""


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in `os.environ`, then the previous values back (callers hold `ENV_LOCK`)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _close_duckdb_environment() -> None:
    """Close dbt-duckdb's cached DuckDB (and the lake it attached), which it keeps for the next build."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


class InProcessInvocation(DbtCliInvocation):
    """`DbtCliInvocation` whose dbt runs in this process (`DbtProcess`)."""

    @classmethod
    def run(  # type: ignore[override]
        cls, args: Sequence[str], env: dict[str, str], manifest: Mapping[str, Any], dagster_dbt_translator: Any,
        project_dir: Path, target_path: Path, raise_on_error: bool, context: Any, adapter: Any,
        cli_version: Any, dbt_project: Any = None,
    ) -> DbtCliInvocation:
        # As DbtCliInvocation.run: seed the invocation's target folder with the project's parse state.
        seed = Path(os.environ.get("DBT_TARGET_PATH", "target"))
        seed_parse_state(seed if seed.is_absolute() else project_dir / seed, target_path)
        return cls(
            process=DbtProcess(args, env),  # type: ignore[arg-type]
            manifest=manifest, project=dbt_project, dagster_dbt_translator=dagster_dbt_translator,
            project_dir=project_dir, target_path=target_path, raise_on_error=raise_on_error,
            context=context, adapter=adapter, cli_version=cli_version,
        )
