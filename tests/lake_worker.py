"""A separate process for the lake tests: a real writer (or loader) the tests run beside, or kill -9.

`python -m tests.lake_worker pipeline <home> <first-day> <last-day>`: daily_pipeline over the days as one run.
`python -m tests.lake_worker load <home> <day> <dataset>`: one raw load only, nothing else.
`python -m tests.lake_worker reference <home> <day>...`: the days one after the other, each as its raw loads and
`dbt run` of its window, without Dagster or checks: what a sequential pipeline leaves in the raw tables and marts.
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


def reference(home: Path, days: list[dt.date]) -> int:
    import subprocess

    from ingest import lake
    from ingest.datasets import NAMES
    from ingest.loader import load_day
    from tests.dbt_state import seeded_target

    project = Path(__file__).resolve().parents[1] / "dbt_project"
    target = seeded_target(home / "dbt_target")
    for day in days:
        with lake.connect() as con:
            for dataset in NAMES:
                load_day(con, home / "landing", day, dataset)
        env = {**os.environ, "TICKWH_DBT_MIN_DATE": day.isoformat(),
               "TICKWH_DBT_MAX_DATE": (day + dt.timedelta(days=1)).isoformat()}
        dbt = Path(sys.executable).with_name("dbt")
        subprocess.run([str(dbt), "run", "--project-dir", str(project), "--profiles-dir", str(project),
                        "--target-path", str(target)], env=env, check=True, capture_output=True)
    print(json.dumps({"days": len(days)}))
    return 0


def main(argv: list[str]) -> int:
    command, home = argv[0], Path(argv[1])
    if command == "pipeline":
        return pipeline(home, dt.date.fromisoformat(argv[2]), dt.date.fromisoformat(argv[3]))
    if command == "load":
        return load(home, dt.date.fromisoformat(argv[2]), argv[3])
    if command == "reference":
        return reference(home, [dt.date.fromisoformat(d) for d in argv[2:]])
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
