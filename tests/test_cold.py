"""Cold tier end to end against a real S3 server (SeaweedFS started here, on loopback).

Two simulated days go through the real pipeline (raw load + dbt marts) once per module; each
test then works on its own copy of that warehouse and its own key prefix in the bucket, so the
tests do not depend on one another's order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, EnvVar, materialize

from ingest.cold import (
    ALL_TABLES,
    RAW_TABLES,
    ColdObjectError,
    ColdStoreConfig,
    ColdTier,
    LocalColdStore,
    archive_day,
    archive_days,
    enforce_retention,
)
from ingest.cold.layout import RAW_TRADES
from ingest.cold.seaweed import SeaweedServer
from ingest.cold.store import file_digests
from ingest.history import HistoricalData, HistoryError
from ingest.lake import LakeConfig
from ingest.names import InvalidNameError
from ingest.simulator import simulate_days
from orchestration.definitions import build_defs
from orchestration.defs.cold.assets import cold_archive, warm_retention
from orchestration.defs.cold.resources import ColdStorageResource
from orchestration.defs.marts.project import dbt_resource
from orchestration.lib.partitions import range_tags
from orchestration.lib.resources import LandingZoneResource, WarehouseResource
from tests import lakes

DAY1 = dt.date(2024, 3, 4)
DAY2 = dt.date(2024, 3, 5)
DAY3 = DAY2 + dt.timedelta(days=1)
SYMBOL = "BTCUSDT"
BUCKET = "tickwh-test"
REPO = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def golden_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two days through the real daily pipeline, as one ranged run (raw load + one dbt build)."""
    home = tmp_path_factory.mktemp("cold_home")
    simulate_days(DAY1, 2, home / "landing", trades_per_day=20_000, snapshot_interval_ms=10_000, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TICKWH_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home))
        for var in ("TICKWH_LAKE_CATALOG", "TICKWH_LAKE_DATA", "TICKWH_LAKE_S3_ENDPOINT"):
            mp.delenv(var, raising=False)  # the lake follows TICKWH_HOME: <home>/lake/
        resources = {
            "warehouse": WarehouseResource.at(home),
            "landing": LandingZoneResource(root=str(home / "landing")),
            "dbt": dbt_resource(),
        }
        job = build_defs(resources).resolve_job_def("daily_pipeline")
        result = job.execute_in_process(instance=DagsterInstance.ephemeral(), tags=range_tags(DAY1, DAY2))
        assert result.success
    yield home


@dataclass
class Env:
    home: Path  # the warehouse is the embedded lake under <home>/lake/
    tier: ColdTier
    config: ColdStoreConfig

    def resource(self) -> ColdStorageResource:
        return ColdStorageResource(
            endpoint_url=self.config.endpoint_url,
            bucket=self.config.bucket,
            prefix=self.config.prefix,
            region=self.config.region,
            local_root=None,
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        )

    def resources(self) -> dict:
        return {"warehouse": WarehouseResource.at(self.home), "cold": self.resource()}

    def lake(self) -> LakeConfig:
        return lakes.lake_at(self.home)

    def con(self, read_only: bool = True) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return lakes.connect(self.home, read_only=read_only)

    def api(self, warm: bool = True) -> HistoricalData:
        return HistoricalData(self.lake() if warm else None, self.tier)

    def warm_count(self, relation: str, date_column: str, day: dt.date) -> int:
        with self.con() as con:
            return con.execute(f"SELECT count(*) FROM {relation} WHERE {date_column} = ?", [day]).fetchone()[0]


