"""Row 5 of the fault matrix: the S3 server really stopped, and an archiver really killed (SIGKILL).

The server is a real SeaweedFS, stopped by killing its process group and restarted on the same
port and data; the crashing archiver is a real subprocess. After each fault the test reads the
bucket back and checks every tier: what was published, what is orphaned, what the warm tier
still holds, what a reader gets.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from ingest.cold import RAW_TABLES, ColdArchiveError, ColdObjectError, ColdStoreError, archive_days, enforce_retention
from ingest.cold.layout import MANIFEST_NAME, RAW_TRADES
from ingest.history import HistoricalData
from tests.faults.cold_fixtures import DAY1, DAY2, SYMBOL, ColdEnv, child_env, cold_env, golden_warehouse, seaweed

__all__ = ["cold_env", "golden_warehouse", "seaweed"]  # fixtures used by name

REPO = Path(__file__).resolve().parents[2]


def _warm_trades(env: ColdEnv, day: dt.date) -> pa.Table:
    return HistoricalData(env.warehouse, None).get_trades(SYMBOL, day, day + dt.timedelta(days=1))


def _cold_trades(env: ColdEnv, day: dt.date) -> pa.Table:
    return HistoricalData(None, env.tier).get_trades(SYMBOL, day, day + dt.timedelta(days=1))


def _assert_exact_archive(env: ColdEnv, table: str, day: dt.date) -> None:
    """The partition holds exactly one manifest and the objects it lists, with the warm row count."""
    manifest = env.tier.read_manifest(table, day)
    assert manifest is not None
    source = {t.name: t for t in RAW_TABLES}[table]
    assert manifest.row_count == env.warm_count(source.source, source.date_column, day) > 0
    assert env.keys(table, day) == sorted([env.tier.manifest_key(table, day), *(o.key for o in manifest.objects)])
    env.tier.check_objects(manifest)


def test_s3_down_before_archive_fails_clearly_and_writes_nothing(cold_env: ColdEnv) -> None:
    env = cold_env
    env.seaweed.stop()
    with pytest.raises(ColdArchiveError, match=re.escape(env.seaweed.endpoint_url)) as err, env.con() as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES)
    assert "nothing archived" in str(err.value)
    env.seaweed.start()
    assert env.tier.store.list_keys(env.tier.prefix) == []


def test_s3_down_mid_archive_publishes_no_partial_partition(cold_env: ColdEnv) -> None:
    """The server dies after raw_trades is archived: raw_book_snapshots must have no manifest and no objects."""
    env = cold_env
    progress: list[str] = []

    def stop_after_first_table(message: str) -> None:
        progress.append(message)
        env.seaweed.stop()

    with pytest.raises(ColdArchiveError) as err, env.con() as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES, on_progress=stop_after_first_table)
    message = str(err.value)
    assert message.startswith(f"archiving raw_book_snapshots {DAY1} failed")
    assert env.seaweed.endpoint_url in message
    assert len(progress) == 1 and progress[0].startswith(f"raw_trades {DAY1}: archived")

    env.seaweed.start()
    _assert_exact_archive(env, "raw_trades", DAY1)  # the table before the outage is whole
    assert env.keys("raw_book_snapshots", DAY1) == []  # the one during it left nothing
    assert _cold_trades(env, DAY1).equals(_warm_trades(env, DAY1))

    with env.con() as con:
        rerun = archive_days(con, env.tier, [DAY1], RAW_TABLES)
    assert [r.status for r in rerun] == ["archived"] * len(RAW_TABLES)
    for table in RAW_TABLES:
        _assert_exact_archive(env, table.name, DAY1)


def test_s3_down_between_upload_and_manifest_publishes_nothing(cold_env: ColdEnv) -> None:
    """The object is uploaded and verified; the server dies before the manifest PUT."""
    env = cold_env
    warm_rows = env.warm_count("raw.trades", "trade_date", DAY1)
    store = env.tier.store
    put_bytes = store.put_bytes

    def stop_then_put(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if key.endswith(MANIFEST_NAME):
            env.seaweed.stop()
        put_bytes(key, data, content_type)

    store.put_bytes = stop_then_put  # type: ignore[method-assign]
    try:
        failed_put = rf"_manifest\.json: PUT failed \(endpoint {re.escape(env.seaweed.endpoint_url)}\)"
        with pytest.raises(ColdArchiveError, match=failed_put), env.con() as con:
            archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    finally:
        store.put_bytes = put_bytes  # type: ignore[method-assign]
    env.seaweed.start()
    keys = env.keys("raw_trades", DAY1)
    assert len(keys) == 1 and re.search(r"/run=[\w-]+/part-0\.parquet$", keys[0])  # an orphan, no manifest
    assert env.tier.read_manifest("raw_trades", DAY1) is None
    assert _cold_trades(env, DAY1).num_rows == 0  # readers trust manifests only: the orphan is invisible
    with env.con(read_only=False) as con:  # and retention does not drop a day without a manifest
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1)
    assert not report.dropped and "no archive manifest" in report.kept[0].reason
    assert env.warm_count("raw.trades", "trade_date", DAY1) == warm_rows > 0

    with env.con() as con:
        [rerun] = archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    assert rerun.deleted_keys == keys  # the orphan is gone
    _assert_exact_archive(env, "raw_trades", DAY1)


@pytest.mark.parametrize("stop_at", ["manifest", "cleanup"])
def test_archiver_killed_between_steps_rerun_completes_without_orphans(
    cold_env: ColdEnv, tmp_path: Path, stop_at: str
) -> None:
    """SIGKILL of a real archiving process after its upload (before the manifest) or after the
    manifest (before deleting the previous run's objects): readers see one whole archive at
    every moment, and the rerun leaves exactly one manifest and its objects."""
    env = cold_env
    with env.con() as con:
        [previous] = archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    marker = tmp_path / "parked.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.archive_child", str(env.home), str(DAY1), stop_at, str(marker)],
        cwd=REPO, env=child_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "archiver never reached the kill point"
        time.sleep(0.05)
    time.sleep(0.1)  # the marker is written whole before the child parks
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL
    parked = json.loads(marker.read_text())
    assert parked["at"] == stop_at

    keys = env.keys("raw_trades", DAY1)
    manifest = env.tier.read_manifest("raw_trades", DAY1)
    assert manifest is not None
    if stop_at == "manifest":
        # The old archive is still the published one; the child's upload is an unreferenced orphan.
        assert manifest.run_id == previous.manifest.run_id
        assert len(keys) == 3 and set(previous.keys) < set(keys)
    else:
        # The child's archive is published; the previous run's object awaits its deletion.
        assert manifest.run_id != previous.manifest.run_id
        assert parked["keys"] == previous.keys and set(previous.keys) < set(keys) and len(keys) == 3
    assert manifest.row_count == previous.manifest.row_count
    assert _cold_trades(env, DAY1).equals(_warm_trades(env, DAY1))  # a whole day, whichever run

    with env.con() as con:
        [rerun] = archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    assert rerun.status == "archived"
    assert sorted(rerun.deleted_keys) == sorted(k for k in keys if not k.endswith(MANIFEST_NAME))
    _assert_exact_archive(env, "raw_trades", DAY1)
    assert _cold_trades(env, DAY1).equals(_warm_trades(env, DAY1))


def test_s3_down_during_retention_keeps_the_warm_day(cold_env: ColdEnv) -> None:
    env = cold_env
    with env.con() as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES)
    before = {t.name: env.warm_count(t.source, t.date_column, DAY1) for t in RAW_TABLES}
    env.seaweed.stop()
    with env.con(read_only=False) as con:
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1)
    assert report.dropped == [] and [v.day for v in report.kept] == [DAY1]
    reason = report.kept[0].reason
    for table in RAW_TABLES:
        assert f"{table.name}: " in reason
    assert f"endpoint {env.seaweed.endpoint_url}" in reason
    assert {t.name: env.warm_count(t.source, t.date_column, DAY1) for t in RAW_TABLES} == before

    env.seaweed.start()  # the same archive verifies once the server answers: the outage was the only reason
    with env.con(read_only=False) as con:
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1)
    assert [v.day for v in report.dropped] == [DAY1] and report.dropped[0].rows == before


def test_s3_down_during_cold_read_names_the_endpoint_and_the_object(cold_env: ColdEnv) -> None:
    env = cold_env
    warm_day1, warm_day2 = _warm_trades(env, DAY1), _warm_trades(env, DAY2)
    with env.con(read_only=False) as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES)
        assert [v.day for v in enforce_retention(con, env.tier, as_of=DAY2, warm_days=1).dropped] == [DAY1]
    api = HistoricalData(env.warehouse, env.tier)
    assert api.get_trades(SYMBOL, DAY1, DAY2).equals(warm_day1)  # served from cold while S3 is up

    env.seaweed.stop()
    prefix = env.tier.table_prefix("raw_trades")
    with pytest.raises(ColdStoreError, match=rf"^s3://{env.config.bucket}/{re.escape(prefix)}/: LIST failed "
                                             rf"\(endpoint {re.escape(env.seaweed.endpoint_url)}\)"):
        api.get_trades(SYMBOL, DAY1, DAY2)
    # A range the warm tier holds whole does not depend on the cold store.
    assert api.get_trades(SYMBOL, DAY2, DAY2 + dt.timedelta(days=1)).equals(warm_day2)

    env.seaweed.start()
    manifest = env.tier.read_manifest("raw_trades", DAY1)
    assert manifest is not None
    env.tier.store.delete([manifest.objects[0].key])  # the object is gone, the manifest still names it
    missing = rf"^s3://{env.config.bucket}/{re.escape(manifest.objects[0].key)}: missing"
    with pytest.raises(ColdObjectError, match=missing):
        api.get_trades(SYMBOL, DAY1, DAY2)
