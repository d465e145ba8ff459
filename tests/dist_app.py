"""The Celery app of the distributed tests' workers: the project's own (`orchestration.lib.celery_app`), plus
the faults the tests need, each armed by a file the test creates.

TICKWH_TEST_PARK=<dataset>:<day>:<marker file>: while `<marker>.armed` exists and `<marker>` does not, the load
of <dataset> for <day> (in a ranged run, the days before it loaded and committed) writes the marker (this
worker's name and process group) and waits there (until `<marker>.release` exists, or 600 s) to be killed: a
worker SIGKILLed in the middle of a raw load; or, released, while the broker restarts under it.

TICKWH_TEST_PARK_DBT=<marker file>: the same for a dbt build, inside it: while `<marker>.armed` exists and
`<marker>` does not, the first model dbt reports finished (committed to the lake; the build's other models not
yet) writes the marker and holds dbt there until `<marker>.release` exists (or 600 s): the test kills the
worker, or stops a server, while a build is under way.

The marker makes each happen once: the redelivered (or rerun) step runs through.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import orchestration.defs.raw.assets as raw_assets
import orchestration.lib.dbt_in_process as dbt_in_process
from orchestration.lib.celery_app import app, execute_plan  # noqa: F401  (the worker's app and task)


def _announce(marker: str, **extra: Any) -> None:
    Path(marker).write_text(json.dumps({"worker": os.environ.get("TICKWH_TEST_WORKER", ""), "pgid": os.getpgid(0),
                                        "pid": os.getpid(), **extra}))


def _armed(marker: str) -> bool:
    return Path(marker + ".armed").exists() and not Path(marker).exists()


def _hold(marker: str) -> None:
    deadline = time.monotonic() + 600
    while not Path(marker + ".release").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


_PARK = os.environ.get("TICKWH_TEST_PARK", "")
if _PARK:
    _dataset, _day, _marker = _PARK.split(":", 2)
    _real_load_day = raw_assets.load_day

    def _parking_load_day(con: Any, root: Path, day: Any, dataset: str, **kw: Any) -> Any:
        if dataset == _dataset and str(day) == _day and _armed(_marker):
            _announce(_marker, day=str(day))
            _hold(_marker)
        return _real_load_day(con, root, day, dataset, **kw)

    raw_assets.load_day = _parking_load_day

_PARK_DBT = os.environ.get("TICKWH_TEST_PARK_DBT", "")
if _PARK_DBT:
    _real_emit = dbt_in_process.DbtProcess._emit

    def _parking_emit(self: Any, msg: Any) -> None:
        _real_emit(self, msg)
        if msg.info.name == "LogModelResult" and _armed(_PARK_DBT):
            _announce(_PARK_DBT, model=str(getattr(msg.data.node_info, "node_name", "")))
            _hold(_PARK_DBT)

    dbt_in_process.DbtProcess._emit = _parking_emit  # type: ignore[method-assign]