@pytest.fixture
def env(golden_home: Path, seaweed: SeaweedServer, tmp_path: Path) -> Env:
    """A private copy of the two-day warehouse and a private prefix in the shared bucket."""
    lakes.copy_home_lake(golden_home, tmp_path)
    config = ColdStoreConfig(
        endpoint_url=seaweed.endpoint_url,
        bucket=BUCKET,
        prefix=f"t-{uuid.uuid4().hex[:8]}/warehouse",
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    tier = config.open()
    tier.store.ensure_ready()
    return Env(tmp_path, tier, config)


def s3_client(env: Env) -> Any:
    """The boto3 client behind the store, to tamper with objects the way a faulty disk or person would."""
    return env.tier.store.client  # type: ignore[attr-defined]


def test_archive_asset_writes_verified_partitions_for_a_ranged_run(env: Env) -> None:
    result = materialize([cold_archive], resources=env.resources(), tags=range_tags(DAY1, DAY2),
                         instance=DagsterInstance.ephemeral())
    assert result.success
    meta = result.asset_materializations_for_node("cold_archive")[0].metadata
    rows = meta["rows_by_table"].value
    assert set(rows) == {t.name for t in ALL_TABLES}
    assert rows["raw_trades"] == sum(env.warm_count("raw.trades", "trade_date", d) for d in (DAY1, DAY2)) > 0
    assert len(meta["keys"].value) == 2 * len(ALL_TABLES)

    client = s3_client(env)
    key_shape = re.compile(rf"^{re.escape(env.tier.prefix)}/\w+/date=\d{{4}}-\d\d-\d\d/run=[\w-]+/part-0\.parquet$")
    for day in (DAY1, DAY2):
        for table in ALL_TABLES:
            manifest = env.tier.read_manifest(table.name, day)
            assert manifest is not None, (table.name, day)
            assert manifest.row_count == env.warm_count(table.source, table.date_column, day), (table.name, day)
            assert manifest.compression == "zstd" and manifest.objects
            for obj in manifest.objects:
                assert key_shape.match(obj.key), obj.key
                body = client.get_object(Bucket=BUCKET, Key=obj.key)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == obj.sha256
                assert len(body) == obj.size
    # The trades file: zstd, sorted by symbol then time, the manifest's time range.
    manifest = env.tier.read_manifest("raw_trades", DAY1)
    assert manifest is not None
    local = env.tier.fetch_verified(manifest, env.home)[0]
    meta_pq = pq.read_metadata(local)
    assert meta_pq.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(local)
    keys = list(zip(table["symbol"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    assert manifest.min_time == min(table["ts"].to_pylist()).isoformat()
    assert sum(manifest.symbols.values()) == manifest.row_count == table.num_rows


def _snapshot(api: HistoricalData) -> dict[str, pa.Table]:
    return {
        "trades": api.get_trades(SYMBOL, DAY1, DAY3),
        "book": api.get_book_snapshots(SYMBOL, DAY1, DAY3),
        "ohlcv_1m": api.get_ohlcv(SYMBOL, "1m", DAY1, DAY3),
        "ohlcv_1h": api.get_ohlcv(SYMBOL, "1h", DAY1, DAY3),
        "daily": api.get_daily_stats(SYMBOL, start=DAY1, end=DAY3),
    }


def test_retention_drops_archived_day_and_api_reads_identical_rows(env: Env) -> None:
    before = _snapshot(env.api())
    assert before["trades"].num_rows > 1000 and before["book"].num_rows > 100
    with env.con(read_only=True) as con:
        first = archive_days(con, env.tier, [DAY1, DAY2])

    result = materialize(
        [warm_retention], resources=env.resources(), partition_key=DAY2.isoformat(),
        run_config={"ops": {"warm_retention": {"config": {"warm_days": 1}}}}, instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("warm_retention")[0].metadata
    assert meta["dropped_days"].value == [DAY1.isoformat()]
    assert meta["rows_dropped"].value["raw_trades"] > 0
    assert env.warm_count("raw.trades", "trade_date", DAY1) == 0
    assert env.warm_count("raw.book_snapshots", "snapshot_date", DAY1) == 0
    assert env.warm_count("raw.trades", "trade_date", DAY2) > 0
    assert env.warm_count("marts.ohlcv_1m", "bar_date", DAY1) > 0  # marts stay warm

    api = env.api()
    after = _snapshot(api)
    for name, table in before.items():
        assert after[name].equals(table), name
    # The last call mixed tiers as intended: trades of DAY1 now come from cold, DAY2 from warm.
    trades_plan = env.api()
    trades_plan.get_trades(SYMBOL, DAY1, DAY3)
    assert trades_plan.last_plan is not None
    assert trades_plan.last_plan.cold_days == [DAY1] and trades_plan.last_plan.warm_days == [DAY2]

    # Marts from cold only equal marts from warm (a warehouse-less reader).
    cold_only = env.api(warm=False)
    assert cold_only.get_ohlcv(SYMBOL, "1m", DAY1, DAY3).equals(before["ohlcv_1m"])
    assert cold_only.get_daily_stats(SYMBOL, start=DAY1, end=DAY3).equals(before["daily"])
    assert cold_only.get_daily_stats(SYMBOL, days=1).equals(before["daily"].slice(1))
    df = api.get_trades(SYMBOL, DAY1, DAY3, as_pandas=True)
    assert len(df) == before["trades"].num_rows and list(df.columns) == before["trades"].column_names

    # Re-archiving a day whose warm rows are gone must not replace its archive with an empty one.
    with env.con() as con:
        results = archive_day(con, env.tier, DAY1, RAW_TABLES)
    # every raw dataset keeps the archive it had, with the rows first archived
    assert [(r.table, r.status, r.rows) for r in results] == [
        (r.table, "kept_existing", r.rows) for r in first if r.day == DAY1 and r.table.startswith("raw_")]
    assert all(r.rows > 0 for r in results)
    assert env.api().get_trades(SYMBOL, DAY1, DAY2).num_rows > 0


def test_range_spanning_warm_and_cold_returns_each_row_once_in_time_order(env: Env) -> None:
    start, end = dt.datetime(2024, 3, 4, 12), dt.datetime(2024, 3, 5, 12)
    before = env.api().get_trades(SYMBOL, start, end)
    with env.con(read_only=False) as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES)
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1)
    assert [v.day for v in report.dropped] == [DAY1]
    # Aware times are converted to UTC: 13:00+01:00 is 12:00Z.
    tz = dt.timezone(dt.timedelta(hours=1))
    got = env.api().get_trades(SYMBOL, start.replace(hour=13, tzinfo=tz), end.replace(hour=13, tzinfo=tz))
    assert got.num_rows == before.num_rows > 0
    ts = got["ts"].to_pylist()
    assert ts == sorted(ts) and ts[0] >= start and ts[-1] < end
    ids = pc.binary_join_element_wise(got["exchange"], got["trade_id"], "|")
    assert pc.count_distinct(ids).as_py() == got.num_rows
    days = {t.date() for t in ts}
    assert days == {DAY1, DAY2}
    assert got.equals(before)


def test_rearchiving_a_day_replaces_it_whole(env: Env) -> None:
    with env.con() as con:
        first = archive_days(con, env.tier, [DAY1], [RAW_TRADES])[0]
        second = archive_days(con, env.tier, [DAY1], [RAW_TRADES])[0]
    assert first.status == second.status == "archived"
    assert set(first.keys).isdisjoint(second.keys)
    assert second.deleted_keys == first.keys
    listed = env.tier.store.list_keys(env.tier.partition_prefix("raw_trades", DAY1))
    assert sorted(listed) == sorted([second.manifest_key, *second.keys])
    assert second.manifest.row_count == first.manifest.row_count
    for key in first.keys:
        assert env.tier.store.head(key) is None


def _archive_trades_only_in_cold(env: Env) -> tuple[str, int]:
    with env.con() as con:
        result = archive_days(con, env.tier, [DAY1], [RAW_TRADES])[0]
    return result.keys[0], result.bytes


def test_corrupted_object_gives_an_error_naming_its_key(env: Env) -> None:
    key, size = _archive_trades_only_in_cold(env)
    client = s3_client(env)
    body = bytearray(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[size // 2] ^= 0xFF  # same size, one byte flipped: only the checksum can tell
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    with pytest.raises(ColdObjectError, match=rf"^s3://{BUCKET}/{re.escape(key)}: (checksum|ETag) mismatch"):
        env.api(warm=False).get_trades(SYMBOL, DAY1, DAY2)
    # Retention refuses to drop a day whose archive does not verify, and says which object failed.
    with env.con(read_only=False) as con:
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1)
    assert not report.dropped and key in report.kept[0].reason
    assert env.warm_count("raw.trades", "trade_date", DAY1) > 0


def test_missing_object_gives_an_error_naming_its_key(env: Env) -> None:
    key, _ = _archive_trades_only_in_cold(env)
    s3_client(env).delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ColdObjectError, match=rf"^s3://{BUCKET}/{re.escape(key)}: missing"):
        env.api(warm=False).get_trades(SYMBOL, DAY1, DAY2)


def test_local_directory_store_has_the_same_layout_and_answers(env: Env, tmp_path: Path) -> None:
    tier = ColdTier(LocalColdStore(tmp_path / "cold"), "warehouse")
    with env.con() as con:
        archive_days(con, tier, [DAY1], RAW_TABLES)
    manifest = tier.read_manifest("raw_trades", DAY1)
    assert manifest is not None
    path = tmp_path / "cold" / manifest.objects[0].key
    assert path.is_file() and file_digests(path).sha256 == manifest.objects[0].sha256
    warm = env.api().get_trades(SYMBOL, DAY1, DAY2)
    assert HistoricalData(None, tier).get_trades(SYMBOL, DAY1, DAY2).equals(warm)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ColdObjectError, match=r"^file://.*part-0\.parquet: size mismatch"):
        HistoricalData(None, tier).get_trades(SYMBOL, DAY1, DAY2)


def test_api_validates_names_and_ranges(env: Env) -> None:
    api = env.api()
    with pytest.raises(InvalidNameError):
        api.get_trades("BTC' OR 1=1 --", DAY1, DAY2)
    with pytest.raises(InvalidNameError):
        api.get_ohlcv(SYMBOL, "7m", DAY1, DAY2)
    with pytest.raises(InvalidNameError):
        api.get_trades(SYMBOL, DAY1, DAY2, exchange="Bad Exchange")
    with pytest.raises(HistoryError):
        api.get_trades(SYMBOL, DAY2, DAY1)
    assert api.get_trades("NOSUCHSYMBOL", DAY1, DAY2).num_rows == 0
    top = api.get_book_snapshots(SYMBOL, DAY1, DAY2, levels=False)
    assert "bid_prices" not in top.column_names and top.num_rows > 0


def test_cli_prints_csv_from_warm_and_from_cold(env: Env) -> None:
    with env.con() as con:
        archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    expected = env.api().get_trades(SYMBOL, DAY1, DAY2).num_rows
    child_env = {**os.environ, "TICKWH_COLD_ENDPOINT": env.config.endpoint_url or "", "TICKWH_COLD_BUCKET": BUCKET,
                 "TICKWH_COLD_PREFIX": env.tier.prefix}
    base = [sys.executable, "-m", "ingest.history", "trades", SYMBOL, "--start", str(DAY1), "--end", str(DAY2), "--csv"]
    # The warm reader finds the lake through TICKWH_LAKE_* (the CLI's --warehouse file option is gone).
    for extra, lake_env in ((["--no-cold"], env.lake().env()), (["--no-warm"], {})):
        out = subprocess.run(base + extra, capture_output=True, text=True, env={**child_env, **lake_env}, cwd=REPO,
                             check=True)
        lines = out.stdout.strip().splitlines()
        assert lines[0].startswith("trade_date,exchange,symbol,ts"), lines[0]
        assert len(lines) - 1 == expected, (extra, out.stderr)
