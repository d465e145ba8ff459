"""Row 6 of the fault matrix: retention compares the content of the rows, and refuses a local cold store.

An archive that has the warm day's row count and time range but not its rows (a price corrected
in the warehouse after the archive, a row replaced by a copy of another) must keep the day warm.
A cold store that is a directory on the warehouse's own disk is no second copy: retention drops
nothing into it unless TICKWH_RETENTION_ALLOW_LOCAL_COLD (or the run config) allows it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from ingest.cold import RAW_TABLES, ColdTier, LocalColdStore, archive_days, enforce_retention
from ingest.cold.content import parquet_content, warm_content
from ingest.cold.layout import RAW_TRADES
from ingest.cold.retention import ALLOW_LOCAL_ENV
from ingest.history import HistoricalData
from orchestration.defs.cold.assets import warm_retention
from orchestration.defs.cold.resources import ColdStorageResource
from orchestration.lib.resources import WarehouseResource
from tests.faults.cold_fixtures import DAY1, DAY2, SYMBOL, ColdEnv, cold_env, golden_warehouse, seaweed

__all__ = ["cold_env", "golden_warehouse", "seaweed"]  # fixtures used by name


def _warm_rows(env: ColdEnv, day: dt.date, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, int]:
    if con is None:
        return {t.name: env.warm_count(t.source, t.date_column, day) for t in RAW_TABLES}
    sql = "SELECT count(*) FROM {} WHERE {} = ?"
    return {t.name: con.execute(sql.format(t.source, t.date_column), [day]).fetchone()[0] for t in RAW_TABLES}


def _middle_trade(con: duckdb.DuckDBPyConnection, day: dt.date) -> tuple[str, str]:
    """A trade that is neither the first nor the last of the day: changing it keeps min/max time."""
    return con.execute(
        "SELECT exchange, trade_id FROM raw.trades WHERE trade_date = ? ORDER BY ts, trade_id "
        "LIMIT 1 OFFSET (SELECT count(*) // 2 FROM raw.trades WHERE trade_date = ?)",
        [day, day],
    ).fetchone()  # type: ignore[return-value]


@pytest.mark.parametrize("deep", [True, False], ids=["deep", "manifest-checksum"])
@pytest.mark.parametrize("change", ["price", "duplicate"])
def test_same_count_and_time_range_but_other_rows_keeps_the_day(cold_env: ColdEnv, deep: bool, change: str) -> None:
    env = cold_env
    with env.con() as con:
        archive_days(con, env.tier, [DAY1], RAW_TABLES)
    with env.con(read_only=False) as con:
        exchange, trade_id = _middle_trade(con, DAY1)
        if change == "price":  # a correction reloaded into warm after the archive was written
            con.execute("UPDATE raw.trades SET price = price + 1 WHERE exchange = ? AND trade_id = ?",
                        [exchange, trade_id])
        else:  # the row replaced by a copy of its neighbour (same count, same time range)
            neighbour = con.execute(
                "SELECT price, amount, side FROM raw.trades WHERE trade_date = ? AND trade_id <> ? "
                "ORDER BY ts, trade_id LIMIT 1 OFFSET 10",
                [DAY1, trade_id],
            ).fetchone()
            assert neighbour is not None
            con.execute(
                "UPDATE raw.trades SET price = ?, amount = ?, side = ? WHERE exchange = ? AND trade_id = ?",
                [*neighbour, exchange, trade_id],
            )
        warm_before = _warm_rows(env, DAY1, con)
        manifest = env.tier.read_manifest("raw_trades", DAY1)
        assert manifest is not None and manifest.row_count == warm_before["raw_trades"]
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1, deep=deep)
    assert report.dropped == [] and [v.day for v in report.kept] == [DAY1]
    expected = "archived rows differ in content" if deep else "content checksum differs"
    assert report.kept[0].reason.startswith("raw_trades: ") and expected in report.kept[0].reason
    assert "raw_book_snapshots" not in report.kept[0].reason  # that table's archive still verifies
    assert _warm_rows(env, DAY1) == warm_before  # nothing dropped from either table

    with env.con() as con:  # re-archiving the corrected day makes it droppable
        archive_days(con, env.tier, [DAY1], [RAW_TRADES])
    with env.con(read_only=False) as con:
        report = enforce_retention(con, env.tier, as_of=DAY2, warm_days=1, deep=deep)
    assert [v.day for v in report.dropped] == [DAY1] and report.dropped[0].rows == warm_before


def test_content_checksum_is_order_independent_and_typed_like_warm(cold_env: ColdEnv, tmp_path: Path) -> None:
    env = cold_env
    with env.con() as con:
        [result] = archive_days(con, env.tier, [DAY1], [RAW_TRADES])
        schema = result.manifest.schema
        rows, warm_hash = warm_content(con, "raw.trades", "trade_date", DAY1, schema)
        assert (result.manifest.row_count, result.manifest.content_hash) == (rows, warm_hash)
        [local] = env.tier.fetch_verified(result.manifest, tmp_path)
        shuffled = tmp_path / "shuffled.parquet"
        table = pq.read_table(local)
        pq.write_table(table.take(list(reversed(range(table.num_rows)))), shuffled)
        assert parquet_content(con, [shuffled], schema) == (rows, warm_hash)
        half = tmp_path / "half.parquet"
        pq.write_table(table.slice(0, rows // 2), half)
        pq.write_table(table.slice(rows // 2), tmp_path / "rest.parquet")
        assert parquet_content(con, [half, tmp_path / "rest.parquet"], schema) == (rows, warm_hash)
        pq.write_table(table.slice(1), half)
        assert parquet_content(con, [half], schema) != (rows, warm_hash)


def test_local_cold_store_refused_unless_allowed(
    cold_env: ColdEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cold_env
    tier = ColdTier(LocalColdStore(tmp_path / "cold"), "warehouse")
    warm_before = _warm_rows(env, DAY1)
    expected = HistoricalData(env.warehouse, None).get_trades(SYMBOL, DAY1, DAY2)
    with env.con() as con:
        archive_days(con, tier, [DAY1], RAW_TABLES)
    monkeypatch.delenv(ALLOW_LOCAL_ENV, raising=False)
    with env.con(read_only=False) as con:
        report = enforce_retention(con, tier, as_of=DAY2, warm_days=1)
    assert report.dropped == [] and [v.day for v in report.kept] == [DAY1]
    assert "is a local directory, not a second copy" in report.kept[0].reason
    assert ALLOW_LOCAL_ENV in report.kept[0].reason and report.kept[0].rows == warm_before
    assert _warm_rows(env, DAY1) == warm_before

    # Through Dagster: the refusal is in the run's metadata; the env flag lifts it.
    resources = {
        "warehouse": WarehouseResource.at(env.home),
        "cold": ColdStorageResource(endpoint_url=None, local_root=str(tmp_path / "cold"), prefix="warehouse"),
    }
    run_config = {"ops": {"warm_retention": {"config": {"warm_days": 1}}}}

    def run() -> dict:
        result = materialize([warm_retention], resources=resources, partition_key=DAY2.isoformat(),
                             run_config=run_config, instance=DagsterInstance.ephemeral())
        assert result.success
        return result.asset_materializations_for_node("warm_retention")[0].metadata

    meta = run()
    assert meta["dropped_days"].value == [] and "not a second copy" in meta["kept_days"].value
    assert _warm_rows(env, DAY1) == warm_before

    monkeypatch.setenv(ALLOW_LOCAL_ENV, "1")
    meta = run()
    assert meta["dropped_days"].value == [DAY1.isoformat()] and meta["rows_dropped"].value == warm_before
    assert _warm_rows(env, DAY1) == {t.name: 0 for t in RAW_TABLES}
    assert HistoricalData(env.warehouse, tier).get_trades(SYMBOL, DAY1, DAY2).equals(expected)
