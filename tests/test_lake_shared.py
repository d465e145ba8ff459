"""The shared deployment, for real: DuckLake catalog in PostgreSQL, data files on S3 (SeaweedFS),
Dagster's run, event and schedule storage in the same PostgreSQL. Configuration only: the code is the
embedded default's, pointed elsewhere by TICKWH_LAKE_* and dagster.yaml.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import secrets
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ingest import lake
from ingest.cold.seaweed import SeaweedServer
from ingest.history import HistoricalData
from ingest.simulator import simulate_days
from tests.pg_server import Postgres, running_postgres

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2024, 6, 3)
DAYS = [START, START + dt.timedelta(days=1)]
BUCKET = "tickwh-lake"

DAGSTER_YAML = """
storage:
  postgres:
    postgres_url:
      env: TICKWH_DAGSTER_PG_URL
telemetry:
  enabled: false
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, SeaweedServer]]:
    key, secret = "lake" + secrets.token_hex(4), secrets.token_urlsafe(18)
    with running_postgres(tmp_path_factory.mktemp("pg") / "data", ["tickwh_lake", "dagster"]) as pg:
        s3 = SeaweedServer(tmp_path_factory.mktemp("seaweed"), access_key=key, secret_key=secret).start()
        try:
            s3.client().create_bucket(Bucket=BUCKET)
            yield pg, s3
        finally:
            s3.stop(timeout=1.0)


def shared_env(pg: Postgres, s3: SeaweedServer, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_LAKE_", "AWS_"))}
    return {
        **env,
        "TICKWH_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "TICKWH_LAKE_CATALOG": "postgres:" + pg.conninfo("tickwh_lake"),
        "TICKWH_LAKE_DATA": f"s3://{BUCKET}/warehouse/",
        "TICKWH_LAKE_S3_ENDPOINT": s3.endpoint_url,
        "TICKWH_LAKE_S3_ACCESS_KEY_ID": s3.access_key or "",
        "TICKWH_LAKE_S3_SECRET_ACCESS_KEY": s3.secret_key or "",
        "TICKWH_DAGSTER_PG_URL": pg.url("dagster"),
    }


def bars_from_landing(landing: Path) -> dict[tuple[str, dt.datetime], tuple[int, Decimal]]:
    """(symbol, minute) -> (trade count, volume), straight from the vendor files."""
    out: dict[tuple[str, dt.datetime], list] = defaultdict(lambda: [0, Decimal(0)])
    for path in sorted(landing.glob("*_trades_*.csv.gz")):
        with gzip.open(path, "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                ts = dt.datetime.fromtimestamp(int(row["timestamp"]) / 1e6, dt.UTC).replace(tzinfo=None)
                slot = out[(row["symbol"], ts.replace(second=0, microsecond=0))]
                slot[0] += 1
                slot[1] += Decimal(row["amount"])
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_daily_pipeline_on_postgres_and_s3_with_dagster_storage_on_postgres(servers, tmp_path: Path) -> None:
    pg, s3 = servers
    home = tmp_path
    (home / "dagster_home").mkdir()
    (home / "dagster_home" / "dagster.yaml").write_text(DAGSTER_YAML)
    simulate_days(START, len(DAYS), home / "landing", seed=3, trades_per_day=10_000, snapshot_interval_ms=60_000)
    env = shared_env(pg, s3, home)

    proc = subprocess.run(
        [sys.executable, "-m", "tests.lake_worker", "pipeline", str(home), DAYS[0].isoformat(), DAYS[1].isoformat()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert s3.secret_key not in proc.stdout + proc.stderr  # the credential never reaches a log line

    config = lake.LakeConfig(
        catalog=env["TICKWH_LAKE_CATALOG"], data_path=env["TICKWH_LAKE_DATA"], s3_endpoint=s3.endpoint_url,
        s3_access_key_id=s3.access_key, s3_secret_access_key=s3.secret_key,
    )
    expected = bars_from_landing(home / "landing")
    with lake.connect(config, read_only=True) as con:
        got = {
            (sym, ts): (n, vol)
            for sym, ts, n, vol in con.execute(
                "SELECT symbol, bucket_start, trade_count, volume FROM marts.ohlcv_1m"
            ).fetchall()
        }
        trades = con.execute("SELECT count(*) FROM raw.trades").fetchone()[0]
        stats_days = con.execute("SELECT count(DISTINCT bar_date) FROM marts.daily_stats").fetchone()[0]
        snapshot = lake.current_snapshot(con)
    assert got == expected
    assert trades == 20_000 and stats_days == 2

    # The data are on S3, not on this disk.
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix="warehouse/")["Contents"]]
    assert any(k.endswith(".parquet") and "/trades/" in k for k in keys)
    assert not (home / "lake").exists()

    # Dagster's runs and events are in PostgreSQL.
    from dagster import DagsterInstance, DagsterRunStatus

    with pytest.MonkeyPatch.context() as patch:
        for k in ("DAGSTER_HOME", "TICKWH_DAGSTER_PG_URL"):
            patch.setenv(k, env[k])
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            runs = instance.get_runs()
            assert [(r.job_name, r.status) for r in runs] == [("daily_pipeline", DagsterRunStatus.SUCCESS)]

    # Readers on other machines need only the same settings; pinning works the same way.
    api = HistoricalData(config, as_of=snapshot)
    bars = api.get_ohlcv("BTCUSDT", "1m", DAYS[0], DAYS[1] + dt.timedelta(days=1))
    assert bars.num_rows == sum(1 for sym, _ in expected if sym == "BTCUSDT")
