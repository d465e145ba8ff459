"""Entry point of one isolated benchmark process: ``python -m bench.worker <task> <params-json> <out-json>``.

The parent (``bench.common.run_worker``) watches this process tree's memory; the timings are
taken in here, around the work only, so interpreter start and imports are reported separately.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

_T_START = time.perf_counter()


def task_pipeline(p: dict[str, Any]) -> dict[str, Any]:
    from bench.pipeline_bench import run_pipeline_in_process

    return run_pipeline_in_process(p)


def task_floor(p: dict[str, Any]) -> dict[str, Any]:
    from bench.pipeline_bench import run_floor_in_process

    return run_floor_in_process(p)


def task_ohlcv(p: dict[str, Any]) -> dict[str, Any]:
    from bench.ohlcv_bench import run_ohlcv_in_process

    return run_ohlcv_in_process(p)


def task_research(p: dict[str, Any]) -> dict[str, Any]:
    from bench.research_bench import run_research_in_process

    return run_research_in_process(p)


def task_derivatives(p: dict[str, Any]) -> dict[str, Any]:
    from bench.derivatives_bench import run_derivatives_in_process

    return run_derivatives_in_process(p)


TASKS = {"pipeline": task_pipeline, "floor": task_floor, "ohlcv": task_ohlcv, "research": task_research,
         "derivatives": task_derivatives}


def main(argv: list[str]) -> int:
    task, params, out = argv[0], json.loads(argv[1]), Path(argv[2])
    result = TASKS[task](params)
    result["process_seconds_before_work"] = result.pop("_ready_at", time.perf_counter()) - _T_START
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
