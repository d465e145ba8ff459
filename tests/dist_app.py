"""The Celery app of the distributed tests' workers: the project's own (`orchestration.lib.celery_app`), plus
one fault the kill test needs: TICKWH_TEST_PARK=<dataset>:<day>:<marker file>.

While `<marker>.armed` exists and `<marker>` does not, the load of <dataset> for <day> (in a ranged run, the days
before it loaded and committed) writes the marker (this worker's name and process group) and waits there to be
killed: a worker SIGKILLed in the middle of a raw load. The marker makes it happen once: the redelivered step
runs through.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import orchestration.defs.raw.assets as raw_assets
from orchestration.lib.celery_app import app, execute_plan  # noqa: F401  (the worker's app and task)

_PARK = os.environ.get("TICKWH_TEST_PARK", "")
if _PARK:
    _dataset, _day, _marker = _PARK.split(":", 2)
    _real_load_day = raw_assets.load_day

    def _parking_load_day(con: Any, root: Path, day: Any, dataset: str, **kw: Any) -> Any:
        armed = Path(_marker + ".armed").exists() and not Path(_marker).exists()
        if dataset == _dataset and str(day) == _day and armed:
            Path(_marker).write_text(json.dumps({"worker": os.environ.get("TICKWH_TEST_WORKER", ""),
                                                 "pgid": os.getpgid(0), "pid": os.getpid(), "day": str(day)}))
            time.sleep(600)
        return _real_load_day(con, root, day, dataset, **kw)

    raw_assets.load_day = _parking_load_day
