"""A separate process for the lake tests: a real writer (or loader) the tests run beside, or kill -9.

`python -m tests.lake_worker pipeline <home> <first-day> <last-day>`: daily_pipeline over the days as one run.
`python -m tests.lake_worker load <home> <day> <dataset>`: one raw load only, nothing else.
The lake and the landing folder are those of `<home>`, like TICKWH_HOME (or the TICKWH_LAKE_* variables).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path


def pipeline(home: Path, first: dt.date, last: dt.date) -> int:
    from dagster import DagsterInstance

    from orchestration.definitions import build_defs
    from orchestration.lib.partitions import range_tags
    from orchestration.lib.resources import LandingZoneResource, WarehouseResource

    defs = build_defs({"warehouse": WarehouseResource.from_env(),
                       "landing": LandingZoneResource(root=str(home / "landing"))})
    job = defs.resolve_job_def("daily_pipeline")
    # An instance configured in DAGSTER_HOME (Postgres storage in the shared-deployment test), else a throwaway one.
    configured = (Path(os.environ.get("DAGSTER_HOME", "/nonexistent")) / "dagster.yaml").exists()
    with DagsterInstance.get() if configured else DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags=range_tags(first, last), raise_on_error=False)
    print(json.dumps({"success": result.success}))
    return 0 if result.success else 1


def load(home: Path, day: dt.date, dataset: str) -> int:
    from ingest import lake
    from ingest.loader import load_day

    with lake.connect() as con:
        report = load_day(con, home / "landing", day, dataset)
    print(json.dumps({"rows_loaded": report.rows_loaded}))
    return 0


def main(argv: list[str]) -> int:
    command, home = argv[0], Path(argv[1])
    if command == "pipeline":
        return pipeline(home, dt.date.fromisoformat(argv[2]), dt.date.fromisoformat(argv[3]))
    if command == "load":
        return load(home, dt.date.fromisoformat(argv[2]), argv[3])
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
